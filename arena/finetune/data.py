"""Training conversations: JSONL with `text` in the Guanaco format or chat `messages`, the shipped sample,
or a Hugging Face dataset when the machine is online. Loss is computed on the assistant tokens only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import read_jsonl_objects
from arena.paths import shipped_prompts_dir
from arena.prompts.records import Message

_SPEAKER = re.compile(r"###\s*(Human|Assistant)\s*:")
SHIPPED_SAMPLE = "sample"
IGNORE = -100


def _conversation_from_text(text: str, where: str) -> tuple[Message, ...]:
    pieces = _SPEAKER.split(text)
    turns = [
        Message("user" if speaker == "Human" else "assistant", content.strip())
        for speaker, content in zip(pieces[1::2], pieces[2::2])
        if content.strip()
    ]
    return tuple(turns)


def _conversation_from_row(row, where: str) -> tuple[Message, ...]:
    if isinstance(row.get("messages"), list):
        turns = tuple(
            Message(m["role"], str(m["content"]))
            for m in row["messages"]
            if isinstance(m, dict) and m.get("role") in ("user", "assistant") and m.get("content")
        )
    elif isinstance(row.get("text"), str):
        turns = _conversation_from_text(row["text"], where)
    else:
        raise ArenaError(f"{where}: expected field 'text' (### Human: ... ### Assistant: ...) or 'messages'")
    if not any(m.role == "assistant" for m in turns):
        raise ArenaError(f"{where}: no assistant turn to learn from")
    return turns


def read_conversations(source: str) -> tuple[list[tuple[Message, ...]], str]:
    """(conversations, a description of where they came from)."""
    path = shipped_prompts_dir() / "finetune" / "guanaco-sample.jsonl" if source == SHIPPED_SAMPLE else Path(source)
    if path.exists():
        if path.is_dir():
            raise ArenaError(f"{path}: is a directory; give a .jsonl file")
        conversations = [_conversation_from_row(row, f"{path}:{number}") for number, row in read_jsonl_objects(path)]
        if not conversations:
            raise ArenaError(f"{path}: the training file is empty")
        return conversations, str(path)
    if source.endswith((".jsonl", ".json")) or "/" not in source:
        raise ArenaError(f"training data not found: {source}")
    return _hub_dataset(source), f"hf-dataset:{source}"


def _hub_dataset(name: str) -> list[tuple[Message, ...]]:
    try:
        import datasets
    except ImportError:
        raise ArenaError(
            f"'{name}' is not a local file; loading a Hugging Face dataset needs the datasets extra: "
            "pip install -e '.[datasets]'"
        ) from None
    try:
        rows = datasets.load_dataset(name, split="train")
    except Exception as exc:  # the datasets library raises many kinds when offline
        raise ArenaError(
            f"cannot load the dataset '{name}' from the hub ({type(exc).__name__}); "
            "offline machines need a local .jsonl file"
        ) from None
    return [_conversation_from_row(dict(row), f"{name}[{i}]") for i, row in enumerate(rows)]


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE on the user side: the loss sees assistant tokens only


def tokenize_conversation(
    tokenizer, conversation: tuple[Message, ...], source_max: int, target_max: int
) -> TokenizedExample | None:
    """Guanaco format, each assistant reply followed by EOS; prompt tokens capped at source_max and reply
    tokens at target_max across the conversation."""
    ids: list[int] = []
    labels: list[int] = []
    source_left, target_left = source_max, target_max
    for message in conversation:
        if message.role == "user":
            piece = tokenizer.encode(f"### Human: {message.content} ### Assistant: ", add_special_tokens=False)
            piece = piece[-source_left:] if source_left else []
            source_left -= len(piece)
            ids += piece
            labels += [IGNORE] * len(piece)
        else:
            piece = tokenizer.encode(f"{message.content}", add_special_tokens=False) + [tokenizer.eos_token_id]
            piece = piece[:target_left]
            target_left -= len(piece)
            ids += piece
            labels += piece
        if not target_left:
            break
    if all(label == IGNORE for label in labels):
        return None
    return TokenizedExample(ids, labels)
