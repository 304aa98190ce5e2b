"""Terminal output: rich tables on stdout, warnings and errors on stderr."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Sequence


def stdout_console():
    from rich.console import Console

    # Piped output (logs, CI) gets room for a full leaderboard row instead of rich's 80-column default.
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)  # messages naming long file paths stay on one line


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in row))
    stdout_console().print(table)


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
        print_table(title, columns, [[_cell(r.get(c)) for c in columns] for r in records])


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


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "n/a" if value is None else str(value)


def info(message: str) -> None:
    stderr_console().print(message, highlight=False)


def warn(message: str) -> None:
    stderr_console().print(f"arena: warning: {message}", highlight=False, markup=False)
