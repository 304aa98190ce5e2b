"""Judging matchups: each (question, model shown first, model shown second) is rendered with the template
for its category, looked up in the cache, and only then sent to the judge. Replies are stored one by one
as they land, so Ctrl-C or SIGKILL loses only the calls in flight and a rerun continues.

The cache key covers the judge, the template hash and the rendered prompt (question, both answer texts in
their order), so a judgment is never paid for twice; one run at a time judges with a given judge on a
results directory (a file lock), so concurrent runs neither duplicate nor interleave work."""

from __future__ import annotations

import random
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from itertools import combinations

from arena.console import progress_bar
from arena.errors import ArenaError
from arena.judging.budget import CostBudget
from arena.judging.judges import Judge, JudgeReply, JudgeRequest
from arena.judging.templates import TemplateSet
from arena.prompts.records import Prompt, PromptSet
from arena.store import Answer, Judgment, ResultsStore
from arena.store.group_commit import GroupCommit
from arena.store.records import stable_id, utc_now


@dataclass(frozen=True)
class Matchup:
    prompt: Prompt
    model_a: str  # shown first; the model graded under the single protocol
    model_b: str  # "" under the single protocol
    answer_a: Answer
    answer_b: Answer | None
    turn: int | None = None  # per-turn templates judge each turn (1-based); None: the last answer, whole dialogue
    baseline: str | None = None  # the reference side when one was chosen (evaluate): reports use it


@dataclass
class JudgingReport:
    judge: str
    protocol: str
    planned: int = 0
    already_judged: int = 0
    reused: int = 0
    requested: int = 0
    judged: int = 0
    errors: int = 0
    not_started: int = 0  # stopped by the spending cap
    failed: int = 0  # transport failures: nothing stored, judged again on the next run
    last_failure: str = ""
    breaker: str = ""  # why a circuit breaker stopped the run early
    oversized: list[str] = field(default_factory=list)  # prompts too long for the judge: what and how long
    endpoints: str = ""  # calls served per endpoint, when there are several
    estimated_cost: float = 0.0
    cost: float = 0.0

    def describe(self) -> str:
        text = (
            f"{self.judge} ({self.protocol}): {self.planned} judgments planned, {self.already_judged} already "
            f"stored, {self.reused} reused from cache, {self.judged} judged now ({self.errors} unreadable, kept "
            f"as errors), cost ${self.cost:.4f}"
        )
        if self.breaker:
            text += (
                f"; stopped early: {self.breaker}; {self.failed} calls stored nothing: rerun to judge them once "
                "the endpoint works"
            )
        elif self.failed:
            text += f"; {self.failed} calls failed and stored nothing (last: {self.last_failure}): rerun to judge them"
        if self.oversized:
            text += (
                f"; {len(self.oversized)} prompts do not fit the judge's context window and were not judged "
                f"(a rerun cannot help: shorten the answers or use a judge with a longer context): "
                + "; ".join(self.oversized[:5])
                + ("; ..." if len(self.oversized) > 5 else "")
            )
        if self.endpoints:
            text += f"; {self.endpoints}"
        if self.not_started:
            text += f"; {self.not_started} left to judge: the --max-cost budget stopped the run before them"
        return text


def question_text(prompt: Prompt) -> str:
    """The dialogue the judge sees: the question alone, or every turn in order when there are several."""
    if len(prompt.turns) == 1:
        return prompt.turns[0].content
    return "\n\n".join(f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}" for m in prompt.turns)


def pairs_of(models: list[str], both_orders: bool = True) -> list[tuple[str, str]]:
    pairs = list(combinations(models, 2))
    return pairs + [(b, a) for a, b in pairs] if both_orders else pairs


def plan_matchups(
    prompt_set: PromptSet,
    answers: dict[str, dict[str, Answer]],
    pairs: list[tuple[str, str]],
    limit: int | None = None,
    baseline: str | None = None,
) -> list[Matchup]:
    """Every listed ordered pair on every question both models answered."""
    prompts = prompt_set.prompts[:limit] if limit else prompt_set.prompts
    matchups = []
    for prompt in prompts:
        for a, b in pairs:
            if prompt.id in answers[a] and prompt.id in answers[b]:
                matchups.append(Matchup(prompt, a, b, answers[a][prompt.id], answers[b][prompt.id], baseline=baseline))
    return matchups


def sample_matchups(matchups: list[Matchup], budget: int, seed: int) -> list[Matchup]:
    """A random budgeted subset, the same for the same seed."""
    if budget >= len(matchups):
        return matchups
    return random.Random(seed).sample(matchups, budget)


def _render(templates: TemplateSet, m: Matchup):
    if m.turn is not None:
        from arena.judging.turns import render_turn

        return render_turn(templates, m)
    template = templates.for_category(m.prompt.category)
    return (template, *template.render(question_text(m.prompt), m.answer_a.text, m.answer_b.text if m.answer_b else ""))


VERDICT_FIELDS = ("verdict", "score_a", "score_b", "explanation", "raw", "probabilities")


def _with_verdict(draft: Judgment, source: Judgment | JudgeReply, **more) -> Judgment:
    """The draft judgment with the verdict of a reply, or of a stored judgment of the same rendered prompt."""
    return replace(draft, **{name: getattr(source, name) for name in VERDICT_FIELDS}, **more)


def judge_matchups(
    store: ResultsStore,
    benchmark: str,
    judge: Judge,
    templates: TemplateSet,
    matchups: list[Matchup],
    retry_errors: bool = False,
    budget: CostBudget | None = None,
    dry_run: bool = False,
    show_progress: bool = True,
) -> JudgingReport:
    """`budget`: the command's one spending cap, shared by every protocol and judge it runs."""
    if templates.per_turn:
        from arena.judging.turns import expand_turns

        matchups = expand_turns(matchups, templates)
    report = JudgingReport(judge.name, templates.protocol, planned=len(matchups))
    budget = budget or CostBudget(None)
    # A dry run takes no lock (the lock file would be written) and stores nothing, reused verdicts included.
    with nullcontext() if dry_run else store.exclusive(benchmark, "judgments", judge.name):
        existing = store.judgments(benchmark, judge.name)
        by_id = {j.judgment_id: j for j in existing}
        by_key = {j.meta.get("cache_key"): j for j in existing if j.verdict != "error" and j.meta.get("cache_key")}
        waiting: dict[str, list[Judgment]] = defaultdict(list)  # cache key -> judgments awaiting that reply
        requests: dict[str, JudgeRequest] = {}
        reused = []
        for m in matchups:
            template, system, user = _render(templates, m)
            key = stable_id(judge.name, template.hash, system, user)
            draft = Judgment(
                benchmark,
                m.prompt.id,
                m.model_a,
                m.model_b,
                judge.name,
                templates.protocol,
                "error",
                template_hash=template.hash,
                category=m.prompt.category,
                source="arena",
                turn=m.turn,
                meta={
                    "cache_key": key,
                    "template": template.name,
                    "judge_label": judge.label,
                    **({"demo_judge": True} if judge.demo else {}),
                    **({"baseline": m.baseline} if m.baseline else {}),
                    "answer_ids": [a.answer_id for a in (m.answer_a, m.answer_b) if a is not None],
                },
            )
            prior = by_id.get(draft.judgment_id)
            if (
                prior is not None
                and prior.meta.get("cache_key") == key
                and not (retry_errors and prior.verdict == "error")
            ):
                report.already_judged += 1
            elif key in by_key:
                source = by_key[key]
                reused.append(_with_verdict(draft, source, meta={**draft.meta, "reused_from": source.judgment_id}))
            else:
                waiting[key].append(draft)
                requests.setdefault(
                    key,
                    JudgeRequest(
                        key,
                        templates.protocol,
                        system,
                        user,
                        content_free=(None if m.turn is not None else template.render("N/A", "N/A", "N/A")),
                    ),
                )
        if not dry_run:
            store.save_judgments(reused)
        report.reused = len(reused)
        report.requested = len(requests)
        report.estimated_cost = judge.estimate_cost(list(requests.values()))
        if dry_run or not requests:
            return report

        progress, task = (
            progress_bar(f"judging with {judge.name}", len(requests), fields=("cost",))
            if show_progress
            else (None, None)
        )

        def on_reply(request: JudgeRequest, reply: JudgeReply) -> None:
            landed = utc_now()
            spent = {
                "cost": reply.cost,
                "tokens": reply.tokens,
                **({"request_id": reply.request_id} if reply.request_id else {}),
            }
            records = [_with_verdict(d, reply, created=landed, meta={**d.meta, **spent}) for d in waiting[request.key]]
            commits.add(records)
            report.judged += len(records)
            report.errors += len(records) if reply.verdict == "error" else 0
            report.cost += reply.cost
            if progress:
                progress.update(task, advance=1, cost=f"${report.cost:.4f}")

        if progress:
            progress.start()
        try:
            with GroupCommit(store.save_judgments) as commits:
                outcome = judge.run(list(requests.values()), on_reply, budget)
        finally:
            if progress:
                progress.stop()
        report.failed, report.last_failure, report.breaker = outcome.failed, outcome.last_failure, outcome.breaker
        report.endpoints = outcome.endpoints
        report.oversized = [
            f"question {d.question_id} ({d.model_a} vs {d.model_b}), about {tokens} tokens"
            for key, tokens in outcome.oversized.items()
            for d in waiting[key]
        ]
        unanswered = len(matchups) - report.already_judged - report.reused - report.judged - len(report.oversized)
        report.not_started = unanswered if outcome.not_started else 0
        if not outcome.not_started and not outcome.failed and unanswered:
            raise ArenaError(f"{unanswered} judgments got no reply from {judge.name}")
    return report
