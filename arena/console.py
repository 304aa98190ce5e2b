"""Terminal output: rich tables on stdout, messages and warnings on stderr.

Command handlers call `info` / `warn` directly. Library code below them logs through `logging` (logger
`arena.<module>`); the CLI routes that logger here with `log_to_terminal`, so the user sees the same lines
either way, and a notebook or host application gets ordinary log records it can route where it likes."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from typing import Any


def stdout_console():
    from rich.console import Console

    # Piped output (logs, CI) gets room for a full leaderboard row instead of rich's 80-column default, unless
    # COLUMNS says how wide it is.
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)  # messages naming long file paths stay on one line


# Columns that say what a row is about: kept when a narrow terminal makes others go.
_IDENTITY_COLUMNS = {
    "model",
    "judge",
    "judge_1",
    "judge_2",
    "higher",
    "lower",
    "own_model",
    "category",
    "feature",
    "id",
    "name",
    "rater",
    "field",
}
# The columns that are the point of their table, most important first: a narrow terminal leaves out every other
# column (the rightmost first) before any of these, then these from the end of this list. The first of them a
# table has (the one its rows are sorted by: LC win rate before raw, rating, ...) is never left out. A `*_high`
# column goes with its `*_low`, so an interval is shown whole or not at all.
KEEP_ORDER = (
    "lc_win_rate",
    "lc_ci_low",
    "lc_ci_high",
    "length_beta",
    "win_rate",
    "rating",
    "score",
    "first_win_share",
    "consistency",
    "longer_wins_share",
    "self_preference",
    "self_ci_low",
    "self_ci_high",
    "flip_count",
    "agreement",
    "agreement_without_ties",
    "cohen_kappa",
    "fleiss_kappa",
    "fleiss_kappa_without_ties",
    "beta",
    "ci_low",
    "ci_high",
    "ci",
    "rank_change",
    "rating_uncontrolled",
    "own_win_rate",
    "reference_win_rate",
    "rating_gap",
    "flip_share",
    "verified",
)
_TEXT_MIN_WIDTH = 12  # a column of prose (prompts, descriptions) may wrap down to this, never inside a word
_LONGEST_UNFOLDED_WORD = 40  # longer "words" (URLs, code, a prompt's unbroken run) fold wherever the table has room


def _drop_order(columns: Sequence[str], candidates: list[int]) -> list[int]:
    """The droppable columns' indexes in the order a narrow terminal leaves them out."""
    rank = {name: place for place, name in enumerate(KEEP_ORDER)}
    unranked = [i for i in reversed(candidates) if columns[i] not in rank]
    ranked = sorted((i for i in candidates if columns[i] in rank), key=lambda i: -rank[columns[i]])
    return unranked + ranked


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A table that fits the terminal without folding a number or a name across lines: prose columns wrap
    between words, and when the rest is still too wide other columns are left out (KEEP_ORDER says which go
    last; prose after them), with a note saying which (--format json/csv, or a wider terminal, shows them)."""
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    cells = [[str(cell) for cell in row] for row in rows]
    prose = {i for i in range(1, len(columns)) if any(" " in row[i] or "\n" in row[i] for row in cells)}

    def width(i: int) -> int:  # rich draws each column with one space of padding each side and a border
        natural = max([len(columns[i]), *(len(row[i]) for row in cells)])
        if i in prose:  # wraps between words: no narrower than its longest word (a longer "word" folds anyway)
            longest_word = max((len(word) for row in cells for word in row[i].split()), default=0)
            natural = min(natural, max(_TEXT_MIN_WIDTH, min(longest_word, _LONGEST_UNFOLDED_WORD)))
        return natural + 3

    shown = list(range(len(columns)))
    candidates = [i for i in shown[1:] if i not in prose and columns[i] not in _IDENTITY_COLUMNS]
    ranked = [i for i in candidates if columns[i] in KEEP_ORDER]
    if ranked:  # the table's headline column (its sort key) stays whatever the width
        candidates.remove(min(ranked, key=lambda i: KEEP_ORDER.index(columns[i])))
    # Prose goes last: wrapped between words it needs only its longest word, and a column narrower than that
    # would fold words (or show no header at all).
    drop_order = _drop_order(columns, candidates) + sorted(prose, reverse=True)
    while sum(width(i) for i in shown) + 1 > console.width and drop_order:
        dropped = drop_order.pop(0)
        shown.remove(dropped)
        if columns[dropped].endswith("_high"):  # an interval goes whole
            low = columns[dropped].removesuffix("_high") + "_low"
            partner = next((i for i in drop_order if columns[i] == low), None)
            if partner is not None:
                drop_order.remove(partner)
                shown.remove(partner)
    table = Table(title=title, title_justify="left")
    fits = sum(width(i) for i in shown) + 1 <= console.width
    for i in shown:  # a name wider than the terminal itself is folded onto the next line, never cut off
        table.add_column(columns[i], overflow="fold", no_wrap=fits and i not in prose)
    for row in cells:
        table.add_row(*(escape(row[i]) for i in shown))
    console.print(table)
    left_out = [c for i, c in enumerate(columns) if i not in shown]
    if left_out:
        info(
            f"left out to fit {console.width} columns: {', '.join(left_out)} "
            "(a wider terminal or --format json/csv shows them)"
        )


def print_records(records: list[dict], fmt: str, title: str = "", columns: Sequence[str] | None = None) -> None:
    """One list of dicts as a table, JSON or CSV: the same rows whatever the format."""
    columns = list(columns or (records[0].keys() if records else []))
    if fmt == "json":
        sys.stdout.write(to_json(records) + "\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        sys.stdout.write(buffer.getvalue())
    else:
        formats = {c: _column_format([r.get(c) for r in records]) for c in columns}
        print_table(title, columns, [[_cell(r.get(c), formats[c]) for c in columns] for r in records])


def to_json(data: object) -> str:
    """Strict JSON: a NaN or infinity (an undefined kappa, an unplayed pair) becomes null, which every parser
    reads, instead of Python's bare NaN, which most reject."""
    return json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False)


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _column_format(values: list[object]) -> str:
    """One number format for a whole column, so its decimals line up: three decimals when every number in it
    is below 10 (shares, standard errors, coefficients), one otherwise (percentages, ratings), trailing zeros
    kept (0.650, 6.000), so every cell of a column shows the same number of decimals. A column without a
    fractional number keeps integers as is."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    fractional = [v for v in numbers if isinstance(v, float) and math.isfinite(v)]
    if not any(isinstance(v, float) for v in numbers):
        return ""
    return ".3f" if all(abs(v) < 10 for v in fractional) else ".1f"


def _cell(value: object, number_format: str = "") -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if number_format and math.isfinite(value):
            return format(value, number_format)
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "n/a" if value is None else str(value)


def info(message: str) -> None:
    stderr_console().print(message, highlight=False)


def warn(message: str) -> None:
    stderr_console().print(f"arena: warning: {message}", highlight=False, markup=False)


class TerminalHandler(logging.Handler):
    """arena's log records as the terminal lines `info` and `warn` print."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            (warn if record.levelno >= logging.WARNING else info)(message)
        except Exception:  # a log line must never end a run
            self.handleError(record)


def log_to_terminal() -> None:
    """Route the `arena` loggers to the terminal (once per process): INFO and above, no prefix but warnings'."""
    logger = logging.getLogger("arena")
    if not any(isinstance(h, TerminalHandler) for h in logger.handlers):
        logger.addHandler(TerminalHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def progress_bar(label: str, total: int, unit: str = "", fields: tuple[str, ...] = ()):
    """A progress bar on stderr for long work (answers, judge calls, training steps): label, bar, done/total,
    the unit, then each named field (set with `update(task, <field>=...)`) and the time elapsed. Returns the
    rich Progress (start/stop it around the work) and the task to advance."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn(unit)] if unit else []
    columns += [TextColumn(f"{{task.fields[{name}]}}") for name in fields]
    progress = Progress(*columns, TimeElapsedColumn(), console=stderr_console())
    empty: dict[str, Any] = dict.fromkeys(fields, "")  # every named field starts empty
    return progress, progress.add_task(label, total=total, **empty)
