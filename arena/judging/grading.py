"""`arena evaluate --protocol single`: every turn of every candidate's answers graded from 1 to 10 (MT-bench).

Grades go through the same path as comparisons (judge_matchups: the cache, resuming, the spending cap, the
judge's concurrency and whatever batching the judge does): a grade is a matchup with one model and no second
answer, expanded into one request per turn. What can be checked before anything is written is checked first:
the templates, and that every question whose template needs a reference answer has one."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from arena.console import info, warn
from arena.errors import ArenaError
from arena.judging.replay import PREFIX as REPLAY_PREFIX
from arena.judging.replay import ReplayJudge, refuse_batch
from arena.judging.runner import Matchup
from arena.judging.templates import TemplateSet
from arena.prompts import load_prompt_set
from arena.prompts.records import PromptSet
from arena.prompts.references import needs_reference
from arena.store import Answer, ResultsStore
from arena.store.records import utc_now

if TYPE_CHECKING:
    from arena.pipeline_options import EvaluateOptions


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


def run_single_grading(options: EvaluateOptions) -> int:
    from arena.pipelines import JudgingSession, _judge_spec, _models, _templates, demo_label, ready_judge, run_config

    store = ResultsStore(options.results)
    prompt_set = load_prompt_set(options.benchmark)
    judge_name = options.judges[0]
    if judge_name.startswith(REPLAY_PREFIX):
        return _replay_grades(store, prompt_set, options, judge_name)
    templates = _templates(options, "single")
    check_templates(prompt_set, templates, options.limit)
    candidates = _models(options.candidates, options)
    judge_spec = _judge_spec(judge_name, options)
    config = run_config(
        options, prompt_set, judge_spec, candidates, templates={n: t.hash for n, t in templates.variants.items()}
    )
    judge = ready_judge(store, prompt_set, options, judge_spec, candidates, [])
    with store.run("evaluate", config, seeds={"seed": options.seed}) as manifest:
        session = JudgingSession(store, prompt_set, judge, judge_spec, options)
        answers = session.answers(candidates)
        session.judge_all("single", grading_matchups(prompt_set, answers, options.limit))
        code = session.finish()
        manifest.update(session.record(), exit_status=code)
        if not options.dry_run:
            _print_scores(store, prompt_set, judge.name, {s.name for s in candidates}, options, demo_label(judge))
    return code


def _print_scores(
    store: ResultsStore, prompt_set: PromptSet, judge: str, models: set[str], options: EvaluateOptions, label: str = ""
) -> None:
    from arena.ratings.scores import grades_of, print_scores, score_rows

    stored = [j for j in store.judgments(prompt_set.name, judge) if j.model_a in models]
    rows = score_rows(
        grades_of(stored, {p.id: p.category for p in prompt_set.prompts}), options.bootstrap, options.seed
    )
    print_scores(
        rows,
        "table",
        f"MT-bench score (mean grade over graded turns, 95% CI over questions) · "
        f"{prompt_set.name} · judge {judge}{label}",
    )
    info(f"answers and judgments in {store.root}/{prompt_set.name}/")


def _replay_grades(store: ResultsStore, prompt_set: PromptSet, options: EvaluateOptions, judge_name: str) -> int:
    """Grades recorded in another results store, copied under the judge `replay-JUDGE` for these models and
    questions: no answers, no cost. A turn with no recorded grade is counted as missing, never invented."""
    refuse_batch(options.batch, judge_name)
    judge = ReplayJudge.parse(judge_name, prompt_set.name, "single")
    prompts = prompt_set.prompts[: options.limit] if options.limit else prompt_set.prompts
    wanted_questions, models = {p.id for p in prompts}, set(options.candidates)
    recorded = {
        (j.question_id, j.model_a, j.turn or int(j.meta.get("turn", 1))): j
        for j in ResultsStore(judge.source).judgments(prompt_set.name, judge.recorded_judge)
        if j.protocol == "single" and j.model_a in models and j.question_id in wanted_questions
    }
    covered = {(q, m) for q, m, _ in recorded}
    missing = [(p.id, m) for p in prompts for m in sorted(models) if (p.id, m) not in covered]
    config = {
        "models": sorted(models),
        "judge": {"replay": str(judge.source), "recorded_judge": judge.recorded_judge},
        "benchmark": prompt_set.name,
        "protocol": "single",
        "limit": options.limit,
    }
    if options.dry_run:
        existing = {(j.question_id, j.model_a, j.turn) for j in store.judgments(prompt_set.name, judge.name)}
        stored = sum(key in existing for key in recorded)
        info(
            f"dry run (single): {len(recorded) - stored} grades of '{judge.recorded_judge}' would be copied from "
            f"{judge.source} ({stored} already stored, {len(missing)} question/model pairs with no recorded "
            "grade); no judge call, cost $0. Nothing was written"
        )
        return 0
    with store.run("evaluate", config, seeds={"seed": options.seed}) as manifest:
        existing = {(j.question_id, j.model_a, j.turn) for j in store.judgments(prompt_set.name, judge.name)}
        copies = [
            replace(
                j,
                judge=judge.name,
                turn=key[2],
                source=f"{REPLAY_PREFIX}{judge.source}:{judge.recorded_judge}",
                judgment_id="",
                created=utc_now(),
                meta={**j.meta, "replayed_from": j.judgment_id},
            )
            for key, j in sorted(recorded.items())
            if key not in existing
        ]
        store.save_judgments(copies)
        info(
            f"{judge.name} (single): {len(copies)} grades copied from {judge.source}, "
            f"{len(recorded) - len(copies)} already stored"
        )
        if missing:
            info(f"{len(missing)} question/model pairs have no recorded grade and were left out (not stored as errors)")
        manifest.update(exit_status=0, missing=len(missing))
        _print_scores(store, prompt_set, judge.name, models, options)
    return 0
