"""Reading files users hand to arena, with one clear error naming the file and line for anything wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from arena.errors import ArenaError

UTF8_BOM = b"\xef\xbb\xbf"


def open_text(path: Path, newline: str | None = None):
    """Open for reading with a clear message instead of a traceback when the file is not there or not text.
    A UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped."""
    try:
        return open(path, encoding="utf-8-sig", newline=newline)
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
    """(line number, object) for every non-empty line."""
    return list(iter_jsonl_objects(path))


def iter_jsonl_objects(path: Path) -> Iterator[tuple[int, dict]]:
    """The same, one line at a time (memory bounded for files of millions of lines). Lines are split on
    newlines only: a JSON string may legally hold characters such as U+2028 that other splitters cut at."""
    if not path.exists():
        raise ArenaError(f"{path}: no such file")
    if path.is_dir():
        raise ArenaError(f"{path}: is a directory, expected a file")
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed by the with below; open's own error is named first)
    except PermissionError:
        raise ArenaError(f"{path}: permission denied") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if number == 1 and line.startswith(UTF8_BOM):  # some JSONL writers start with a byte-order mark
                line = line[len(UTF8_BOM) :]
            if not line.strip():
                continue
            try:
                value = _loads(line)
            except ValueError as exc:  # JSON or UTF-8 faults alike
                raise ArenaError(f"{path}:{number}: {_json_problem(line, exc)}") from None
            if not isinstance(value, dict):
                raise ArenaError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
            yield number, value


def _loads(line: bytes):
    try:
        import orjson
    except ImportError:
        return json.loads(line)
    return orjson.loads(line)


def _json_problem(line: bytes, exc: ValueError) -> str:
    """The standard library's wording (message and column), whichever parser found the fault."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as detail:
        return f"not UTF-8 text (byte {detail.start})"
    try:
        json.loads(text)
    except json.JSONDecodeError as detail:
        return f"not valid JSON ({detail.msg} at column {detail.colno})"
    return f"not valid JSON ({exc})"
