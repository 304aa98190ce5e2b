"""`arena evaluate --protocol single`: every turn of every candidate's answers graded from 1 to 10 (MT-bench),
through the same JudgingSession as comparisons (`arena.judging.grading` makes the matchups and checks the
templates and reference answers first), or copied from another store's recorded grades (`replay:`)."""

from __future__ import annotations

from dataclasses import replace

from arena.console import info
from arena.judging.grading import check_templates, grading_matchups
from arena.judging.replay import PREFIX as REPLAY_PREFIX
from arena.judging.replay import ReplayJudge, refuse_batch
from arena.pipelines.commands import (
    JudgingSession,
    demo_label,
    judge_templates,
    model_specs,
    ready_judge,
    run_config,
    spec_of_judge,
)
from arena.pipelines.options import EvaluateOptions
from arena.prompts import load_prompt_set
from arena.prompts.records import PromptSet
from arena.store import ResultsStore
from arena.store.records import utc_now


def run_single_grading(options: EvaluateOptions) -> int:
    store = ResultsStore(options.results)
    prompt_set = load_prompt_set(options.benchmark)
    judge_name = options.judges[0]
    if judge_name.startswith(REPLAY_PREFIX):
        return _replay_grades(store, prompt_set, options, judge_name)
    templates = judge_templates(options, "single")
    check_templates(prompt_set, templates, options.limit)
    candidates = model_specs(options.candidates, options, prompt_set.name)
    judge_spec = spec_of_judge(judge_name, options)
    config = run_config(
        options, prompt_set, judge_spec, candidates, templates={n: t.hash for n, t in templates.variants.items()}
    )
    judge = ready_judge(store, prompt_set, options, judge_spec, candidates, [])
    with store.run("evaluate", config, seeds={"seed": options.seed}, dry_run=options.dry_run) as manifest:
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
