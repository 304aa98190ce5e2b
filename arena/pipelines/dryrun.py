"""What `--dry-run` plans instead of doing: no model is loaded and no endpoint is called. Answers still
missing are priced from the prompts' lengths (paid endpoints) and stand in for the judge's prompts as
placeholders of their expected length, so the judge calls and their cost are counted as the real run would
count them (the placeholders are never stored)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from arena.judging.budget import CHARS_PER_TOKEN, Price
from arena.judging.judges import Judge, JudgeRequest, OnReply, RunOutcome
from arena.models.base import GenerationParams
from arena.models.spec import ModelSpec
from arena.prompts.records import PromptSet
from arena.store import Answer, ResultsStore

logger = logging.getLogger(__name__)

# Backends whose answers are read from files: a dry run reads the file for the answers it would import (their
# exact texts, so identical prompts are counted as the real run counts them) and stores none of them.
FILE_BACKENDS = frozenset({"answers"})


@dataclass(frozen=True)
class GenerationPlan:
    model: str
    backend: str
    missing: int  # prompts without a stored answer
    calls: int  # endpoint calls they need (one per unanswered user turn)
    reply_tokens: int  # tokens expected per reply
    cost: float  # USD; 0 for local models or an endpoint with no known price
    priced: bool  # False: a paid endpoint whose price arena does not know

    def describe(self) -> str:
        if not self.missing:
            return f"{self.model}: every answer is stored"
        if self.backend in FILE_BACKENDS:
            return f"{self.model}: {self.missing} answers would be read from its file (none is stored by a dry run)"
        text = f"{self.model}: {self.missing} answers to generate"
        if self.backend != "openai":
            return text + f" ({self.backend} backend, local: no API cost)"
        if not self.priced:
            return text + f" in {self.calls} calls (price unknown: set price_in / price_out to have it estimated)"
        return (
            text + f" in {self.calls} calls, estimated cost ${self.cost:.2f} (replies of ~{self.reply_tokens} tokens)"
        )


def without_keys(spec: ModelSpec) -> ModelSpec:
    """A dry run sends nothing, so it needs no API key."""
    return replace(spec, options={**spec.options, "require_key": False})


def plan_generation(
    store: ResultsStore, prompt_set: PromptSet, spec: ModelSpec, params: GenerationParams, limit: int | None
) -> tuple[GenerationPlan, dict[str, Answer]]:
    """The plan for one model, and its answers with placeholders for the missing ones. A placeholder is as
    long as the model's stored answers on average, or `max_new_tokens` when none is stored."""
    params = params.with_overrides(spec.options)
    stored = store.answers(prompt_set.name, spec.name)
    prompts = prompt_set.prompts[:limit] if limit else prompt_set.prompts
    missing = [p for p in prompts if p.id not in stored]
    lengths = [len(a.text) for a in stored.values()]
    reply_chars = sum(lengths) // len(lengths) if lengths else params.max_new_tokens * CHARS_PER_TOKEN
    reply_tokens = reply_chars // CHARS_PER_TOKEN + 1
    calls = prompt_chars = 0
    for prompt in missing:
        # Each unanswered user turn is one call that sees the dialogue so far, earlier replies included.
        seen = 0
        for message in prompt.turns:
            seen += len(message.content)
            if message.role == "user":
                calls += 1
                prompt_chars += seen
                seen += reply_chars
    price = Price.for_model(spec.path or spec.name, spec.options) if spec.backend == "openai" else Price(0.0, 0.0)
    priced = spec.backend != "openai" or price != Price(0.0, 0.0)
    cost = price.cost(prompt_chars // CHARS_PER_TOKEN + calls, calls * reply_tokens)
    # Distinct per model: identical placeholders would share a judge cache key and hide calls from the count.
    placeholders = {
        p.id: Answer(
            prompt_set.name,
            p.id,
            spec.name,  # one reply per turn the model answers
            [_placeholder(spec.name, reply_chars)] * p.model_turns,
            answer_id=f"planned-{p.id}",
        )
        for p in missing
    }
    plan = GenerationPlan(spec.name, spec.backend, len(missing), calls, reply_tokens, cost, priced)
    return plan, {**stored, **placeholders}


def plan_import(
    store: ResultsStore, prompt_set: PromptSet, spec: ModelSpec, limit: int | None
) -> tuple[GenerationPlan, dict[str, Answer]]:
    """What importing a published answer file would add, read from the file and kept in memory: a prompt the
    file does not answer (every turn the model replies to) stays missing, as the real import leaves it."""
    from arena.models.answers import published_ids_for, read_published_answer_rows

    stored = store.answers(prompt_set.name, spec.name)
    prompts = prompt_set.prompts[:limit] if limit else prompt_set.prompts
    missing = [p for p in prompts if p.id not in stored]
    if not missing:
        return GenerationPlan(spec.name, spec.backend, 0, 0, 0, 0.0, True), stored
    path = Path(spec.path or "")
    published_ids_for(path, [p.id for p in prompts])  # the real run's check: a file of another set is refused
    rows = {row.question_id: row.turns or (row.text,) for row in read_published_answer_rows(path)}
    imported = {
        p.id: Answer(prompt_set.name, p.id, spec.name, list(rows[p.id][: p.model_turns]), answer_id=f"planned-{p.id}")
        for p in missing
        if len(rows.get(p.id, ())) >= p.model_turns
    }
    if len(imported) < len(missing):
        logger.warning(f"{spec.name}: {len(missing) - len(imported)} prompts have no published answer in {path}")
    return GenerationPlan(spec.name, spec.backend, len(missing), 0, 0, 0.0, True), {**stored, **imported}


def _placeholder(model: str, chars: int) -> str:
    label = f"[{model}: answer not generated yet] "
    return (label * (chars // len(label) + 1))[: max(chars, len(label))]


class UnloadedJudge(Judge):
    """A local judge as a dry run knows it: its name and that it costs nothing, without loading the model."""

    def __init__(self, spec: ModelSpec):
        self.name = spec.name
        self.demo = bool(spec.option("demo_judge", False))

    def run(self, requests: list[JudgeRequest], on_reply: OnReply, budget) -> RunOutcome:
        raise RuntimeError("a dry run judges nothing")
