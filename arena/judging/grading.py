"""Single grading (MT-bench): every turn of every candidate's answer graded from 1 to 10. The matchups and the
checks made before anything is written; the command itself is `arena.pipelines.grading`.

Grades go through the same path as comparisons (judge_matchups: the cache, resuming, the spending cap, the
judge's concurrency and whatever batching the judge does): a grade is a matchup with one model and no second
answer, expanded into one request per turn. What can be checked before anything is written is checked first:
the templates, and that every question whose template needs a reference answer has one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.console import warn
from arena.errors import ArenaError
from arena.judging.runner import Matchup
from arena.judging.templates import TemplateSet
from arena.prompts.records import PromptSet
from arena.prompts.references import needs_reference
from arena.store import Answer

if TYPE_CHECKING:
    pass


def grading_matchups(prompt_set: PromptSet, answers: dict[str, dict[str, Answer]], limit: int | None) -> list[Matchup]:
    """One matchup per (question, model) answered; the runner expands it into one per turn."""
    prompts = prompt_set.prompts[:limit] if limit else prompt_set.prompts
    return [
        Matchup(p, model, "", by_question[p.id], None)
        for p in prompts
        for model, by_question in answers.items()
        if p.id in by_question
    ]


def check_templates(prompt_set: PromptSet, templates: TemplateSet, limit: int | None) -> None:
    """Before anything is generated or written: a per-turn template set's reference-guided variant needs a
    reference answer for each user turn of every math, reasoning and coding question it will judge."""
    prompts = prompt_set.prompts[:limit] if limit else prompt_set.prompts
    if not templates.per_turn:
        if any(p.model_turns > 1 for p in prompts):
            warn(
                f"prompt set '{prompt_set.name}' has questions a model answers in several turns; the "
                f"{templates.protocol} template '{templates.name}' shows the judge only each answer's last turn. "
                "For per-turn judging use --judge-template with FastChat's judge_prompts.jsonl (pair-v2 and its "
                "multi-turn variant)"
            )
        return
    if "reference" not in templates.variants:
        return
    for prompt in prompts:
        if not needs_reference(prompt.category):
            continue
        missing = [t for t in range(1, len(prompt.user_turns) + 1) if prompt.reference_for(t) is None]
        if missing:
            raise ArenaError(
                f"prompt set '{prompt_set.name}', question {prompt.id} ({prompt.category}): no reference answer for "
                f"turn {missing[0]}, and the {prompt.category} template '{templates.variants['reference'].name}' needs "
                f"one. Pull the set with its references (`arena prompts pull {prompt_set.name} --from FILE "
                "--references FILE`)"
            )
