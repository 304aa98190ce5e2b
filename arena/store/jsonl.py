"""Append-only JSONL files that survive SIGKILL mid-write and concurrent writers.

Every append takes an exclusive flock on the file and writes whole lines with O_APPEND, so records never
interleave (threads or processes). A writer killed mid-write can leave one torn last line (no newline);
the next reader or writer moves it to `<file>.torn` with a warning, so no reader crashes on it and nothing
complete is ever rewritten.
"""

from __future__ import annotations

import fcntl
import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson  # several times faster than json on the million-record logs of a public leaderboard

from arena.errors import ArenaError


def _dumps(record: dict) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)


_loads = orjson.loads


class TornLineWarning(UserWarning):
    """A record cut off by a crash was set aside."""


@contextmanager
def _locked(fd: int, mode: int) -> Iterator[None]:
    fcntl.flock(fd, mode)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _torn_tail_start(fd: int) -> int | None:
    """Offset where an unterminated last line begins, or None when the file ends cleanly."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return None
    position, block = size, 1 << 16
    while position > 0:
        start = max(0, position - block)
        chunk = os.pread(fd, position - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


class JsonlLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    def _set_aside_torn_tail(self, fd: int) -> None:
        """Caller holds the exclusive lock."""
        start = _torn_tail_start(fd)
        if start is None:
            return
        size = os.fstat(fd).st_size
        torn = os.pread(fd, size - start, start)
        with open(self.path.with_name(self.path.name + ".torn"), "ab") as aside:
            aside.write(torn + b"\n")
        os.ftruncate(fd, start)
        warnings.warn(
            f"{self.path}: the last record was cut off (a writer was killed mid-write); "
            f"{len(torn)} bytes set aside in {self.path.name}.torn",
            TornLineWarning,
            stacklevel=3,
        )

    def append(self, records: Iterable[dict]) -> int:
        payload = b"".join(_dumps(record) + b"\n" for record in records)
        if payload:
            self._append_blocks([payload])
        return payload.count(b"\n")

    def append_file(self, source: Path) -> None:
        """Append a file of complete JSONL lines under the same lock (in blocks: bounded memory)."""
        with open(source, "rb") as handle:
            self._append_blocks(iter(lambda: handle.read(1 << 22), b""))

    def _append_blocks(self, blocks: Iterable[bytes]) -> None:
        """Whole blocks at the end of the file, under an exclusive lock, after setting aside a torn tail."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ArenaError(f"{self.path}: cannot write results here ({exc.strerror})") from None
        try:
            with _locked(fd, fcntl.LOCK_EX):
                self._set_aside_torn_tail(fd)
                for block in blocks:
                    view = memoryview(block)
                    while view:
                        view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def read(self) -> list[dict]:
        """All complete records in file order. A bad line in the middle is an error naming file and line."""
        return self._parse(self.read_complete_bytes())

    def read_complete_bytes(self) -> bytes:
        """The file's complete lines (a torn last line is set aside first)."""
        if not self.path.exists():
            return b""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise ArenaError(f"{self.path}: cannot read results ({exc.strerror})") from None
        try:
            with _locked(fd, fcntl.LOCK_SH):
                torn = _torn_tail_start(fd)
                end = os.fstat(fd).st_size if torn is None else torn
                data = os.pread(fd, end, 0)
        finally:
            os.close(fd)
        if torn is not None:
            self._repair()
        return data

    def _repair(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            warnings.warn(
                f"{self.path}: ignoring a cut-off last record (file is read-only)", TornLineWarning, stacklevel=3
            )
            return
        try:
            with _locked(fd, fcntl.LOCK_EX):
                self._set_aside_torn_tail(fd)
        finally:
            os.close(fd)

    def _parse(self, data: bytes) -> list[dict]:
        records = []
        if data.startswith(b"\xef\xbb\xbf"):  # a byte-order mark from an editor or another tool
            data = data[3:]
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                record = _loads(line)
            except ValueError:  # JSON and UTF-8 errors alike
                raise ArenaError(f"{self.path}:{number}: not a valid JSON record; fix or remove that line") from None
            if not isinstance(record, dict):
                raise ArenaError(f"{self.path}:{number}: expected a JSON object")
            record["_line"] = number
            records.append(record)
        return records
