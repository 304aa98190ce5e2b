"""The one small interface every backend implements, and the registry that picks a backend by name.

A backend is one module with one decorated factory: `@register_backend("name") def load(spec) -> ChatModel`.
Modules are imported only when their backend is used, so heavy dependencies stay optional."""

from __future__ import annotations

import importlib
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from arena.errors import ArenaError
from arena.prompts.records import Message

logger = logging.getLogger(__name__)

GUANACO_STOP = "### Human:"


@dataclass(frozen=True)
class GenerationParams:
    """The paper's defaults: nucleus sampling with top_p 0.9 and temperature 0.7."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 512
    greedy: bool = False
    seed: int = 0

    def with_overrides(self, options: dict) -> GenerationParams:
        """These params with any generation settings found in `options` (None means not given)."""
        names = ("temperature", "top_p", "max_new_tokens", "greedy", "seed")
        return replace(self, **{name: options[name] for name in names if options.get(name) is not None})

    def as_record(self) -> dict:
        return {
            "temperature": None if self.greedy else self.temperature,
            "top_p": None if self.greedy else self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "greedy": self.greedy,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class GenerationRequest:
    """The dialogue so far, ending with the user turn to answer."""

    prompt_id: str
    messages: tuple[Message, ...]
    turn: int = 0  # which of the model's own replies to this prompt this is (0: the first)


@dataclass
class Generation:
    text: str
    finish_reason: str  # stop | length | empty | missing
    tokens: int | None = None
    seconds: float | None = None
    meta: dict = field(default_factory=dict)


class ChatModel(ABC):
    name: str

    @abstractmethod
    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Generation]:
        """Answer each request (same order). Batching, retries and concurrency are the backend's business."""

    def describe(self) -> dict:
        """Backend facts worth recording with every answer (quantization, adapter, endpoint...)."""
        return {}


_FACTORIES: dict[str, Callable] = {}
_BACKEND_MODULES = {
    "hf": "arena.models.hf",
    "openai": "arena.models.openai_api",
    "vllm": "arena.models.vllm_backend",
    "answers": "arena.models.answers",
}
BACKENDS = tuple(_BACKEND_MODULES)


_CHECKS: dict[str, Callable] = {}


def register_backend(name: str, check: Callable | None = None):
    """`check(spec)`, if given, raises ArenaError in a second when the model cannot load here (a missing key,
    GPU or adapter), so a command stops before it writes anything."""

    def decorate(factory: Callable) -> Callable:
        _FACTORIES[name] = factory
        if check is not None:
            _CHECKS[name] = check
        return factory

    return decorate


def backend_factory(backend: str) -> Callable:
    _import_backend(backend)
    return _FACTORIES[backend]


def check_loadable(spec, dry_run: bool = False) -> None:
    """Stop before anything is written when the model cannot load here. A dry run loads no model, so there
    what stops the real run (no GPU on this machine, say) is a warning beside the plan, not an error."""
    _import_backend(spec.backend)
    try:
        _check_local_folder(spec)
        if spec.backend in _CHECKS:
            _CHECKS[spec.backend](spec)
    except ArenaError as exc:
        if not dry_run:
            raise
        logger.warning("the dry run plans it, but the real run cannot load this model here: %s", exc)


def _looks_like_a_path(target: str) -> bool:
    """A local path rather than a hub id ('name' or 'namespace/name'): it starts with /, ./, ../ or ~, uses
    the system's own separator (Windows), or has more than one '/'."""
    separators = {os.sep, os.altsep or os.sep} - {"/"}
    return target.startswith(("/", "./", "../", "~")) or any(s in target for s in separators) or target.count("/") > 1


def _check_local_folder(spec) -> None:
    """An hf or vllm model whose path is plainly a local folder that is not there: say so, rather than let
    the hub reject it as a malformed repository id."""
    path = spec.path or ""
    if spec.backend in ("hf", "vllm") and _looks_like_a_path(path) and not Path(path).expanduser().exists():
        raise ArenaError(
            f"no such folder {spec.path} (model '{spec.name}': a {spec.backend} model is a local folder or "
            "a hub id such as HuggingFaceTB/SmolLM2-135M-Instruct)"
        )


def _import_backend(backend: str) -> None:
    if backend not in _BACKEND_MODULES:
        raise ArenaError(f"unknown backend '{backend}': choose one of {', '.join(BACKENDS)}")
    importlib.import_module(_BACKEND_MODULES[backend])


def clean_answer(text: str, stop: str | None = GUANACO_STOP) -> tuple[str, bool]:
    """Cut at the next turn marker and strip an echoed assistant cue; returns (text, stopped)."""
    stopped = False
    if stop and stop in text:
        text, stopped = text.split(stop, 1)[0], True
    text = text.strip()
    if text.startswith("### Assistant:"):
        text = text[len("### Assistant:") :].strip()
    return text, stopped
