"""`arena ratings --method robustness`: for each adjacent pair of a leaderboard, how many judgments hold the
order (the search is in arena.ratings.robustness), printed with the judgments themselves so anyone can check
the claim by deleting them and rating again. Also the short lines the HTML report and `arena tournament`
show."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from arena.console import info, print_records
from arena.errors import ArenaError
from arena.ratings import robustness
from arena.ratings.matches import OUTCOME, Matches, matches_from_columns
from arena.store import ResultsStore

TABLE_COLUMNS = ("place", "higher", "lower", "rating_gap", "flip_count", "flip_share", "verified")
_REMOVED_FIELDS = ("question_id", "model_a", "model_b", "judge")

if TYPE_CHECKING:
    from arena.ratings.options import RatingsOptions


@dataclass(frozen=True)
class RatedColumns:
    """The decided matches of one leaderboard and, for each, its row in the store's judgment columns."""

    matches: Matches
    rows: np.ndarray


def rated_columns(columns, protocol: str, judges: list[str]) -> RatedColumns:
    """The matches `arena ratings` rates for these judges, with the column row behind each match (the same
    filter as matches_from_columns: the protocol, the judges, a decided verdict)."""
    matches = matches_from_columns(columns, protocol, judges)
    keep = columns.codes["protocol"] == columns.code("protocol", protocol)
    keep &= np.isin(columns.codes["judge"], [columns.code("judge", j) for j in judges])
    decided_codes = [columns.code("verdict", v) for v in OUTCOME]
    return RatedColumns(matches, np.flatnonzero(keep & np.isin(columns.codes["verdict"], decided_codes)))


def pair_row(result: robustness.PairFragility, matches: Matches, place: int | None, kind: str) -> dict:
    count = result.flip_count
    return {
        "pair": kind,
        "place": place,
        "higher": matches.models[result.higher],
        "lower": matches.models[result.lower],
        "rating_gap": round(result.gap, 2),
        "flip_count": count,
        "flip_share": round(count / len(matches), 6) if count is not None else None,
        "verified": result.verified,
        "estimate": result.estimate,
        "bound": result.bound,
        "matches": len(matches),
    }


def removed_judgments(store: ResultsStore, benchmark: str, columns, rows: np.ndarray) -> list[dict]:
    """{question_id, model_a, model_b, judge[, turn], judgment_id} of each column row, in the given order."""
    values = {field: columns.strings(field)[rows].tolist() for field in _REMOVED_FIELDS}
    ids = [i.decode() for i in columns.judgment_id[rows].tolist()]
    turns = _turns(store, benchmark, set(ids))
    removed = []
    for position, judgment_id in enumerate(ids):
        item = {field: values[field][position] for field in _REMOVED_FIELDS}
        if judgment_id in turns:
            item["turn"] = turns[judgment_id]
        removed.append({**item, "judgment_id": judgment_id})
    return removed


def _turns(store: ResultsStore, benchmark: str, wanted: set[str]) -> dict[str, object]:
    """The turn of each wanted judgment that has one (FastChat imports keep it in `meta`). Only lines that
    mention a turn are parsed, so a store without any costs one substring scan per log."""
    from arena.store.jsonl import JsonlLog
    from arena.store.results import file_safe

    found: dict[str, object] = {}
    for path in sorted((store.root / file_safe(benchmark) / "judgments").glob("*.jsonl")):
        data = JsonlLog(path).read_complete_bytes()
        if b'"turn"' not in data:
            continue
        for line in data.split(b"\n"):
            if b'"turn"' not in line:
                continue
            record = json.loads(line)
            turn = (record.get("meta") or {}).get("turn")
            if record.get("judgment_id") in wanted and turn is not None:
                found[record["judgment_id"]] = turn
    return found


def run_robustness(store: ResultsStore, options: RatingsOptions, protocol: str) -> int:
    from arena.ratings.commands import _judges_with, _require_judgments

    columns = store.judgment_columns(options.benchmark)
    _require_judgments(store, options, len(columns))
    judges = _judges_with(columns, protocol, options.judge)
    groups = [judges] if options.pool_judges else [[j] for j in judges]
    output = []
    for group in groups:
        rated = rated_columns(columns, protocol, group)
        if len(rated.matches) == 0:
            raise ArenaError(f"every {protocol} judgment by {', '.join(group)} is an error: nothing to rate")
        neighbours, top = _search(rated.matches, options)
        rows = []
        for place, result in enumerate(neighbours, start=1):
            rows.append(
                {
                    **pair_row(result, rated.matches, place, "neighbours"),
                    "removed": removed_judgments(store, options.benchmark, columns, rated.rows[result.removed]),
                }
            )
        if top is not None:
            rows.append(
                {
                    **pair_row(top, rated.matches, 1, "top model"),
                    "removed": removed_judgments(store, options.benchmark, columns, rated.rows[top.removed]),
                }
            )
        output.append((", ".join(group), rows))
    if options.format == "json":
        # every row names its judge, however many judges: the shape of every other method's JSON rows
        data = [{"judge": judge, **row} for judge, rows in output for row in rows]
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif options.format == "csv":
        print_records(
            [{"judge": judge, **row} for judge, rows in output for row in rows],
            "csv",
            "",
            ("judge", "pair", *TABLE_COLUMNS, "estimate", "bound", "matches"),
        )
    else:
        for judge, rows in output:
            _print_table(rows, options, protocol, judge)
    return 0


def _search(matches: Matches, options: RatingsOptions):
    """Neighbour pairs from the top and the fewest judgments that change the leader, by the chosen rating."""
    if options.rating == "elo":
        from arena.ratings.paper_elo import paper_elo

        def elo(subset: Matches) -> np.ndarray:
            return paper_elo(subset, options.orderings, options.seed).summary.rating

        return robustness.elo_neighbours(matches, elo, options.max_share, top_model=True)
    neighbours = robustness.bt_neighbours(matches, options.max_share)
    top = robustness.bt_top_model(matches, options.max_share, {(r.higher, r.lower): r for r in neighbours})
    return neighbours, top


def _print_table(rows: list[dict], options: RatingsOptions, protocol: str, judge: str) -> None:
    shown = [
        {
            **row,
            "flip_count": row["flip_count"] if row["verified"] else f"> {row['bound']}",
            "flip_share": f"{100 * row['flip_share']:.2f}%" if row["verified"] else "n/a",
        }
        for row in rows
        if row["pair"] == "neighbours"
    ]
    rating = "Elo (paper)" if options.rating == "elo" else "Bradley-Terry"
    matches = rows[0]["matches"] if rows else 0
    print_records(
        shown,
        "table",
        f"Judgments holding each place ({rating}, bound {options.max_share:g} of {matches} "
        f"decided) · {options.benchmark} · judge {judge} · {protocol}",
        TABLE_COLUMNS,
    )
    top = next((row for row in rows if row["pair"] == "top model"), None)
    if top is not None:
        print(top_model_line(top))
    info(
        "flip_count: the fewest judgments (a prefix of the list ranked by first-order influence) whose removal puts "
        "the lower model above the higher when the ratings are refit without them; verified: False when removing "
        f"{options.max_share:.0%} of the judgments does not. --format json lists them."
    )


def top_model_line(row: dict) -> str:
    if not row["verified"]:
        return (
            f"Fewest judgments that change the top model ({row['higher']}): none found within {row['bound']} "
            f"({row['bound'] / row['matches']:.0%} of the judgments)"
        )
    return (
        f"Fewest judgments that change the top model: {row['flip_count']} of {row['matches']} "
        f"({100 * row['flip_share']:.2f}%): without them {row['lower']} overtakes {row['higher']}"
    )


def held_by(matches: Matches, max_share: float = 0.1) -> dict[str, str]:
    """Model -> "held by N judgments" for each place of the Bradley-Terry leaderboard but the last (the
    report's column): how many judgments keep it above the model below."""
    texts = {}
    for result in robustness.bt_neighbours(matches, max_share):
        texts[matches.models[result.higher]] = (
            f"held by {result.flip_count} judgments"
            if result.verified
            else f"held by more than {result.bound} judgments"
        )
    return texts


def top_pair_line(matches: Matches, max_share: float = 0.1) -> str | None:
    """The line `arena tournament` prints under its tables: how many judgments hold the top place."""
    if len(matches) == 0 or len(matches.models) < 2:
        return None
    result = robustness.bt_neighbours(matches, max_share, places=1)[0]
    higher, lower = matches.models[result.higher], matches.models[result.lower]
    if not result.verified:
        return (
            f"Top place: {higher} over {lower} is held by more than {result.bound} of {len(matches)} judgments "
            f"(no flip within {max_share:.0%}; arena ratings --method robustness)"
        )
    return (
        f"Top place: {higher} over {lower} is held by {result.flip_count} of {len(matches)} judgments "
        f"(removing them reverses the order; arena ratings --method robustness lists them)"
    )
