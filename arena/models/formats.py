"""How a dialogue becomes the text a model continues: the Guanaco format of the QLoRA paper, or the
tokenizer's own chat template."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.errors import ArenaError
from arena.models.base import GUANACO_STOP
from arena.prompts.records import Message

if TYPE_CHECKING:
    from arena.models.spec import ModelSpec

# The system line the QLoRA paper put before every Guanaco prompt.
GUANACO_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
PROMPT_FORMATS = ("guanaco", "chat_template")


def guanaco_prompt(messages: tuple[Message, ...]) -> str:
    parts = [GUANACO_SYSTEM]
    for message in messages:
        speaker = "### Human:" if message.role == "user" else "### Assistant:"
        parts.append(f"{speaker} {message.content}")
    return " ".join(parts) + " ### Assistant:"


def prompt_format_of(spec: ModelSpec, tokenizer) -> str:
    """The model's `prompt_format` option, else its tokenizer's chat template if it has one, else Guanaco's."""
    return spec.option("prompt_format", "chat_template" if tokenizer.chat_template else "guanaco")


def render_prompt(prompt_format: str, messages: tuple[Message, ...], tokenizer=None) -> str:
    if prompt_format == "guanaco":
        return guanaco_prompt(messages)
    if prompt_format == "chat_template":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ArenaError("prompt_format 'chat_template' needs a tokenizer with a chat template; use 'guanaco'")
        chat = [{"role": m.role, "content": m.content} for m in messages]
        return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    raise ArenaError(f"unknown prompt_format '{prompt_format}': choose one of {', '.join(PROMPT_FORMATS)}")


def stop_marker(prompt_format: str) -> str | None:
    """The text that means the model began the next user turn: generation stops there."""
    return GUANACO_STOP if prompt_format == "guanaco" else None
