"""Reading files users hand to arena, with one clear error naming the file and line for anything wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from arena.errors import ArenaError

UTF8_BOM = b"\xef\xbb\xbf"

# A name that becomes a file or folder name (a prompt set, an adapter): ASCII letters, digits, '.', '_' or
# '-', starting with a letter or digit (so never '.' or '..'), no path separator, at most 64 characters.
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PLAIN_NAME_RULE = "1 to 64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"


def require_plain_name(name: str, label: str) -> str:
    """`name` when it is a plain name (PLAIN_NAME), else one error saying what `label` may be."""
    if not PLAIN_NAME.match(name):
        raise ArenaError(f"invalid {label} {name!r}: use {PLAIN_NAME_RULE}")
    return name


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


def text_field(row: dict, name: str, where: str) -> str:
    """The field as a non-empty string (a model or judge name): anything else is one message naming it."""
    if name not in row:
        raise ArenaError(f"{where}: missing field '{name}'")
    value = row[name]
    if not isinstance(value, str) or not value.strip():
        raise ArenaError(f"{where}: field '{name}' must be a non-empty string, got {value!r}")
    return value


def id_field(row: dict, name: str, where: str) -> str:
    """An id that files write as a number or a string (question ids): as a string; null, true, a list or an
    empty string are refused."""
    if name not in row:
        raise ArenaError(f"{where}: missing field '{name}'")
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        raise ArenaError(f"{where}: field '{name}' must be a string or an integer id, got {value!r}")
    return str(value)


def json_error_text(detail: json.JSONDecodeError) -> str:
    """The standard library's message with its column, worded once: its messages "Unterminated string
    starting at" and "Invalid control character at" already end in "at"."""
    joiner = " column" if detail.msg.endswith(" at") else " at column"
    return f"{detail.msg}{joiner} {detail.colno}" + (f" of line {detail.lineno}" if detail.lineno > 1 else "")


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
        return f"not valid JSON ({json_error_text(detail)})"
    return f"not valid JSON ({exc})"
