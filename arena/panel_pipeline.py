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
from argparse import Namespace
from collections.abc import Callable
from contextlib import redirect_stdout

from arena.console import info, print_records, to_json
from arena.errors import EXIT_BUDGET_STOPPED, EXIT_CALLS_FAILED, ArenaError
from arena.judging.budget import CostBudget
from arena.judging.replay import PREFIX as REPLAY_PREFIX
from arena.judging.replay import ReplayJudge
from arena.models.spec import resolve_model
from arena.ratings import leaderboard
from arena.ratings.judge_panel import PANEL_RULES, panel_judgments, panel_name
from arena.ratings.matches import build_matches
from arena.store import ResultsStore
from arena.store.atomic import write_atomically
from arena.store.records import HUMAN_JUDGE
from arena.store.results import file_safe


def judges_of(args) -> list[str]:
    """The --judge options given, or the command's default judge."""
    if isinstance(args.judge, str):  # one member's run
        return [args.judge]
    return list(args.judge) if args.judge else [args.default_judge]


def _stored_name(judge: str, args) -> str:
    """The name a member's judgments are stored under; checks the member before anything is judged."""
    if judge == HUMAN_JUDGE:
        if not ResultsStore(args.results).judgments(_benchmark_name(args), HUMAN_JUDGE):
            raise ArenaError(
                f"--judge human: no human votes stored for '{args.benchmark}' in {args.results} "
                "(collect them with arena rate serve)"
            )
        return HUMAN_JUDGE
    if judge.startswith(REPLAY_PREFIX):
        protocols = ["pairwise", "relative"] if args.protocol == "both" else [args.protocol]
        return ReplayJudge.parse(judge, _benchmark_name(args), protocols[0]).name
    from arena.pipelines import _judge_spec

    return _judge_spec(judge, args).name


def _benchmark_name(args) -> str:
    from arena.prompts import load_prompt_set

    try:
        return load_prompt_set(args.benchmark).name
    except ArenaError:  # a replay tournament names a set that need not be on this machine
        return args.benchmark


def run_panel(args, run_one: Callable[[Namespace], int], command: str) -> int:
    """Run `run_one` once per member judge, then print the panel's view."""
    judges = judges_of(args)
    repeated = sorted({j for j in judges if judges.count(j) > 1})
    if repeated:
        raise ArenaError(f"--judge {', '.join(repeated)} given more than once: a panel's members are distinct judges")
    if getattr(args, "schedule", "random") == "adaptive":
        raise ArenaError(
            "--schedule adaptive picks matchups from one judge's verdicts, so each panel member would "
            "judge different ones: give a panel --budget N alone (the same random matchups for every "
            "member) or no budget"
        )
    if command == "evaluate" and args.protocol != "single" and any(j.startswith(REPLAY_PREFIX) for j in judges):
        raise ArenaError(
            "replay: judges answer tournaments (arena tournament --judge replay:...) and single grading; "
            "for pairwise or relative verdicts against a baseline, rate the recorded judgments with "
            "arena ratings --panel majority"
        )
    names = [_stored_name(j, args) for j in judges]
    if len(set(names)) < len(names):
        raise ArenaError(
            f"--judge options {', '.join(judges)} store their verdicts under the same name "
            f"({', '.join(names)}): a panel needs distinct judges"
        )
    json_out = getattr(args, "format", "table") == "json"
    budget = CostBudget(args.max_cost)  # one cap for the whole command, shared by every member
    codes, outputs = [], {}
    for judge, name in zip(judges, names):
        if judge == HUMAN_JUDGE:
            info(f"panel member human: the votes stored in {args.results} are used as they are")
            continue
        info(f"panel member {judge}:")
        one = Namespace(**{**vars(args), "judge": judge, "panel_budget": budget})
        if json_out:
            buffer = io.StringIO()
            with redirect_stdout(buffer):
                codes.append(run_one(one))
            outputs[name] = json.loads(buffer.getvalue()) if buffer.getvalue().strip() else None
        else:
            codes.append(run_one(one))
    if not args.dry_run:
        panel = _print_panel(args, names, command, json_out)
        if json_out:
            sys.stdout.write(to_json({"judges": outputs, "panel": panel}) + "\n")
    return (
        EXIT_BUDGET_STOPPED
        if EXIT_BUDGET_STOPPED in codes
        else EXIT_CALLS_FAILED
        if EXIT_CALLS_FAILED in codes
        else max(codes, default=0)
    )


def _print_panel(args, names: list[str], command: str, json_out: bool) -> dict:
    """The panel's majority verdicts rated: Elo and Bradley-Terry for a tournament, wins/ties/losses against
    the baseline for an evaluation."""
    store = ResultsStore(args.results)
    benchmark = _benchmark_name(args)
    stored = [j for j in store.judgments(benchmark) if j.judge in names]
    played = _played(args, command)
    members = ", ".join(names)
    protocols = ["relative", "pairwise"] if args.protocol == "both" else [args.protocol]
    result: dict = {}
    for protocol in protocols:
        if protocol not in PANEL_RULES["majority"]:  # single-answer grades: the panel's mean, rated as scores
            info(
                f"the panel's mean grades: arena ratings --benchmark {benchmark} --results {args.results} "
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
        if command == "tournament":
            elo = leaderboard.elo_leaderboard(majority, args.orderings, args.seed)
            bt = leaderboard.bt_leaderboard(majority, args.bootstrap, args.seed)
            result = {"elo": elo, "bradley_terry": bt, "judges": names, "matchups": len(majority)}
            path = store.root / file_safe(benchmark) / "leaderboards" / f"{panel_name('majority')}.json"
            write_atomically(path, json.dumps(result, indent=2))
            if not json_out:
                from arena.pipelines import print_leaderboards

                print_leaderboards(elo, bt, label, args.orderings, args.bootstrap)
        else:
            record = build_matches(majority).record()
            baseline = resolve_model(args.baseline, args.models_file).name
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
            f"the panel again, with its agreement: arena ratings --benchmark {benchmark} --results {args.results} "
            + " ".join(f"--judge {n}" for n in names)
            + " --panel majority  (and --method agreement)"
        )
    return result


def _played(args, command: str) -> Callable:
    """Which stored judgments are matchups this command plays: among the tournament's models, or a candidate
    against the baseline (names resolved as the command resolves them)."""

    def name(model: str) -> str:
        try:
            return resolve_model(model, args.models_file).name
        except ArenaError:  # a replay tournament's models are names in the recorded judgments, not definitions
            return model

    if command == "tournament":
        models = {name(m) for m in args.models} if args.models else None
        return lambda j: models is None or {j.model_a, j.model_b} <= models
    baseline, candidates = name(args.baseline), {name(m) for m in args.model}
    return lambda j: baseline in (j.model_a, j.model_b) and bool({j.model_a, j.model_b} & candidates)
