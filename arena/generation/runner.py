"""Answers for a prompt set: skips what is stored, answers multi-turn prompts turn by turn, saves every
chunk as it finishes (a killed run loses at most the chunk in flight), and shows progress."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.console import progress_bar
from arena.models.base import ChatModel, GenerationParams, GenerationRequest, backend_factory
from arena.models.spec import ModelSpec
from arena.prompts.records import Message, Prompt, PromptSet
from arena.store import Answer, ResultsStore

logger = logging.getLogger(__name__)


@dataclass
class GenerationReport:
    model: str
    benchmark: str
    requested: int
    already_done: int = 0
    generated: int = 0
    missing: list[str] = field(default_factory=list)
    empty: int = 0
    tokens: int = 0
    seconds: float = 0.0
    params: dict = field(default_factory=dict)
    model_facts: dict = field(default_factory=dict)  # what the backend says it loaded (dtype, footprint...)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def next_request(prompt: Prompt, replies: list[str]) -> GenerationRequest | None:
    """The dialogue up to the first user turn still without a reply (earlier replies filled in), or None."""
    messages: list[Message] = []
    used = 0
    for index, message in enumerate(prompt.turns):
        messages.append(message)
        unanswered = message.role == "user" and (
            index + 1 == len(prompt.turns) or prompt.turns[index + 1].role != "assistant"
        )
        if unanswered:
            if used == len(replies):
                return GenerationRequest(prompt.id, tuple(messages), turn=used)
            messages.append(Message("assistant", replies[used]))
            used += 1
    return None


def generate_answers(
    store: ResultsStore,
    prompt_set: PromptSet,
    spec: ModelSpec,
    params: GenerationParams,
    limit: int | None = None,
    overwrite: bool = False,
    chunk_size: int = 16,
    model: ChatModel | None = None,
    show_progress: bool = True,
    explicit: dict | None = None,
) -> GenerationReport:
    """`params` are the caller's defaults; the model's own settings override them, and `explicit` (flags the
    user typed) override both."""
    params = params.with_overrides(spec.options).with_overrides(explicit or {})
    prompts = prompt_set.prompts[:limit] if limit else prompt_set.prompts
    with store.exclusive(prompt_set.name, "answers", spec.name):
        done = {} if overwrite else store.answers(prompt_set.name, spec.name)
        todo = [p for p in prompts if p.id not in done]
        report = GenerationReport(spec.name, prompt_set.name, len(prompts), already_done=len(prompts) - len(todo))
        if todo and spec.backend == "answers":  # a published file: what it lacks is known before any work
            from arena.models.answers import published_ids_for

            found = published_ids_for(Path(spec.path or ""), [p.id for p in prompts])
            report.missing.extend(p.id for p in todo if p.id not in found)
            todo = [p for p in todo if p.id in found]
        if todo:
            _generate(store, prompt_set, spec, params, todo, report, chunk_size, model, show_progress)
    if report.missing:
        logger.warning(
            f"{len(report.missing)} prompts have no published answer: {', '.join(report.missing[:10])}"
            + (" ..." if len(report.missing) > 10 else "")
        )
    return report


def _generate(
    store: ResultsStore,
    prompt_set: PromptSet,
    spec: ModelSpec,
    params: GenerationParams,
    todo: list[Prompt],
    report: GenerationReport,
    chunk_size: int,
    model: ChatModel | None,
    show_progress: bool,
) -> None:
    model = model or backend_factory(spec.backend)(spec)
    report.params, report.model_facts = params.as_record(), model.describe()
    progress, task = (
        progress_bar(f"{spec.name} on {prompt_set.name}", len(todo), "answers", ("rate",))
        if show_progress
        else (None, None)
    )
    if progress:
        progress.start()
    try:
        for start in range(0, len(todo), chunk_size):
            answers = _answer_chunk(model, todo[start : start + chunk_size], prompt_set.name, spec, params, report)
            store.save_answers(answers)
            if progress:
                progress.update(
                    task,
                    advance=len(answers),  # answers found: a prompt a published file lacks does not count
                    rate=f"{report.tokens_per_second:.1f} tok/s" if report.tokens else "",
                )
    finally:
        if progress:
            progress.stop()
        report.model_facts = model.describe()  # after the run: a backend may report what it did
        if "endpoints" in report.model_facts:
            logger.info(f"{spec.name}: {report.model_facts['endpoints']}")


def _answer_chunk(
    model: ChatModel,
    chunk: list[Prompt],
    benchmark: str,
    spec: ModelSpec,
    params: GenerationParams,
    report: GenerationReport,
) -> list[Answer]:
    replies: dict[str, list[str]] = {p.id: [] for p in chunk}
    stats: dict[str, dict[str, Any]] = {p.id: {"tokens": 0, "seconds": 0.0, "finish_reason": None} for p in chunk}
    missing: set[str] = set()
    started = time.perf_counter()
    while True:
        requests = [r for p in chunk if p.id not in missing and (r := next_request(p, replies[p.id])) is not None]
        if not requests:
            break
        for request, generation in zip(requests, model.generate(requests, params)):
            if generation.finish_reason == "missing":
                missing.add(request.prompt_id)
                continue
            replies[request.prompt_id].append(generation.text)
            item = stats[request.prompt_id]
            item["tokens"] += generation.tokens or 0
            item["seconds"] += generation.seconds or 0.0
            item["finish_reason"] = generation.finish_reason
    report.seconds += time.perf_counter() - started
    answers = []
    for prompt in chunk:
        if prompt.id in missing:
            report.missing.append(prompt.id)
            continue
        item = stats[prompt.id]
        report.generated += 1
        report.tokens += item["tokens"]
        report.empty += item["finish_reason"] == "empty"
        answers.append(
            Answer(
                benchmark=benchmark,
                question_id=prompt.id,
                model=spec.name,
                turns=replies[prompt.id],
                tokens=item["tokens"],
                seconds=round(item["seconds"], 3),
                finish_reason=item["finish_reason"],
                params=params.as_record(),
                meta={"backend": spec.backend},
            )
        )
    return answers
