"""`arena evaluate` and `arena tournament` with several `--judge` options: a judge panel.

Each member judges every matchup exactly as it would alone (same cache, same files: one judgments file per
judge), one member after the other, under the command's one `--max-cost` cap. Members may mix backends:
OpenAI-compatible endpoints, local hf models, `replay:RESULTS_DIR[:JUDGE]` (recorded verdicts) and `human`
(the votes already collected by `arena rate`; nobody is called). Then the panel's majority verdicts are rated
beside the members' own leaderboards; `arena ratings --panel majority` gives the same panel later.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from contextlib import redirect_stdout
from typing import TypeVar

from arena.console import info, print_records, to_json
from arena.errors import EXIT_BUDGET_STOPPED, EXIT_CALLS_FAILED, ArenaError
from arena.judging.budget import CostBudget
from arena.judging.replay import PREFIX as REPLAY_PREFIX
from arena.judging.replay import ReplayJudge
from arena.models.spec import resolve_model
from arena.pipelines.options import EvaluateOptions, JudgingOptions, TournamentOptions
from arena.ratings import leaderboard
from arena.ratings.judge_panel import PANEL_RULES, panel_judgments, panel_name
from arena.ratings.matches import build_matches
from arena.store import ResultsStore
from arena.store.atomic import write_atomically
from arena.store.records import HUMAN_JUDGE, Judgment
from arena.store.results import file_safe

Options = TypeVar("Options", EvaluateOptions, TournamentOptions)


def _stored_name(judge: str, options: JudgingOptions) -> str:
    """The name a member's judgments are stored under; checks the member before anything is judged."""
    if judge == HUMAN_JUDGE:
        if not ResultsStore(options.results).judgments(_benchmark_name(options), HUMAN_JUDGE):
            raise ArenaError(
                f"--judge human: no human votes stored for '{options.benchmark}' in {options.results} "
                "(collect them with arena rate serve)"
            )
        return HUMAN_JUDGE
    if judge.startswith(REPLAY_PREFIX):
        return ReplayJudge.parse(judge, _benchmark_name(options), options.protocols[0]).name
    from arena.pipelines.commands import spec_of_judge

    return spec_of_judge(judge, options).name


def _benchmark_name(options: JudgingOptions) -> str:
    from arena.prompts import load_prompt_set

    try:
        return load_prompt_set(options.benchmark).name
    except ArenaError:  # a replay tournament names a set that need not be on this machine
        return options.benchmark


def run_panel(options: Options, run_one: Callable[[Options], int]) -> int:
    """Run `run_one` once per member judge, then print the panel's view."""
    judges = list(options.judges)
    repeated = sorted({j for j in judges if judges.count(j) > 1})
    if repeated:
        raise ArenaError(f"--judge {', '.join(repeated)} given more than once: a panel's members are distinct judges")
    if isinstance(options, TournamentOptions) and options.schedule == "adaptive":
        raise ArenaError(
            "--schedule adaptive picks matchups from one judge's verdicts, so each panel member would "
            "judge different ones: give a panel --budget N alone (the same random matchups for every "
            "member) or no budget"
        )
    if (
        isinstance(options, EvaluateOptions)
        and options.protocol != "single"
        and any(j.startswith(REPLAY_PREFIX) for j in judges)
    ):
        raise ArenaError(
            "a panel of replay: judges against a baseline is not supported: give one replay: judge to "
            "arena evaluate at a time, or rate the recorded judgments together with arena ratings --panel majority"
        )
    names = [_stored_name(j, options) for j in judges]
    if len(set(names)) < len(names):
        raise ArenaError(
            f"--judge options {', '.join(judges)} store their verdicts under the same name "
            f"({', '.join(names)}): a panel needs distinct judges"
        )
    json_out = isinstance(options, TournamentOptions) and options.format == "json"
    budget = CostBudget(options.max_cost)  # one cap for the whole command, shared by every member
    codes, outputs = [], {}
    for judge, name in zip(judges, names):
        if judge == HUMAN_JUDGE:
            info(f"panel member human: the votes stored in {options.results} are used as they are")
            continue
        info(f"panel member {judge}:")
        one = options.member(judge, budget)
        if json_out:
            buffer = io.StringIO()
            with redirect_stdout(buffer):
                codes.append(run_one(one))
            outputs[name] = json.loads(buffer.getvalue()) if buffer.getvalue().strip() else None
        else:
            codes.append(run_one(one))
    if not options.dry_run:
        panel = _print_panel(options, names, json_out)
        if json_out:
            sys.stdout.write(to_json({"judges": outputs, "panel": panel}) + "\n")
    return (
        EXIT_BUDGET_STOPPED
        if EXIT_BUDGET_STOPPED in codes
        else EXIT_CALLS_FAILED
        if EXIT_CALLS_FAILED in codes
        else max(codes, default=0)
    )


def _print_panel(options: JudgingOptions, names: list[str], json_out: bool) -> dict:
    """The panel's majority verdicts rated: Elo and Bradley-Terry for a tournament, wins/ties/losses against
    the baseline for an evaluation."""
    store = ResultsStore(options.results)
    benchmark = _benchmark_name(options)
    stored = [j for j in store.judgments(benchmark) if j.judge in names]
    played = _played(options)
    members = ", ".join(names)
    protocols = options.protocols
    result: dict = {}
    for protocol in protocols:
        if protocol not in PANEL_RULES["majority"]:  # single-answer grades: the panel's mean, rated as scores
            info(
                f"the panel's mean grades: arena ratings --benchmark {benchmark} --results {options.results} "
                + " ".join(f"--judge {n}" for n in names)
                + " --panel mean --method score"
            )
            continue
        judged = [j for j in stored if j.protocol == protocol and played(j)]
        majority = panel_judgments(judged, names, "majority")
        if not majority:
            info(f"panel ({protocol}): no matchup was judged by a majority of {members}")
            continue
        label = f"{benchmark} · {panel_name('majority')} of {members} · {protocol}"
        if isinstance(options, TournamentOptions):
            elo = leaderboard.elo_leaderboard(majority, options.orderings, options.seed)
            bt = leaderboard.bt_leaderboard(majority, options.bootstrap, options.seed)
            result = {"elo": elo, "bradley_terry": bt, "judges": names, "matchups": len(majority)}
            path = store.root / file_safe(benchmark) / "leaderboards" / f"{panel_name('majority')}.json"
            write_atomically(path, json.dumps(result, indent=2))
            if not json_out:
                from arena.pipelines.commands import print_leaderboards

                print_leaderboards(elo, bt, label, options.orderings, options.bootstrap)
        else:
            assert isinstance(options, EvaluateOptions)
            record = build_matches(majority).record()
            baseline = resolve_model(options.baseline, options.models_file).name
            rows = [{"model": m, **record[m]} for m in sorted(record) if m != baseline]
            result[protocol] = rows
            print_records(
                rows,
                "table",
                f"vs {baseline} · {label}, both orders",
                ["model", "wins", "ties", "losses", "errors", "matches"],
            )
    if any(p in PANEL_RULES["majority"] for p in protocols):
        info(
            f"the panel again, with its agreement: arena ratings --benchmark {benchmark} --results {options.results} "
            + " ".join(f"--judge {n}" for n in names)
            + " --panel majority  (and --method agreement)"
        )
    return result


def _played(options: JudgingOptions) -> Callable[[Judgment], bool]:
    """Which stored judgments are matchups this command plays: among the tournament's models, or a candidate
    against the baseline (names resolved as the command resolves them)."""

    def name(model: str) -> str:
        try:
            return resolve_model(model, options.models_file).name
        except ArenaError:  # a replay tournament's models are names in the recorded judgments, not definitions
            return model

    if isinstance(options, TournamentOptions):
        models = {name(m) for m in options.models} if options.models else None
        return lambda j: models is None or {j.model_a, j.model_b} <= models
    assert isinstance(options, EvaluateOptions)
    baseline, candidates = name(options.baseline), {name(m) for m in options.candidates}
    return lambda j: baseline in (j.model_a, j.model_b) and bool({j.model_a, j.model_b} & candidates)
