"""`arena ratings` options for judge panels and self-preference: `--panel`, `--exclude-self`, `--self-model`,
and the panel's views in `--method agreement` and `--method bias`. The maths is in `arena.ratings.panel`;
which items and which judge's own model, in `arena.ratings.judge_panel`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.console import info, print_records, to_json
from arena.errors import ArenaError
from arena.ratings import judge_panel, leaderboard
from arena.store import Judgment

SELF_FIELDS = (
    "own_model",
    "self_matches",
    "own_win_rate",
    "reference_win_rate",
    "self_preference",
    "self_ci_low",
    "self_ci_high",
    "self_reference",
)
PAIR_COLUMNS = ("judge_1", "judge_2", "items", "agreement", "decided_items", "agreement_without_ties")

if TYPE_CHECKING:
    from arena.ratings.options import RatingsOptions


def declared_self_models(options: RatingsOptions) -> dict[str, str]:
    """`--self-model JUDGE=MODEL` options as a mapping; a malformed one is bad input."""
    declared = {}
    for text in options.self_model or []:
        judge, sep, model = text.partition("=")
        if not sep or not judge.strip() or not model.strip():
            raise ArenaError(f"--self-model {text!r}: expected JUDGE=MODEL, e.g. --self-model openai:gpt-4o=gpt-4o")
        declared[judge.strip()] = model.strip()
    return declared


def _members(judgments: list[Judgment], options: RatingsOptions) -> list[str]:
    present = sorted({j.judge for j in judgments})
    return [j for j in options.judge if j in present] if options.judge else present


def own_models_of(judgments: list[Judgment], options: RatingsOptions) -> dict[str, str]:
    judges = sorted({j.judge for j in judgments if not j.judge.startswith(judge_panel.PANEL_PREFIX)})
    return judge_panel.own_models(judges, judge_panel.contestants_of(judgments), declared_self_models(options))


def check_options(options: RatingsOptions) -> None:
    """Combinations that cannot mean what they say: one message and exit 2 before anything is read."""
    judges = list(options.judge or ())
    repeated = sorted({j for j in judges if judges.count(j) > 1})
    if repeated:  # the tournament's wording (arena/pipelines/panel.py)
        raise ArenaError(f"--judge {', '.join(repeated)} given more than once: each judge is rated once")
    if options.method == "robustness" and (options.panel or options.exclude_self):
        raise ArenaError(
            "--panel and --exclude-self do not apply to --method robustness (it tests one judge's leaderboard)"
        )
    if options.exclude_self and options.method == "bias":
        raise ArenaError(
            "--exclude-self goes with the rating methods; --method bias measures the self-preference "
            "that --exclude-self would leave out"
        )
    if options.panel and options.pool_judges:
        raise ArenaError("--panel rates the panel beside each judge; --pool-judges would count every vote twice")
    if options.panel == "majority" and options.method == "relative":
        raise ArenaError(
            "--panel majority gives verdicts, not the two 1-10 scores --method relative sums: rate the "
            "panel of relative judgments with --method winrate, elo or bt (--protocol relative)"
        )
    if options.panel == "mean" and options.method != "score":
        raise ArenaError("--panel mean averages single-answer grades (1-10): rate them with --method score")


def judge_view(stored: list[Judgment], options: RatingsOptions, protocol: str) -> list[Judgment] | None:
    """The judgments to rate when a panel, --exclude-self or --self-model is asked for: the selected judges' own
    (less the self-judged ones with --exclude-self) and the panel's; None when none of them is given."""
    if not (options.panel or options.exclude_self or options.self_model):
        return None
    chosen = leaderboard.select(stored, protocol, options.judge)
    judges = _members(chosen, options)
    if options.panel:
        judge_panel.check_panel(options.panel, protocol, judges)
    own = own_models_of(chosen, options)  # checks --self-model before anything is printed
    if options.exclude_self:
        left_out = judge_panel.self_judged_counts(chosen, own)
        chosen = judge_panel.without_self(chosen, own)
        info(
            "--exclude-self: "
            + (
                "; ".join(
                    f"left out {n} judgments of {judge} on its own model {own[judge]}"
                    for judge, n in sorted(left_out.items())
                )
                or "no judge here judged its own model; nothing left out"
            )
        )
    if options.panel:
        chosen = chosen + judge_panel.panel_judgments(chosen, judges, options.panel)
    return chosen


def note_self_judging(judgments: list[Judgment], options: RatingsOptions) -> None:
    """Under a leaderboard: which judges also judged their own model, and what to do about it."""
    if options.exclude_self:
        return
    own = own_models_of(judgments, options)
    for judge, count in sorted(judge_panel.self_judged_counts(judgments, own).items()):
        _say_self_judged(judge, own[judge], count)


def note_self_judging_columns(columns, judges: list[str], protocol: str, options: RatingsOptions) -> None:
    """The same note, counted on the store's columns (the scaled Elo / Bradley-Terry path)."""
    if options.format != "table":
        return
    contestants = set(columns.vocab["model_a"]) | set(columns.vocab["model_b"])
    own = judge_panel.own_models(judges, contestants, declared_self_models(options))
    rows = columns.codes["protocol"] == columns.code("protocol", protocol)
    for judge, model in sorted(own.items()):
        mine = rows & (columns.codes["judge"] == columns.code("judge", judge))
        count = int(
            (
                mine
                & (
                    (columns.codes["model_a"] == columns.code("model_a", model))
                    | (columns.codes["model_b"] == columns.code("model_b", model))
                )
            ).sum()
        )
        if count:
            _say_self_judged(judge, model, count)


def _say_self_judged(judge: str, model: str, count: int) -> None:
    info(
        f"note: judge {judge} is also a contestant (model {model}): {count} of its judgments are on its own "
        f"model's answers; --method bias measures its self-preference, --exclude-self rates without them"
    )


def with_self_preference(rows: list[dict], judgments: list[Judgment], options: RatingsOptions) -> list[dict]:
    """The bias rows, each with the judge's self-preference (None where its model is no contestant)."""
    preference = {r["judge"]: r for r in judge_panel.self_preference_rows(judgments, own_models_of(judgments, options))}
    out = []
    for row in rows:
        found = preference.get(row["judge"], {})
        out.append(
            {
                **row,
                "own_model": found.get("own_model"),
                "self_matches": found.get("matches"),
                "own_win_rate": found.get("own_win_rate"),
                "reference_win_rate": found.get("reference_win_rate"),
                "self_preference": found.get("difference"),
                "self_ci_low": found.get("ci_low"),
                "self_ci_high": found.get("ci_high"),
                "self_reference": found.get("reference"),
            }
        )
    return out


def print_self_preference(rows: list[dict]) -> None:
    """The self-preference part of the bias rows as its own table (the position-bias table is wide already)."""
    flagged = [r for r in rows if r.get("own_model")]
    if flagged:
        print_records(
            flagged,
            "table",
            "Self-preference: the judge's win rate for its own model (ties half) against "
            "a reference view of the same matches (95% CI of the difference)",
            ("judge", *SELF_FIELDS),
        )


def panel_agreement(stored: list[Judgment], options: RatingsOptions, protocol: str) -> int:
    """`--method agreement` for three or more judges (or with --panel): every pair's agreement with and without
    ties, and the panel's Fleiss' kappa with and without ties."""
    chosen = leaderboard.select(stored, protocol, options.judge)
    judges = _members(chosen, options)
    if len(judges) < 2:
        raise ArenaError(
            f"--method agreement needs at least two judges with {protocol} judgments; found "
            f"{', '.join(judges) or 'none'}"
        )
    pairs, summary = judge_panel.agreement_rows(chosen, judges)
    if options.format == "json":
        import sys

        sys.stdout.write(to_json({"pairs": pairs, "panel": summary}) + "\n")  # NaN kappa -> null
        return 0
    if options.format == "csv":
        print_records(pairs, "csv", "", PAIR_COLUMNS)
        return 0
    print_records(
        pairs,
        "table",
        f"Agreement per pair of judges, with and without ties · {options.benchmark} · {protocol}",
        PAIR_COLUMNS,
    )
    print_records(
        [{**summary, "judges": ", ".join(judges)}],
        "table",
        "Fleiss' kappa of the panel (items every judge judged; without ties: items no judge called a tie)",
    )
    return 0
