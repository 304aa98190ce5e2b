"""Reading files users hand to arena, with one clear error naming the file and line for anything wrong."""

from __future__ import annotations

import json
from pathlib import Path

from arena.errors import ArenaError


def open_text(path: Path, newline: str | None = None):
    """Open for reading with a clear message instead of a traceback when the file is not there or not text."""
    try:
        return open(path, encoding="utf-8", newline=newline)
    except FileNotFoundError:
        raise ArenaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ArenaError(f"{path}: is a directory, expected a file") from None
    except PermissionError:
        raise ArenaError(f"{path}: permission denied") from None


def require_fields(row: dict, names: tuple[str, ...], where: str) -> None:
    for name in names:
        if name not in row:
            raise ArenaError(f"{where}: missing field '{name}'")


def read_jsonl_objects(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-empty line. Lines are split on newlines only: a JSON string may
    legally hold characters such as U+2028 that other line splitters would cut at."""
    with open_text(path) as handle:
        try:
            text = handle.read()
        except UnicodeDecodeError as exc:
            raise ArenaError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ArenaError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(value, dict):
            raise ArenaError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
        rows.append((number, value))
    return rows
