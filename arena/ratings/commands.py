"""`arena ratings`: reads judgments from the store, computes, prints."""

from __future__ import annotations

from dataclasses import asdict

from arena.benchmarks.registry import find_prompt_set
from arena.console import info, print_records
from arena.errors import ArenaError
from arena.ratings import leaderboard
from arena.store import Judgment, ResultsStore


def run_ratings(args) -> int:
    store = ResultsStore(args.results)
    stored = store.judgments(args.benchmark)
    if not stored:
        raise ArenaError(f"no judgments stored for prompt set '{args.benchmark}' in {args.results} "
                         f"(sets with judgments there: {', '.join(store.judged_benchmarks()) or 'none'})")
    method = args.method
    protocol = args.protocol or ("relative" if method == "relative" else "pairwise")
    if method == "agreement":
        return _agreement(stored, args, protocol)
    judgments = leaderboard.select(stored, protocol, args.judge)
    if args.pool_judges or method == "bias":
        groups = {", ".join(sorted({j.judge for j in judgments})): judgments}
    else:  # human votes and a 135M model's verdicts are not the same evidence: one table per judge
        groups = {}
        for j in judgments:
            groups.setdefault(j.judge, []).append(j)
    rows_out = []
    for judge, items in sorted(groups.items()):
        rows, title, columns = _rate(items, args, method, protocol, f"{args.benchmark} · judge {judge} · {protocol}")
        if len(groups) > 1:
            rows = [{"judge": judge, **row} for row in rows]
            columns = ("judge", *columns) if columns else None
        if args.format == "table":
            print_records(rows, "table", title, columns)
        rows_out += rows
    if args.format != "table":
        print_records(rows_out, args.format, "", columns)
    if args.format == "table" and any(r.get("ci_low", 0) is None for r in rows_out):
        info(f"n/a: fewer than {leaderboard.MIN_MATCHES_FOR_INTERVAL} decided matches; no meaningful interval")
    return 0


def _rate(judgments, args, method: str, protocol: str, title: str):
    """(rows, title, columns) of one leaderboard."""
    if method == "elo":
        rows = leaderboard.elo_leaderboard(judgments, args.orderings, args.seed)
        return rows, f"Elo (paper: K=32, mean of {args.orderings} orders, 95% CI) · {title}", leaderboard.RATING_COLUMNS
    if method == "bt":
        rows = leaderboard.bt_leaderboard(judgments, args.bootstrap, args.seed, args.baseline)
        return rows, f"Bradley-Terry ({args.bootstrap} bootstrap, 95% CI) · {title}", leaderboard.RATING_COLUMNS
    if method == "relative":
        if not args.baseline:
            raise ArenaError("--method relative needs --baseline MODEL (e.g. gpt-3.5)")
        if args.by_category:
            judgments = leaderboard.with_categories(judgments, find_prompt_set(args.benchmark))
        rows = leaderboard.relative_leaderboard(judgments, args.baseline, args.bootstrap, args.seed, args.by_category)
        columns = leaderboard.RELATIVE_COLUMNS + (("category",) if args.by_category else ())
        return rows, f"% of {args.baseline} (mean of both orders, 95% CI) · {title}", columns
    from arena.ratings.diagnostics import judge_bias

    rows = [asdict(b) for b in judge_bias(judgments)]
    return rows, f"Judge position bias and order consistency · {args.benchmark}", None


def _agreement(stored: list[Judgment], args, protocol: str) -> int:
    from arena.ratings.diagnostics import judge_agreement

    judges = args.judge or sorted({j.judge for j in stored})
    if len(judges) != 2:
        raise ArenaError(f"--method agreement compares exactly two judges (give --judge twice); stored: {', '.join(judges)}")
    first, second = (leaderboard.select(stored, protocol, [j]) for j in judges)
    ratings = [{r["model"]: r["rating"] for r in leaderboard.bt_leaderboard(items, 0, args.seed)}
               for items in (first, second)]
    result = judge_agreement(first, second, *ratings)
    print_records([asdict(result)], args.format, f"Agreement {judges[0]} vs {judges[1]} · {args.benchmark}")
    return 0
