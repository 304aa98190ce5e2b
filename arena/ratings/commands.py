"""`arena ratings`: reads judgments from the store, computes, prints."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from arena.console import info, print_records, to_json, warn
from arena.errors import AnswersMissing, ArenaError, NothingToRate
from arena.prompts.registry import find_prompt_set
from arena.ratings import leaderboard, panel_commands
from arena.ratings.matches import Matches, build_matches, matches_from_columns
from arena.ratings.options import RatingsOptions
from arena.ratings.relative import BaselineNotCovered
from arena.store import Judgment, ResultsStore
from arena.store.results import file_safe


def run_ratings(args: Namespace) -> int:
    return show_ratings(RatingsOptions.of(args))


def show_ratings(options: RatingsOptions) -> int:
    store = ResultsStore(options.results)
    method = options.method
    panel_commands.check_options(options)
    if method == "score":  # single-answer grades (MT-bench), not matches
        from arena.ratings.scores import run_scores

        return run_scores(store, options)
    protocol = options.protocol or (
        "relative" if method == "relative" else "single" if options.panel == "mean" else "pairwise"
    )
    if protocol == "single":  # only --panel mean picks it by default, and that goes with --method score
        raise ArenaError(
            f"--method {method} rates pairwise verdicts (protocol pairwise or relative); single-answer grades "
            "(protocol single, e.g. MT-bench) are rated with --method score"
        )
    if options.control and method not in ("bt", "winrate"):
        raise ArenaError("--control goes with --method bt (style-controlled Bradley-Terry) or --method winrate")
    if method == "bt" and options.control:
        return _controlled_bt(store, options, protocol)
    if method == "robustness":
        from arena.ratings.robustness_command import run_robustness

        return run_robustness(store, options, protocol)
    judge_view = options.panel or options.exclude_self or options.self_model  # arena/ratings/panel_commands.py
    if (
        method in ("elo", "bt") and not judge_view
    ):  # the scaled path: numpy columns from the store's cache, no object per judgment
        columns = store.judgment_columns(options.benchmark)
        _require_judgments(store, options, len(columns))
        judges = _judges_with(columns, protocol, options.judge)
        groups = _judge_groups(judges, options.pool_judges)
        sections = [(group, matches_from_columns(columns, protocol, group)) for group in groups]
        results = _each_judge(
            [(", ".join(group), m) for group, m in sections],
            lambda judge, m: _rated_matches(m, options, method, f"{options.benchmark} · judge {judge} · {protocol}"),
            options,
        )
        code = _print_sections(results, options)
        panel_commands.note_self_judging_columns(columns, judges, protocol, options)
        return code
    stored = store.judgments(options.benchmark)
    _require_judgments(store, options, len(stored))
    if method == "agreement":
        return _agreement(stored, options, protocol)
    judgments = panel_commands.judge_view(stored, options, protocol) or leaderboard.select(
        stored, protocol, options.judge
    )
    results = _each_judge(
        list(_by_judge_group(judgments, options.pool_judges or method == "bias").items()),
        lambda judge, items: _rate(store, items, options, method, f"{options.benchmark} · judge {judge} · {protocol}"),
        options,
    )
    code = _print_sections(results, options)
    if options.format == "table":
        if method == "bias":
            _note_one_model_first(judgments)
            panel_commands.print_self_preference(results[0][1])
        else:
            panel_commands.note_self_judging(judgments, options)
    return code


def _each_judge(groups: list[tuple[str, Any]], rate, options: RatingsOptions) -> list[tuple]:
    """(judge, rows, title, columns) for every judge group `rate` can rate. A judge whose judgments are all
    errors, or that never judged --baseline, is skipped with a line naming it; only when no judge is left is
    that an error, naming what each judge lacks."""
    results, only_errors, uncovered = [], [], {}
    for judge, payload in groups:
        try:
            rows, title, columns = rate(judge, payload)
        except BaselineNotCovered as missing:
            uncovered[judge] = missing.present
        except NothingToRate:
            only_errors.append(judge)
        else:
            if rows:
                results.append((judge, rows, title, columns))
            else:  # win rates: the baseline's judgments all errors
                only_errors.append(judge)
    retry = "judge them again with --retry-errors (arena evaluate, arena judge)"
    baseline = options.baseline
    covers = "; ".join(f"judge {judge} covers {', '.join(models)}" for judge, models in uncovered.items())
    if not results:
        reasons = []
        if only_errors:
            reasons.append(f"every judgment by {', '.join(only_errors)} is an error: {retry}")
        if uncovered:
            reasons.append(f"no judge judged baseline '{baseline}' ({covers})")
        raise ArenaError(f"nothing to rate: {'; '.join(reasons)}")
    if only_errors:
        warn(f"every judgment by {', '.join(only_errors)} is an error, so it is not rated: {retry}")
    if uncovered:
        info(f"note: skipped judge {', '.join(uncovered)}: no judgment with baseline '{baseline}' ({covers})")
    return results


def _judgments_viewed(stored: list[Judgment], options: RatingsOptions, protocol: str) -> list[Judgment]:
    """The judgments rated: the panel's and each judge's view (panel_commands), or the --judge ones."""
    return panel_commands.judge_view(stored, options, protocol) or leaderboard.select(stored, protocol, options.judge)


def _judge_groups(judges: list[str], pool: bool) -> list[list[str]]:
    """The judges rated together: one group per judge, by name (human votes and a 135M model's verdicts are
    not the same evidence), or all of them pooled. Both the columnar and the object path group this way."""
    return [judges] if pool else [[judge] for judge in judges]


def _by_judge_group(judgments: list[Judgment], pool: bool) -> dict[str, list[Judgment]]:
    """The judgments of each group of _judge_groups, under the group's judge names joined."""
    groups = _judge_groups(sorted({j.judge for j in judgments}), pool)
    return {", ".join(group): [j for j in judgments if j.judge in group] for group in groups}


def _require_judgments(store: ResultsStore, options: RatingsOptions, count: int) -> None:
    if not count:
        folder = store.root / file_safe(options.benchmark) / "judgments"
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        if files:  # the set is listed as judged, yet nothing in its files reads as a record
            described = ", ".join(f"{path} ({'empty' if path.stat().st_size == 0 else 'no records'})" for path in files)
            raise ArenaError(
                f"no judgments stored for prompt set '{options.benchmark}' in {options.results}: its judgment files "
                f"hold no records: {described}"
            )
        raise ArenaError(
            f"no judgments stored for prompt set '{options.benchmark}' in {options.results} "
            f"(sets with judgments there: {', '.join(store.judged_benchmarks()) or 'none'})"
        )


def _judges_with(columns, protocol: str, wanted: Sequence[str] | None) -> list[str]:
    import numpy as np

    rows = columns.codes["protocol"] == columns.code("protocol", protocol)
    present = sorted(columns.vocab["judge"][i] for i in np.unique(columns.codes["judge"][rows]))
    missing = [j for j in wanted or [] if j not in present]
    if not present or missing:
        described = ", ".join(present) or "none"
        single = columns.codes["protocol"] == columns.code("protocol", "single")
        graded = (
            ""
            if protocol == "single" or not single.any()
            else "; single-answer grades (e.g. MT-bench) are stored: rate them with --method score"
        )
        raise ArenaError(
            f"no {protocol} judgments by {', '.join(missing) or 'any judge'} for this prompt set; "
            f"judges with {protocol} judgments: {described}{graded}"
        )
    return list(wanted or present)


def _titled(rows, options: RatingsOptions, method, title):
    if method == "elo":
        used = rows[0]["orderings"] if rows else options.orderings
        what = f"mean of {used} orders" + (" (auto)" if options.orderings == "auto" else "")
        if options.orderings == "auto":
            _say_if_auto_fell_short(rows, title)
        return rows, f"Elo (paper: K=32, {what}, 95% spread of single orders) · {title}", leaderboard.RATING_COLUMNS
    return rows, f"Bradley-Terry ({options.bootstrap} bootstrap, 95% CI) · {title}", leaderboard.RATING_COLUMNS


def _say_if_auto_fell_short(rows: list[dict], title: str) -> None:
    """--orderings auto promises every mean's Monte Carlo error below 0.1 point; at its cap it may not get
    there (K = 32 makes single orders swing by tens of points): say so, with the precision reached."""
    from arena.ratings.paper_elo import AUTO_MAX_ORDERINGS, AUTO_TARGET_ERROR

    worst = max((r["mean_se"] for r in rows), default=0.0)
    if worst >= AUTO_TARGET_ERROR:
        warn(
            f"--orderings auto stopped at its cap of {AUTO_MAX_ORDERINGS:,} orders before reaching its target "
            f"({title}): the largest Monte Carlo error of a mean is {worst:.3f} points, not below "
            f"{AUTO_TARGET_ERROR}; the mean_ci_low/high columns of --format json carry it"
        )


def _print_sections(results, options: RatingsOptions) -> int:
    rows_out, columns_out = [], None
    for judge, rows, title, columns in results:
        # JSON and CSV rows always name their judge (one shape whatever the number of judges); a table does
        # when there are several
        if len(results) > 1 or options.format != "table":
            rows = [{"judge": judge, **row} for row in rows]
            columns = ("judge", *(c for c in columns if c != "judge")) if columns else None
        if options.format == "table":
            print_records(rows, "table", title, columns)
        rows_out += rows
        columns_out = columns
    if options.format != "table":
        print_records(rows_out, options.format, "", columns_out)
    elif any(r.get("ci_low", 0) is None for r in rows_out):
        unrated = "; a rating of n/a: too few to rate at all" if leaderboard.not_estimable(rows_out) else ""
        info(f"n/a: fewer than {leaderboard.MIN_MATCHES_FOR_INTERVAL} decided matches; no meaningful interval{unrated}")
    return 0


def _styled_groups(store: ResultsStore, options: RatingsOptions, protocol: str, names: tuple[str, ...]):
    """(judges joined, matches, style differences) per judge group: from the store's columns, as every other
    rating method reads them, or from judgment objects when a panel or --exclude-self makes its own set."""
    from arena.ratings.style.data import styled_matches, styled_matches_from_columns

    if options.panel or options.exclude_self or options.self_model:
        stored = store.judgments(options.benchmark)
        _require_judgments(store, options, len(stored))
        judgments = panel_commands.judge_view(stored, options, protocol) or []
        for judge, items in _by_judge_group(judgments, options.pool_judges).items():
            yield (judge, *styled_matches(store, options.benchmark, items, names))
        return
    columns = store.judgment_columns(options.benchmark)
    _require_judgments(store, options, len(columns))
    for group in _judge_groups(sorted(_judges_with(columns, protocol, options.judge)), options.pool_judges):
        yield (
            ", ".join(group),
            *styled_matches_from_columns(store, options.benchmark, columns, protocol, group, names),
        )


def _controlled_bt(store: ResultsStore, options: RatingsOptions, protocol: str) -> int:
    from arena.ratings.style.features import resolve_control
    from arena.ratings.style.fit import style_warning

    assert options.control is not None  # the handler comes here only with --control
    names = resolve_control(options.control)
    output: list[dict[str, Any]] = []
    warnings: list[str] = []
    for judge, matches, features in _styled_groups(store, options, protocol, names):
        rows, coefficients, fit = leaderboard.controlled_bt_rows(
            matches, features, names, options.bootstrap, options.seed, options.baseline
        )
        message = style_warning(fit, judge)
        if message:  # before the tables, so that it is read first
            if fit.alarming:
                warn(message)
            else:  # only features with no differences at all, which leave the ratings alone
                info(f"note: {message}")
            warnings.append(message)
        if options.format == "table":
            marked = "" if fit.trustworthy else " · UNRELIABLE, see the warning above"
            title = (
                f"Bradley-Terry controlled for {', '.join(names)} ({options.bootstrap} bootstrap, 95% CI) · "
                f"{options.benchmark} · judge {judge}{marked}"
            )
            print_records(rows, "table", title, leaderboard.CONTROLLED_COLUMNS)
            noted = any(c["note"] for c in coefficients)
            print_records(
                coefficients,
                "table",
                f"Style coefficients (log-odds per unit of normalised difference) · judge {judge}",
                (*leaderboard.COEFFICIENT_COLUMNS, "note") if noted else leaderboard.COEFFICIENT_COLUMNS,
            )
        output.append({"judge": judge, "ratings": rows, "coefficients": coefficients})
    if options.format == "table":  # under the tables, as every other method notes it
        _note_self_judging(store, options, protocol)
    # JSON: {ratings, coefficients, warnings}, every row naming its judge, however many judges. CSV: both
    # tables, one row each, told apart by `table` (the coefficients are part of what the terminal shows).
    ratings = [{"judge": o["judge"], **r} for o in output for r in o["ratings"]]
    coefficients = [{"judge": o["judge"], **c} for o in output for c in o["coefficients"]]
    if options.format == "json":
        import sys

        sys.stdout.write(to_json({"ratings": ratings, "coefficients": coefficients, "warnings": warnings}) + "\n")
    elif options.format == "csv":
        columns = ("table", "judge", *leaderboard.CONTROLLED_COLUMNS, "feature", "beta")
        print_records(
            [{"table": "ratings", **r} for r in ratings] + [{"table": "coefficients", **c} for c in coefficients],
            "csv",
            "",
            columns,
        )
    return 0


def _note_self_judging(store: ResultsStore, options: RatingsOptions, protocol: str) -> None:
    """The 'judge X is also a contestant' note, from the judgment objects where a panel or --exclude-self
    chose them, else from the store's columns."""
    if options.panel or options.exclude_self or options.self_model:
        panel_commands.note_self_judging(
            _judgments_viewed(store.judgments(options.benchmark), options, protocol), options
        )
        return
    columns = store.judgment_columns(options.benchmark)
    panel_commands.note_self_judging_columns(columns, _judges_with(columns, protocol, options.judge), protocol, options)


def _rated_matches(matches: Matches, options: RatingsOptions, method: str, title: str):
    """(rows, title, columns) of an Elo or Bradley-Terry table, whichever path built the matches."""
    if method == "elo":
        return _titled(leaderboard.elo_rows(matches, options.orderings, options.seed), options, method, title)
    rows = leaderboard.bt_rows(matches, options.bootstrap, options.seed, options.baseline)
    return _titled(rows, options, method, title)


def _rate(store: ResultsStore, judgments, options: RatingsOptions, method: str, title: str):
    """(rows, title, columns) of an Elo or Bradley-Terry table (object path: panels, --exclude-self), a
    relative-score table, win rates, or the judge diagnostics."""
    if method in ("elo", "bt"):
        return _rated_matches(build_matches(judgments), options, method, title)
    if method == "winrate":
        if not options.baseline:
            raise ArenaError("--method winrate needs --baseline MODEL (e.g. gpt-3.5)")
        lengths = None
        if options.control:
            from arena.ratings.style.features import resolve_control

            if resolve_control(options.control) != ("length",):
                raise ArenaError("--method winrate controls for length only: use --control length")
            from arena.ratings.style.data import length_differences

            lengths = length_differences(store, options.benchmark, judgments)
        rows = leaderboard.winrate_rows(judgments, options.baseline, lengths, options.bootstrap, options.seed)
        what = "raw and length-controlled" if lengths is not None else "raw"
        winrate_columns = leaderboard.WINRATE_COLUMNS
        if lengths is None and options.format == "table":  # JSON and CSV keep one shape, the LC fields null
            winrate_columns = tuple(c for c in winrate_columns if c not in leaderboard.LC_COLUMNS)
        title = f"Win rate vs {options.baseline}, {what} (ties half, 95% CI over questions) · {title}"
        return rows, title, winrate_columns
    if method == "relative":
        if not options.baseline:
            raise ArenaError("--method relative needs --baseline MODEL (e.g. gpt-3.5)")
        if options.by_category:
            judgments = leaderboard.with_categories(judgments, find_prompt_set(options.benchmark))
            if not any(j.category for j in judgments):
                raise ArenaError(
                    f"--by-category: the judgments carry no categories and prompt set '{options.benchmark}' "
                    f"is not available here to supply them: run `arena prompts pull {options.benchmark}` "
                    "(or add --from FILE), then rerun"
                )
        rows = leaderboard.relative_leaderboard(
            judgments, options.baseline, options.bootstrap, options.seed, options.by_category
        )
        relative_columns = leaderboard.RELATIVE_COLUMNS + (("category",) if options.by_category else ())
        return rows, f"% of {options.baseline} (mean of both orders, 95% CI) · {title}", relative_columns
    from arena.ratings.diagnostics import judge_bias

    rows = [asdict(b) for b in judge_bias(judgments)]
    for row in rows:
        row.update(_length_preference(store, options, [j for j in judgments if j.judge == row["judge"]]))
    columns = tuple(rows[0]) if rows and options.format == "table" else None  # the table leaves self-preference apart
    rows = panel_commands.with_self_preference(rows, judgments, options)
    return rows, f"Judge position bias, order consistency and length preference · {options.benchmark}", columns


def _note_one_model_first(judgments: list[Judgment]) -> None:
    from arena.ratings.diagnostics import always_shown_first

    for judge, model in always_shown_first(judgments).items():
        info(
            f"note: every judgment by {judge} shows {model} first, so its position bias cannot be told from "
            f"{model}'s strength (first_win_share is {model}'s win rate) and no pair was judged in both orders "
            "(consistency n/a)"
        )


def _length_preference(store: ResultsStore, options: RatingsOptions, judgments) -> dict:
    """The judge's length coefficient (models held fixed) and how often the longer answer won, when the
    answers behind its verdicts are stored; None otherwise."""
    from arena.ratings.style.data import styled_matches
    from arena.ratings.style.fit import length_bias

    empty = {"longer_wins_share": None, "length_beta": None, "length_beta_low": None, "length_beta_high": None}
    pairwise = [j for j in judgments if j.protocol == "pairwise"]
    if not pairwise:
        return empty
    try:
        matches, features = styled_matches(store, options.benchmark, pairwise, ("length",))
    except AnswersMissing:
        return empty  # answers not stored: position bias alone
    bias = length_bias(pairwise[0].judge, matches, features[:, 0], min(options.bootstrap, 200), options.seed)
    if bias.warning:
        warn(bias.warning)
    return {
        "longer_wins_share": round(bias.longer_wins_share, 4),
        "length_beta": round(bias.length_beta, 4),
        "length_beta_low": round(bias.length_beta_low, 4),
        "length_beta_high": round(bias.length_beta_high, 4),
    }


def _agreement(stored: list[Judgment], options: RatingsOptions, protocol: str) -> int:
    from arena.ratings.diagnostics import judge_agreement

    judges = options.judge or sorted({j.judge for j in stored if j.protocol == protocol})
    if len(judges) > 2 or options.panel:
        return panel_commands.panel_agreement(stored, options, protocol)
    if len(judges) != 2:
        stored_judges = sorted({(j.judge, j.protocol) for j in stored})
        described = ", ".join(f"{judge} ({judged})" for judge, judged in stored_judges) or "none"
        raise ArenaError(
            f"--method agreement compares two or more judges' {protocol} verdicts (give --judge once per judge, "
            f"or none for every judge stored); found {len(judges)}: {', '.join(judges) or 'none'}; judges stored: "
            f"{described}"
        )
    first, second = (leaderboard.select(stored, protocol, [j]) for j in judges)
    ratings = [
        {r["model"]: r["rating"] for r in leaderboard.bt_leaderboard(items, 0, options.seed)}
        for items in (first, second)
    ]
    result = judge_agreement(first, second, *ratings)
    print_records([asdict(result)], options.format, f"Agreement {judges[0]} vs {judges[1]} · {options.benchmark}")
    return 0
