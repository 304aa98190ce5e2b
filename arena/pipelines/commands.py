"""The two main commands, each the whole pipeline: answers that are missing are generated, matchups are
judged in both orders, and the results are rated and printed.

    evaluate:   candidates against one baseline -> % of the baseline (relative) and win/tie/loss (pairwise)
    tournament: all pairs (or a random budget of matchups) -> Elo and Bradley-Terry leaderboards
"""

from __future__ import annotations

import json
import random
import sys
from argparse import Namespace
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from arena.console import info, print_records, warn
from arena.errors import EXIT_BUDGET_STOPPED, EXIT_CALLS_FAILED, ArenaError, NothingToRate
from arena.generation.runner import generate_answers
from arena.judging.batch import DEFAULT_DISCOUNT, batch_judge, batch_round_size
from arena.judging.budget import CostBudget, Price, spending
from arena.judging.grading import check_templates
from arena.judging.judges import load_judge
from arena.judging.replay import PREFIX as REPLAY_PREFIX
from arena.judging.replay import ReplayJudge, refuse_batch
from arena.judging.runner import JudgingReport, judge_matchups, pairs_of, plan_matchups, sample_matchups
from arena.judging.templates import TemplateSet, builtin_templates, load_fastchat_templates
from arena.models.base import GenerationParams, check_loadable
from arena.models.options import DEFAULT_JUDGE_CONCURRENCY
from arena.models.spec import DEMO_JUDGE, DEMO_MODELS, ModelSpec, available_models, resolve_model
from arena.pipelines.dryrun import FILE_BACKENDS, UnloadedJudge, plan_generation, plan_import, without_keys
from arena.pipelines.options import EvaluateOptions, JudgingOptions, TournamentOptions
from arena.pipelines.panel import run_panel
from arena.prompts import load_prompt_set
from arena.prompts.records import PromptSet
from arena.ratings import leaderboard
from arena.ratings.matches import OUTCOME, build_matches
from arena.store import ResultsStore
from arena.store.atomic import write_atomically

if TYPE_CHECKING:
    from arena.judging.schedule import ScheduleResult


def _answers_for(
    store: ResultsStore,
    prompt_set: PromptSet,
    specs: list[ModelSpec],
    params: GenerationParams,
    explicit: dict[str, object],
    limit: int | None,
    dry_run: bool,
) -> tuple[dict, float]:
    """Generate what is missing, then read every model's answers. A dry run plans the missing ones instead:
    answers with placeholders, and the estimated cost of generating them."""
    answers, planned_cost = {}, 0.0
    for spec in specs:
        if dry_run:
            plan, answers[spec.name] = (
                plan_import(store, prompt_set, spec, limit)
                if spec.backend in FILE_BACKENDS
                else plan_generation(store, prompt_set, spec, params.with_overrides(explicit), limit)
            )
            info(f"dry run (generation): {plan.describe()}")
            planned_cost += plan.cost
            continue
        report = generate_answers(store, prompt_set, spec, params, limit=limit, explicit=explicit)
        if report.generated:
            speed = f" ({report.tokens_per_second:.1f} tok/s)" if report.tokens else ""  # published answers: none
            info(f"{spec.name}: {report.generated} answers generated{speed}")
        answers[spec.name] = store.answers(prompt_set.name, spec.name)
    return answers, planned_cost


def answers_missing(store: ResultsStore, prompt_set: PromptSet, model: str, limit: int | None) -> int:
    """How many of the prompts a command plays have no stored answer of `model`."""
    stored = store.answers(prompt_set.name, model)
    return sum(p.id not in stored for p in (prompt_set.prompts[:limit] if limit else prompt_set.prompts))


def spec_of_judge(judge: str, options: JudgingOptions) -> ModelSpec:
    spec = resolve_model(judge, options.models_file)
    if options.judge_base_url:
        spec = replace(spec, backend="openai", options={**spec.options, "base_url": options.judge_base_url})
    return without_keys(spec) if options.dry_run else spec


def _load_judge(spec: ModelSpec, store: ResultsStore, benchmark: str, options: JudgingOptions):
    """The judge, behind the Batch API with --batch; a dry run loads no local model."""
    if options.batch and spec.backend != "openai":
        raise ArenaError(
            f"--batch sends the judge's calls to an OpenAI-compatible Batch API; the judge '{spec.name}' "
            f"is a local {spec.backend} model: drop --batch or pick an API judge"
        )
    if options.dry_run and spec.backend == "hf":
        return UnloadedJudge(spec)
    judge = load_judge(spec)
    return batch_judge(judge, spec, store.root, benchmark) if options.batch else judge


def model_specs(names: Iterable[str], options: JudgingOptions) -> list[ModelSpec]:
    specs = [resolve_model(m, options.models_file) for m in names]
    return [without_keys(s) for s in specs] if options.dry_run else specs


def judge_templates(options: JudgingOptions, protocol: str) -> TemplateSet:
    if options.judge_template:
        templates = load_fastchat_templates(options.judge_template, options.judge_reviewers, protocol)
        if templates.protocol != protocol:
            raise ArenaError(
                f"{options.judge_template}: is a {templates.protocol} template, but --protocol asks for {protocol}"
            )
        return templates
    return builtin_templates(protocol)


def demo_label(judge) -> str:
    return " (DEMO judge: a tiny model, not a real verdict)" if judge.demo else ""


class JudgingSession:
    """Everything one command judges, under one spending cap; knows the exit code the command ends with."""

    def __init__(
        self, store: ResultsStore, prompt_set: PromptSet, judge, judge_spec: ModelSpec, options: JudgingOptions
    ):
        self.store, self.prompt_set, self.judge, self.judge_spec = store, prompt_set, judge, judge_spec
        self.options = options
        self.budget = options.shared_budget or CostBudget(options.max_cost)
        self.spent_before = self.budget.spent  # a panel member's manifest records its own cost
        self.generation_cost = 0.0
        self.reports: list[JudgingReport] = []
        self.planned_generation_cost = 0.0  # a dry run's estimate for the answers still missing

    def judge_all(self, protocol: str, matchups) -> JudgingReport:
        options = self.options
        report = judge_matchups(
            self.store,
            self.prompt_set.name,
            self.judge,
            judge_templates(options, protocol),
            matchups,
            retry_errors=options.retry_errors,
            budget=self.budget,
            dry_run=options.dry_run,
        )
        self.reports.append(report)
        if options.dry_run:
            discount = float(self.judge_spec.option("batch_discount", DEFAULT_DISCOUNT))
            direct = report.estimated_cost / discount if options.batch else report.estimated_cost
            batch = f" (with --batch: ${direct * discount:.2f})" if self.judge_spec.backend == "openai" else ""
            info(
                f"dry run ({protocol}): {report.requested} judge calls needed ({report.already_judged} stored, "
                f"{report.reused} reusable){_shared_calls(report)}, estimated cost ${direct:.2f}{batch}"
            )
        else:
            info(report.describe() + demo_label(self.judge))
        return report

    def answers(self, specs: list[ModelSpec]) -> dict:
        """Generate what is missing under the command's cap (a paid answer model spends from it too); a dry
        run plans it and keeps the estimate."""
        with spending(self.budget):
            answers, self.planned_generation_cost = _answers_for(
                self.store,
                self.prompt_set,
                specs,
                self.options.generation,
                self.options.explicit_generation,
                self.options.limit,
                self.options.dry_run,
            )
        self.generation_cost = self.budget.spent - self.spent_before
        if self.budget.refused:
            info(
                f"the --max-cost budget stopped answer generation (cost ${self.generation_cost:.4f}); only "
                "questions with stored answers are judged"
            )
        return answers

    def finish(self) -> int:
        """Say what the cap and the transport cost, and pick the exit code."""
        if self.budget.describe():
            info(self.budget.describe())
        if (
            len(self.reports) > 1 or self.generation_cost or self.options.max_cost is not None
        ) and not self.options.dry_run:
            info(
                f"total cost of this command: ${self.budget.spent:.4f}"
                + (f" (answers ${self.generation_cost:.4f})" if self.generation_cost else "")
                + (f" (cap ${self.options.max_cost:.2f})" if self.options.max_cost is not None else "")
            )
        if self.options.dry_run:
            judging = sum(r.estimated_cost for r in self.reports)
            info(
                f"dry run: no call was made and no model loaded; estimated cost of generation "
                f"${self.planned_generation_cost:.2f} and judging ${judging:.2f}"
                + (" (Batch API prices)" if self.options.batch else "")
            )
        if self.budget.refused or any(r.not_started for r in self.reports):
            return EXIT_BUDGET_STOPPED
        if any(r.failed or r.oversized for r in self.reports):
            return EXIT_CALLS_FAILED
        return 0

    def shows_results(self) -> bool:
        """Results are printed unless this was a dry run or no judgment exists to rate (every call failed)."""
        return not self.options.dry_run and any(r.already_judged or r.reused or r.judged for r in self.reports)

    def record(self) -> dict:
        return {
            "judge": self.judge.name,
            "demo_judge": self.judge.demo,
            "cost": round(self.budget.spent - self.spent_before, 6),
            "max_cost": self.options.max_cost,
            "judging": [asdict(r) for r in self.reports],
        }


def _shared_calls(report: JudgingReport) -> str:
    """Why fewer calls than judgments are planned: matchups whose rendered prompts are identical (a question
    asked twice in the set, say) share one call through the judge cache."""
    pending = report.planned - report.already_judged - report.reused
    if pending == report.requested:
        return ""
    return f"; {pending} judgments to make, {report.requested} distinct calls (identical prompts share one)"


def _check_prices(judge_spec: ModelSpec, specs: list[ModelSpec], max_cost: float | None) -> None:
    """Every paid endpoint of the command (the judge, answer models behind an API) has a price, or --max-cost
    could not hold (see Price.check_known)."""
    for spec in [judge_spec, *specs]:
        if spec.backend == "openai":
            Price.check_known(spec.path or spec.name, spec.options, spec.name, max_cost)


def _spec_record(spec: ModelSpec) -> dict:
    return {
        "name": spec.name,
        "backend": spec.backend,
        "path": spec.path,
        "options": spec.options,
        "origin": spec.origin,
    }


def run_config(
    options: JudgingOptions, prompt_set: PromptSet, judge_spec: ModelSpec, models: list[ModelSpec], **more: object
) -> dict:
    """What a judging command's run manifest records of what it was asked (`more`: the command's own)."""
    return {
        "models": [_spec_record(s) for s in models],
        "judge": _spec_record(judge_spec),
        "benchmark": prompt_set.name,
        "prompt_set_sha256": prompt_set.sha256,
        "protocol": options.protocol,
        **more,
        "limit": options.limit,
        "dry_run": options.dry_run,
        "batch": options.batch,
    }


def ready_judge(
    store: ResultsStore,
    prompt_set: PromptSet,
    options: JudgingOptions,
    judge_spec: ModelSpec,
    specs: list[ModelSpec],
    templates: list[TemplateSet],
):
    """What a judging command checks before it writes anything, then its judge: every answer model that has
    answers to generate can load (one whose answers are all stored is never loaded, so it needs no GPU), the
    templates have what they need, the judge loads (a missing key or model fails here, first) and every paid
    endpoint has a price."""
    for spec in specs:
        if answers_missing(store, prompt_set, spec.name, options.limit):
            check_loadable(spec, options.dry_run)
    for template_set in templates:
        check_templates(prompt_set, template_set, options.limit)
    judge = _load_judge(judge_spec, store, prompt_set.name, options)
    _check_prices(judge_spec, specs, options.max_cost)
    return judge


def run_evaluate(args: Namespace) -> int:
    return evaluate(EvaluateOptions.of(args))


def evaluate(options: EvaluateOptions) -> int:
    if len(options.judges) > 1:
        return run_panel(options, evaluate)  # arena/pipelines/panel.py
    if options.protocol == "single":  # grades, not comparisons: no baseline
        from arena.pipelines.grading import run_single_grading

        return run_single_grading(options)
    store = ResultsStore(options.results)
    prompt_set = load_prompt_set(options.benchmark)
    candidates = model_specs(options.candidates, options)
    baseline = model_specs([options.baseline], options)[0]
    judge_spec = spec_of_judge(options.judges[0], options)
    if baseline.name in {c.name for c in candidates}:
        raise ArenaError(f"the baseline '{baseline.name}' is also a candidate")
    config = run_config(options, prompt_set, judge_spec, candidates, baseline=_spec_record(baseline))
    protocols = options.protocols
    templates = [judge_templates(options, protocol) for protocol in protocols]
    judge = ready_judge(store, prompt_set, options, judge_spec, [*candidates, baseline], templates)
    with store.run("evaluate", config, seeds={"seed": options.seed}, dry_run=options.dry_run) as manifest:
        session = JudgingSession(store, prompt_set, judge, judge_spec, options)
        answers = session.answers([*candidates, baseline])
        pairs = [p for c in candidates for p in ((c.name, baseline.name), (baseline.name, c.name))]
        matchups = plan_matchups(prompt_set, answers, pairs, options.limit, baseline=baseline.name)
        for protocol in protocols:
            session.judge_all(protocol, matchups)
        code = session.finish()
        manifest.update(session.record(), exit_status=code)
        if session.shows_results():
            _print_evaluation(store, prompt_set, judge, {c.name for c in candidates}, baseline.name, options)
    return code


def _print_evaluation(
    store: ResultsStore, prompt_set: PromptSet, judge, names: set[str], baseline: str, options: EvaluateOptions
) -> None:
    stored = store.judgments(prompt_set.name, judge.name)
    protocols = options.protocols
    if "relative" in protocols:
        judgments = [j for j in stored if j.protocol == "relative" and {j.model_a, j.model_b} & names]
        try:  # unreadable relative replies must not hide the pairwise results judged beside them
            rows = leaderboard.relative_leaderboard(judgments, baseline, options.bootstrap, options.seed)
            print_records(
                rows,
                "table",
                f"% of {baseline} on {prompt_set.name} · judge {judge.name}"
                f"{demo_label(judge)} (mean of both orders, 95% CI)",
                leaderboard.RELATIVE_COLUMNS,
            )
        except NothingToRate as exc:
            warn(f"no relative scores: {exc}")
    if "pairwise" in protocols:
        rows = []
        for name in sorted(names):
            judged = [j for j in stored if j.protocol == "pairwise" and {j.model_a, j.model_b} == {name, baseline}]
            if judged:
                rows.append({"model": name, **build_matches(judged).record()[name]})
        print_records(
            rows,
            "table",
            f"{', '.join(sorted(names))} vs {baseline} · pairwise, both orders{demo_label(judge)}",
            ["model", "wins", "ties", "losses", "errors", "matches"],
        )
        from arena.ratings.style.data import length_differences

        pairwise = [
            j
            for j in stored
            if j.protocol == "pairwise" and {j.model_a, j.model_b} & names and baseline in (j.model_a, j.model_b)
        ]
        if pairwise:
            lengths = length_differences(store, prompt_set.name, pairwise)
            rows = leaderboard.winrate_rows(pairwise, baseline, lengths, options.bootstrap, options.seed)
            print_records(
                rows,
                "table",
                f"Win rate vs {baseline}, raw and length-controlled (ties half, 95% CI "
                f"over questions){demo_label(judge)}",
                leaderboard.WINRATE_COLUMNS,
            )
    unreadable = Counter(
        j.protocol
        for j in stored
        if j.verdict == "error"
        and j.protocol in protocols
        and baseline in (j.model_a, j.model_b)
        and {j.model_a, j.model_b} & names
    )
    if unreadable:
        counts = ", ".join(f"{count} {protocol}" for protocol, count in sorted(unreadable.items()))
        warn(
            f"{counts} judgments are stored as errors (the judge's reply could not be read) and left out of "
            "the scores above: rerun with --retry-errors to judge them again"
        )
    info(f"answers and judgments in {store.root}/{prompt_set.name}/")


def demo_models() -> list[str]:
    """The demo's SmolLM2 configurations plus any SmolLM2 fine-tune the QLoRA stage has registered."""
    tuned = [
        s.name
        for s in available_models().values()
        if str(s.option("base_model", "")).startswith("smollm2") and s.name not in DEMO_MODELS
    ]
    return [*DEMO_MODELS, *sorted(tuned)]


DEMO_MAX_NEW_TOKENS = 128  # keeps the offline demo to minutes on a 2-core CPU


def run_tournament(args: Namespace) -> int:
    return tournament(TournamentOptions.of(args))


def tournament(options: TournamentOptions) -> int:
    if options.schedule == "adaptive" and not options.budget:
        raise ArenaError("--schedule adaptive needs --budget N (judge calls in all)")
    if options.until_separated and options.schedule != "adaptive":
        raise ArenaError("--until-separated goes with --schedule adaptive")
    if len(options.judges) > 1:
        return run_panel(options, tournament)  # arena/pipelines/panel.py
    judge_name = options.judges[0]
    if judge_name.startswith(REPLAY_PREFIX):
        return _replay_tournament(options, judge_name)
    demo = not options.models
    model_names = list(options.models or demo_models())
    if demo:
        given = options.explicit_generation.get("max_new_tokens")
        capped = min(int(given), DEMO_MAX_NEW_TOKENS) if isinstance(given, int) else DEMO_MAX_NEW_TOKENS
        options = replace(options, explicit_generation={**options.explicit_generation, "max_new_tokens": capped})
    if len(set(model_names)) < 2:
        raise ArenaError("a tournament needs at least two different models")
    store = ResultsStore(options.results)
    prompt_set = load_prompt_set(options.benchmark)
    specs = model_specs(model_names, options)
    judge_spec = spec_of_judge(judge_name, options)
    config = run_config(options, prompt_set, judge_spec, specs, budget=options.budget, schedule=options.schedule)
    if demo and judge_name == DEMO_JUDGE:
        info(
            "demo tournament: SmolLM2-135M 4-bit configurations on the offline sample, judged by the same "
            "135M model as a DEMO judge (verdicts read from next-token probabilities). Use --judge gpt-4 or "
            "another strong judge for real results."
        )
    judge = ready_judge(store, prompt_set, options, judge_spec, specs, [judge_templates(options, options.protocol)])
    with store.run("tournament", config, seeds={"seed": options.seed}, dry_run=options.dry_run) as manifest:
        session = JudgingSession(store, prompt_set, judge, judge_spec, options)
        answers = session.answers(specs)
        matchups = plan_matchups(prompt_set, answers, pairs_of([s.name for s in specs]), options.limit)
        if options.schedule == "adaptive" and not options.dry_run:
            by_key = {(m.prompt.id, m.model_a, m.model_b): m for m in matchups}
            outcome = _adaptive(
                store,
                prompt_set.name,
                judge.name,
                [s.name for s in specs],
                list(by_key),
                options,
                lambda keys: session.judge_all(options.protocol, [by_key[k] for k in keys]),
            )
        else:
            if options.budget:
                matchups = sample_matchups(matchups, options.budget, options.seed)
            session.judge_all(options.protocol, matchups)
            outcome = None
        code = session.finish()
        manifest.update(session.record(), exit_status=code)
        if session.shows_results():
            _rate_tournament(store, prompt_set.name, judge, {s.name for s in specs}, options, outcome)
    return code


def _adaptive(
    store: ResultsStore,
    benchmark: str,
    judge_name: str,
    models: list[str],
    pool: list[tuple[str, str, str]],
    options: TournamentOptions,
    judge_round: Callable[[list[tuple[str, str, str]]], object],
) -> ScheduleResult:
    """The adaptive schedule over `pool`, reading what is judged from the store (so a rerun continues)."""
    from arena.judging.schedule import adaptive_schedule, units_of  # scipy: only for --schedule adaptive

    keys = set(pool)

    def judged():  # through the store's column cache: each round parses only the lines the last one added
        stored = [m for m in store.judgment_columns(benchmark, judge_name).matchups(options.protocol) if m[:3] in keys]
        return {m[:3] for m in stored}, [(a, b, OUTCOME[verdict]) for _, a, b, verdict in stored if verdict in OUTCOME]

    assert options.budget is not None  # the handler refuses --schedule adaptive without it
    round_size = options.round_size or (
        batch_round_size(options.budget) if options.batch else DEFAULT_JUDGE_CONCURRENCY
    )
    result = adaptive_schedule(
        sorted(models),
        units_of(pool),
        options.budget,
        round_size,
        options.seed,
        judged,
        judge_round,
        options.until_separated,
        options.confidence,
    )
    described = {
        "budget": "the budget is spent",
        "separated": "every pair of neighbours is separated",
        "pool": "every recorded matchup is judged",
    }[result.stopped]
    info(
        f"adaptive schedule: {result.judge_calls} judge calls in {result.rounds} rounds of up to {round_size}; "
        f"stopped because {described}"
    )
    if result.unresolved_pairs:
        info(
            f"neighbours not separated at {options.confidence:.0%}: "
            + "; ".join(" vs ".join(p) for p in result.unresolved_pairs)
        )
    return result


def _replay_tournament(options: TournamentOptions, judge_name: str) -> int:
    """A tournament answered from recorded verdicts: no answers, no cost, any budget or schedule."""
    refuse_batch(options.batch, judge_name)
    store = ResultsStore(options.results)
    judge = ReplayJudge.parse(judge_name, options.benchmark, options.protocol)
    models = list(options.models) if options.models else judge.models()
    pool = judge.pool(models)
    if not pool:
        raise ArenaError(
            f"the recorded judgments of '{judge.recorded_judge}' in {judge.source} cover no matchup "
            f"among {', '.join(models)}"
        )
    config = {
        "models": models,
        "judge": {"replay": str(judge.source), "recorded_judge": judge.recorded_judge},
        "benchmark": options.benchmark,
        "protocol": options.protocol,
        "budget": options.budget,
        "schedule": options.schedule,
        "pool": len(pool),
    }
    if options.dry_run:
        _plan_replay_tournament(store, options, judge, pool)
        return 0
    with store.run("tournament", config, seeds={"seed": options.seed}) as manifest:
        missing = 0

        def judge_round(keys):
            nonlocal missing
            missing += judge.replay(store, options.benchmark, keys)[1]

        if options.schedule == "adaptive":
            outcome = _adaptive(store, options.benchmark, judge.name, models, pool, options, judge_round)
        else:
            judge_round(_random_budget(pool, options))
            outcome = None
        if missing:
            info(f"{missing} matchups have no recorded verdict and were left out (not stored as errors)")
        manifest.update(exit_status=0, missing=missing)
        _rate_tournament(store, options.benchmark, judge, set(models), options, outcome)
    return 0


def _random_budget(pool: list[tuple], options: TournamentOptions) -> list[tuple]:
    """The recorded matchups a random --budget picks (all of them without one), the same for the same seed."""
    if not options.budget:
        return pool
    return random.Random(options.seed).sample(pool, min(options.budget, len(pool)))


def _plan_replay_tournament(
    store: ResultsStore, options: TournamentOptions, judge: ReplayJudge, pool: list[tuple]
) -> None:
    """What a replayed tournament would copy, without writing anything: an adaptive schedule picks its
    matchups from the verdicts it has seen, so only its upper bound (the budget) is known beforehand."""
    existing = {  # the plain read: the column cache would write its index file
        (j.question_id, j.model_a, j.model_b)
        for j in store.judgments(options.benchmark, judge.name)
        if j.protocol == options.protocol
    }
    if options.schedule == "adaptive":
        assert options.budget is not None  # the handler refuses --schedule adaptive without it
        todo = [k for k in pool if k not in existing]
        info(
            f"dry run ({options.protocol}): the adaptive schedule would copy up to {min(options.budget, len(todo))} "
            f"recorded verdicts of '{judge.recorded_judge}' from {judge.source} ({len(pool)} recorded matchups, "
            f"{len(pool) - len(todo)} already stored); no judge call, cost $0"
        )
    else:
        chosen = _random_budget(pool, options)
        stored = sum(k in existing for k in chosen)
        info(
            f"dry run ({options.protocol}): {len(chosen) - stored} recorded verdicts of '{judge.recorded_judge}' "
            f"would be copied from {judge.source} ({stored} already stored); no judge call, cost $0"
        )
    info("dry run: nothing was written")


def _rate_tournament(
    store: ResultsStore,
    benchmark: str,
    judge,
    names: set[str],
    options: TournamentOptions,
    schedule: ScheduleResult | None = None,
) -> None:
    judgments = [
        j
        for j in store.judgments(benchmark, judge.name)
        if j.protocol == options.protocol and j.model_a in names and j.model_b in names
    ]
    elo = leaderboard.elo_leaderboard(judgments, options.orderings, options.seed)
    bt = leaderboard.bt_leaderboard(judgments, options.bootstrap, options.seed)
    label = f"{benchmark} · judge {judge.name}{demo_label(judge)}"
    data = {
        "elo": elo,
        "bradley_terry": bt,
        "judge_calls": schedule.judge_calls if schedule else len(judgments),
        "schedule": options.schedule,
        "unresolved_pairs": schedule.unresolved_pairs if schedule else [],
        "models": sorted(names),
        "judge": judge.name,
        "demo_judge": judge.demo,
    }
    if options.format == "json":
        sys.stdout.write(
            json.dumps(
                {k: data[k] for k in ("elo", "bradley_terry", "judge_calls", "schedule", "unresolved_pairs")}, indent=2
            )
            + "\n"
        )
    else:
        print_leaderboards(elo, bt, label, options.orderings, options.bootstrap)
        _print_top_pair(judgments)
    saved = _save_leaderboard(store, benchmark, judge.name, data)
    info(f"leaderboard saved to {saved}; answers and judgments in {store.root}/{benchmark}/")


def print_leaderboards(elo: list[dict], bt: list[dict], label: str, orderings: int | str, bootstrap: int) -> None:
    """A tournament's two tables: the paper's Elo and Bradley-Terry, titled as `arena ratings` titles them (the
    Elo interval is the spread of the single orders' ratings, not a confidence interval of their mean)."""
    print_records(
        elo,
        "table",
        f"Elo (paper: K=32, mean of {orderings} orders, 95% spread of single orders) · {label}",
        leaderboard.RATING_COLUMNS,
    )
    print_records(bt, "table", f"Bradley-Terry ({bootstrap} bootstrap, 95% CI) · {label}", leaderboard.RATING_COLUMNS)


def _print_top_pair(judgments) -> None:
    """How many judgments hold the top place, under the tables (arena.ratings.robustness)."""
    from arena.ratings.matches import build_matches
    from arena.ratings.robustness_command import top_pair_line

    line = top_pair_line(build_matches(judgments))
    if line:
        print(line)


def _save_leaderboard(store: ResultsStore, benchmark: str, judge: str, data: dict) -> Path:
    from arena.store.results import file_safe, log_name

    path = store.root / file_safe(benchmark) / "leaderboards" / f"{log_name(judge)}.json"
    write_atomically(path, json.dumps(data, indent=2))
    return path
