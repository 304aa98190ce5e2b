"""`arena ratings`: reads judgments from the store, computes, prints."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from arena.console import info, print_records, to_json, warn
from arena.errors import AnswersMissing, ArenaError
from arena.prompts.registry import find_prompt_set
from arena.ratings import leaderboard, panel_commands
from arena.ratings.matches import build_matches, matches_from_columns
from arena.store import Judgment, ResultsStore
from arena.store.results import file_safe


def run_ratings(args) -> int:
    store = ResultsStore(args.results)
    method = args.method
    panel_commands.check_options(args)
    if method == "score":  # single-answer grades (MT-bench), not matches
        from arena.ratings.scores import run_scores

        return run_scores(store, args)
    protocol = args.protocol or (
        "relative" if method == "relative" else "single" if args.panel == "mean" else "pairwise"
    )
    if protocol == "single":  # only --panel mean picks it by default, and that goes with --method score
        raise ArenaError(
            f"--method {method} rates pairwise verdicts (protocol pairwise or relative); single-answer grades "
            "(protocol single, e.g. MT-bench) are rated with --method score"
        )
    if args.control and method not in ("bt", "winrate"):
        raise ArenaError("--control goes with --method bt (style-controlled Bradley-Terry) or --method winrate")
    if method == "bt" and args.control:
        return _controlled_bt(store, args, protocol)
    if method == "robustness":
        from arena.ratings.robustness_command import run_robustness

        return run_robustness(store, args, protocol)
    judge_view = args.panel or args.exclude_self or args.self_model  # arena/ratings/panel_commands.py
    if (
        method in ("elo", "bt") and not judge_view
    ):  # the scaled path: numpy columns from the store's cache, no object per judgment
        columns = store.judgment_columns(args.benchmark)
        _require_judgments(store, args, len(columns))
        judges = _judges_with(columns, protocol, args.judge)
        groups = _judge_groups(judges, args.pool_judges)
        sections = [(group, matches_from_columns(columns, protocol, group)) for group in groups]
        rate = (
            (lambda m: leaderboard.elo_rows(m, args.orderings, args.seed))
            if method == "elo"
            else (lambda m: leaderboard.bt_rows(m, args.bootstrap, args.seed, args.baseline))
        )
        results = [
            (
                ", ".join(group),
                *_titled(rate(m), args, method, f"{args.benchmark} · judge {', '.join(group)} · {protocol}"),
            )
            for group, m in sections
        ]
        code = _print_sections(results, args)
        panel_commands.note_self_judging_columns(columns, judges, protocol, args)
        return code
    stored = store.judgments(args.benchmark)
    _require_judgments(store, args, len(stored))
    if method == "agreement":
        return _agreement(stored, args, protocol)
    judgments = panel_commands.judge_view(stored, args, protocol) or leaderboard.select(stored, protocol, args.judge)
    results = [
        (judge, *_rate(store, items, args, method, f"{args.benchmark} · judge {judge} · {protocol}"))
        for judge, items in _by_judge_group(judgments, args.pool_judges or method == "bias").items()
    ]
    code = _print_sections(results, args)
    if args.format == "table":
        if method == "bias":
            _note_one_model_first(judgments)
            panel_commands.print_self_preference(results[0][1])
        else:
            panel_commands.note_self_judging(judgments, args)
    return code


def _judge_groups(judges: list[str], pool: bool) -> list[list[str]]:
    """The judges rated together: one group per judge, by name (human votes and a 135M model's verdicts are
    not the same evidence), or all of them pooled. Both the columnar and the object path group this way."""
    return [judges] if pool else [[judge] for judge in judges]


def _by_judge_group(judgments: list[Judgment], pool: bool) -> dict[str, list[Judgment]]:
    """The judgments of each group of _judge_groups, under the group's judge names joined."""
    groups = _judge_groups(sorted({j.judge for j in judgments}), pool)
    return {", ".join(group): [j for j in judgments if j.judge in group] for group in groups}


def _require_judgments(store: ResultsStore, args, count: int) -> None:
    if not count:
        folder = store.root / file_safe(args.benchmark) / "judgments"
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        if files:  # the set is listed as judged, yet nothing in its files reads as a record
            described = ", ".join(f"{path} ({'empty' if path.stat().st_size == 0 else 'no records'})" for path in files)
            raise ArenaError(
                f"no judgments stored for prompt set '{args.benchmark}' in {args.results}: its judgment files "
                f"hold no records: {described}"
            )
        raise ArenaError(
            f"no judgments stored for prompt set '{args.benchmark}' in {args.results} "
            f"(sets with judgments there: {', '.join(store.judged_benchmarks()) or 'none'})"
        )


def _judges_with(columns, protocol: str, wanted: list[str] | None) -> list[str]:
    import numpy as np

    rows = columns.codes["protocol"] == columns.code("protocol", protocol)
    present = sorted(columns.vocab["judge"][i] for i in np.unique(columns.codes["judge"][rows]))
    missing = [j for j in wanted or [] if j not in present]
    if not present or missing:
        described = ", ".join(present) or "none"
        raise ArenaError(
            f"no {protocol} judgments by {', '.join(missing) or 'any judge'} for this prompt set; "
            f"judges with {protocol} judgments: {described}"
        )
    return wanted or present


def _titled(rows, args, method, title):
    if method == "elo":
        used = rows[0]["orderings"] if rows else args.orderings
        what = f"mean of {used} orders" + (" (auto)" if args.orderings == "auto" else "")
        if args.orderings == "auto":
            _say_if_auto_fell_short(rows, title)
        return rows, f"Elo (paper: K=32, {what}, 95% spread of single orders) · {title}", leaderboard.RATING_COLUMNS
    return rows, f"Bradley-Terry ({args.bootstrap} bootstrap, 95% CI) · {title}", leaderboard.RATING_COLUMNS


def _say_if_auto_fell_short(rows: list[dict], title: str) -> None:
    """--orderings auto promises every mean's Monte Carlo error below 0.1 point; at its cap it may not get
    there (K = 32 makes single orders swing by tens of points): say so, with the precision reached."""
    from arena.ratings.elo import AUTO_MAX_ORDERINGS, AUTO_TARGET_ERROR

    worst = max((r["mean_se"] for r in rows), default=0.0)
    if worst >= AUTO_TARGET_ERROR:
        warn(
            f"--orderings auto stopped at its cap of {AUTO_MAX_ORDERINGS:,} orders before reaching its target "
            f"({title}): the largest Monte Carlo error of a mean is {worst:.3f} points, not below "
            f"{AUTO_TARGET_ERROR}; the mean_ci_low/high columns of --format json carry it"
        )


def _print_sections(results, args) -> int:
    rows_out, columns_out = [], None
    for judge, rows, title, columns in results:
        # JSON and CSV rows always name their judge (one shape whatever the number of judges); a table does
        # when there are several
        if len(results) > 1 or args.format != "table":
            rows = [{"judge": judge, **row} for row in rows]
            columns = ("judge", *(c for c in columns if c != "judge")) if columns else None
        if args.format == "table":
            print_records(rows, "table", title, columns)
        rows_out += rows
        columns_out = columns
    if args.format != "table":
        print_records(rows_out, args.format, "", columns_out)
    elif any(r.get("ci_low", 0) is None for r in rows_out):
        unrated = "; a rating of n/a: too few to rate at all" if leaderboard.not_estimable(rows_out) else ""
        info(f"n/a: fewer than {leaderboard.MIN_MATCHES_FOR_INTERVAL} decided matches; no meaningful interval{unrated}")
    return 0


def _styled_groups(store: ResultsStore, args, protocol: str, names: tuple[str, ...]):
    """(judges joined, matches, style differences) per judge group: from the store's columns, as every other
    rating method reads them, or from judgment objects when a panel or --exclude-self makes its own set."""
    from arena.ratings.style.data import styled_matches, styled_matches_from_columns

    if args.panel or args.exclude_self or args.self_model:
        stored = store.judgments(args.benchmark)
        _require_judgments(store, args, len(stored))
        judgments = panel_commands.judge_view(stored, args, protocol) or []
        for judge, items in _by_judge_group(judgments, args.pool_judges).items():
            yield (judge, *styled_matches(store, args.benchmark, items, names))
        return
    columns = store.judgment_columns(args.benchmark)
    _require_judgments(store, args, len(columns))
    for group in _judge_groups(sorted(_judges_with(columns, protocol, args.judge)), args.pool_judges):
        yield (", ".join(group), *styled_matches_from_columns(store, args.benchmark, columns, protocol, group, names))


def _controlled_bt(store: ResultsStore, args, protocol: str) -> int:
    from arena.ratings.style.features import resolve_control

    names = resolve_control(args.control)
    output: list[dict[str, Any]] = []
    for judge, matches, features in _styled_groups(store, args, protocol, names):
        rows, coefficients = leaderboard.controlled_bt_rows(
            matches, features, names, args.bootstrap, args.seed, args.baseline
        )
        if args.format == "table":
            title = (
                f"Bradley-Terry controlled for {', '.join(names)} ({args.bootstrap} bootstrap, 95% CI) · "
                f"{args.benchmark} · judge {judge}"
            )
            print_records(rows, "table", title, leaderboard.CONTROLLED_COLUMNS)
            print_records(
                coefficients,
                "table",
                f"Style coefficients (log-odds per unit of normalised difference) · judge {judge}",
                leaderboard.COEFFICIENT_COLUMNS,
            )
        output.append({"judge": judge, "ratings": rows, "coefficients": coefficients})
    # JSON: {ratings, coefficients}, every row naming its judge, however many judges. CSV: both tables, one
    # row each, told apart by `table` (the coefficients are part of what the terminal shows).
    ratings = [{"judge": o["judge"], **r} for o in output for r in o["ratings"]]
    coefficients = [{"judge": o["judge"], **c} for o in output for c in o["coefficients"]]
    if args.format == "json":
        import sys

        sys.stdout.write(to_json({"ratings": ratings, "coefficients": coefficients}) + "\n")
    elif args.format == "csv":
        columns = ("table", "judge", *leaderboard.CONTROLLED_COLUMNS, "feature", "beta")
        print_records(
            [{"table": "ratings", **r} for r in ratings] + [{"table": "coefficients", **c} for c in coefficients],
            "csv",
            "",
            columns,
        )
    return 0


def _rate(store: ResultsStore, judgments, args, method: str, title: str):
    """(rows, title, columns) of an Elo or Bradley-Terry table (object path: panels, --exclude-self), a
    relative-score table, win rates, or the judge diagnostics."""
    if method in ("elo", "bt"):
        rate = leaderboard.elo_rows if method == "elo" else leaderboard.bt_rows
        extra = (args.orderings, args.seed) if method == "elo" else (args.bootstrap, args.seed, args.baseline)
        return _titled(rate(build_matches(judgments), *extra), args, method, title)
    if method == "winrate":
        if not args.baseline:
            raise ArenaError("--method winrate needs --baseline MODEL (e.g. gpt-3.5)")
        lengths = None
        if args.control:
            from arena.ratings.style.features import resolve_control

            if resolve_control(args.control) != ("length",):
                raise ArenaError("--method winrate controls for length only: use --control length")
            from arena.ratings.style.data import length_differences

            lengths = length_differences(store, args.benchmark, judgments)
        rows = leaderboard.winrate_rows(judgments, args.baseline, lengths, args.bootstrap, args.seed)
        what = "raw and length-controlled" if lengths is not None else "raw"
        winrate_columns = leaderboard.WINRATE_COLUMNS
        if lengths is None and args.format == "table":  # JSON and CSV keep one shape, the LC fields null
            winrate_columns = tuple(c for c in winrate_columns if c not in leaderboard.LC_COLUMNS)
        title = f"Win rate vs {args.baseline}, {what} (ties half, 95% CI over questions) · {title}"
        return rows, title, winrate_columns
    if method == "relative":
        if not args.baseline:
            raise ArenaError("--method relative needs --baseline MODEL (e.g. gpt-3.5)")
        if args.by_category:
            judgments = leaderboard.with_categories(judgments, find_prompt_set(args.benchmark))
            if not any(j.category for j in judgments):
                raise ArenaError(
                    f"--by-category: the judgments carry no categories and prompt set '{args.benchmark}' "
                    f"is not available here to supply them: run `arena prompts pull {args.benchmark}` "
                    "(or add --from FILE), then rerun"
                )
        rows = leaderboard.relative_leaderboard(judgments, args.baseline, args.bootstrap, args.seed, args.by_category)
        relative_columns = leaderboard.RELATIVE_COLUMNS + (("category",) if args.by_category else ())
        return rows, f"% of {args.baseline} (mean of both orders, 95% CI) · {title}", relative_columns
    from arena.ratings.diagnostics import judge_bias

    rows = [asdict(b) for b in judge_bias(judgments)]
    for row in rows:
        row.update(_length_preference(store, args, [j for j in judgments if j.judge == row["judge"]]))
    columns = tuple(rows[0]) if rows and args.format == "table" else None  # the table leaves self-preference apart
    rows = panel_commands.with_self_preference(rows, judgments, args)
    return rows, f"Judge position bias, order consistency and length preference · {args.benchmark}", columns


def _note_one_model_first(judgments: list[Judgment]) -> None:
    from arena.ratings.diagnostics import always_shown_first

    for judge, model in always_shown_first(judgments).items():
        info(
            f"note: every judgment by {judge} shows {model} first, so its position bias cannot be told from "
            f"{model}'s strength (first_win_share is {model}'s win rate) and no pair was judged in both orders "
            "(consistency n/a)"
        )


def _length_preference(store: ResultsStore, args, judgments) -> dict:
    """The judge's length coefficient (models held fixed) and how often the longer answer won, when the
    answers behind its verdicts are stored; None otherwise."""
    from arena.ratings.style.data import styled_matches
    from arena.ratings.style.fit import length_bias

    empty = {"longer_wins_share": None, "length_beta": None, "length_beta_low": None, "length_beta_high": None}
    pairwise = [j for j in judgments if j.protocol == "pairwise"]
    if not pairwise:
        return empty
    try:
        matches, features = styled_matches(store, args.benchmark, pairwise, ("length",))
    except AnswersMissing:
        return empty  # answers not stored: position bias alone
    bias = length_bias(pairwise[0].judge, matches, features[:, 0], min(args.bootstrap, 200), args.seed)
    return {
        "longer_wins_share": round(bias.longer_wins_share, 4),
        "length_beta": round(bias.length_beta, 4),
        "length_beta_low": round(bias.length_beta_low, 4),
        "length_beta_high": round(bias.length_beta_high, 4),
    }


def _agreement(stored: list[Judgment], args, protocol: str) -> int:
    from arena.ratings.diagnostics import judge_agreement

    judges = args.judge or sorted({j.judge for j in stored if j.protocol == protocol})
    if len(judges) > 2 or args.panel:
        return panel_commands.panel_agreement(stored, args, protocol)
    if len(judges) != 2:
        stored_judges = sorted({(j.judge, j.protocol) for j in stored})
        described = ", ".join(f"{judge} ({judged})" for judge, judged in stored_judges) or "none"
        raise ArenaError(
            f"--method agreement compares exactly two judges' {protocol} verdicts (give --judge twice); "
            f"judges stored: {described}"
        )
    first, second = (leaderboard.select(stored, protocol, [j]) for j in judges)
    ratings = [
        {r["model"]: r["rating"] for r in leaderboard.bt_leaderboard(items, 0, args.seed)} for items in (first, second)
    ]
    result = judge_agreement(first, second, *ratings)
    print_records([asdict(result)], args.format, f"Agreement {judges[0]} vs {judges[1]} · {args.benchmark}")
    return 0
