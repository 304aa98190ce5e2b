"""The results directory: one append-only log per (prompt set, model) for answers and per (prompt set,
judge) for judgments, plus a manifest per run.

    results/<benchmark>/answers/<model>.jsonl
    results/<benchmark>/judgments/<judge>.jsonl
    results/runs/<timestamp>-<command>-<pid>.json
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from arena.errors import ArenaError
from arena.store.atomic import write_atomically
from arena.store.jsonl import JsonlLog
from arena.store.records import Answer, Judgment, utc_now

if TYPE_CHECKING:
    from arena.store.columns import JudgmentColumns

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")
MANIFEST_PACKAGES = ("arena", "numpy", "scipy", "torch", "transformers", "peft", "bitsandbytes", "vllm", "openai")


def file_safe(name: str) -> str:
    """A model, judge or set name as a single path component: nothing a user types can leave the folder."""
    safe = _UNSAFE.sub("_", name.replace("/", "__"))
    if not safe.strip("._") or safe in (".", ".."):
        raise ArenaError(f"invalid name {name!r} for a results file")
    return safe


def log_name(name: str) -> str:
    """The file stem of a model's or judge's log: the name itself when it is plain lower-case ASCII, else a
    readable slug plus a short hash of the exact name. Injective, so two names that differ only in non-ASCII
    letters, case (case-insensitive file systems) or punctuation never share a log; '~' never occurs in a
    plain name, so a hashed stem cannot equal one."""
    slug = file_safe(name)
    if slug == name and name == name.lower():
        return slug
    return f"{slug}~{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def _legacy_records(folder: Path, name: str, field: str) -> list[tuple[str, dict]]:
    """(where, record) of `name` in the file an older arena named `file_safe(name)`, where several names may
    have been merged: only the records whose `field` is exactly `name` (stores written before injective names)."""
    legacy = folder / f"{file_safe(name)}.jsonl"
    if legacy.name == f"{log_name(name)}.jsonl" or not legacy.exists():
        return []
    return [(f"{legacy}:{record['_line']}", record) for record in JsonlLog(legacy).read() if record.get(field) == name]


class ResultsStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ArenaError(f"results directory {self.root} exists but is not a directory")
        if self.root.is_dir() and not os.access(self.root, os.R_OK | os.X_OK):
            raise ArenaError(f"results directory {self.root} is not readable")

    # --- answers -------------------------------------------------------------------------------
    def answers_path(self, benchmark: str, model: str) -> Path:
        return self.root / file_safe(benchmark) / "answers" / f"{log_name(model)}.jsonl"

    def _answers_log(self, benchmark: str, model: str) -> JsonlLog:
        return JsonlLog(self.answers_path(benchmark, model))

    def answers(self, benchmark: str, model: str) -> dict[str, Answer]:
        """Latest answer per question: a rerun with --overwrite appends, and the last record wins."""
        log = self._answers_log(benchmark, model)
        latest: dict[str, Answer] = {}
        records = [
            *_legacy_records(log.path.parent, model, "model"),
            *((f"{log.path}:{record['_line']}", record) for record in log.read()),
        ]
        for where, record in records:
            answer = Answer.from_dict(record, where)
            latest[answer.question_id] = answer
        return latest

    def save_answers(self, answers: Iterable[Answer]) -> int:
        grouped: dict[tuple[str, str], list[dict]] = {}
        for answer in answers:
            grouped.setdefault((answer.benchmark, answer.model), []).append(answer.to_dict())
        return sum(self._answers_log(b, m).append(rows) for (b, m), rows in grouped.items())

    def answered_models(self, benchmark: str) -> list[str]:
        folder = self.root / file_safe(benchmark) / "answers"
        models: set[str] = set()
        for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
            records = JsonlLog(path).read()
            models.update(r.get("model", path.stem) for r in records)
        return sorted(models)

    # --- judgments -----------------------------------------------------------------------------
    def _judgments_log(self, benchmark: str, judge: str) -> JsonlLog:
        return JsonlLog(self.root / file_safe(benchmark) / "judgments" / f"{log_name(judge)}.jsonl")

    def judgments(self, benchmark: str, judge: str | None = None) -> list[Judgment]:
        """Latest judgment per judgment_id (re-judged errors supersede the earlier record)."""
        folder = self.root / file_safe(benchmark) / "judgments"
        paths = [self._judgments_log(benchmark, judge).path] if judge else sorted(folder.glob("*.jsonl"))
        latest: dict[str, Judgment] = {}
        if judge:
            for where, record in _legacy_records(folder, judge, "judge"):
                judgment = Judgment.from_dict(record, where)
                latest[judgment.judgment_id] = judgment
        for path in paths:
            log = JsonlLog(path)
            for record in log.read():
                judgment = Judgment.from_dict(record, f"{log.path}:{record['_line']}")
                latest[judgment.judgment_id] = judgment
        return list(latest.values())

    def judgment_columns(self, benchmark: str, judge: str | None = None) -> JudgmentColumns:
        """The latest record of every stored judgment as numpy columns (through the derived cache): what the
        rating engines read, without building a Judgment object per record."""
        import numpy as np

        from arena.store.columns import JudgmentColumns, parse_records, read_columns

        folder = self.root / file_safe(benchmark) / "judgments"
        paths = [self._judgments_log(benchmark, judge).path] if judge else sorted(folder.glob("*.jsonl"))
        parts = [read_columns(JsonlLog(path)) for path in paths]
        if judge and (legacy := folder / f"{file_safe(judge)}.jsonl") != paths[0] and legacy.exists():
            # a store from before injective names: that file may hold other judges' records too
            merged = read_columns(JsonlLog(legacy))
            parts.insert(0, merged.take(np.flatnonzero(merged.codes["judge"] == merged.code("judge", judge))))
        if not parts:
            return parse_records(b"", folder, 1)
        return JudgmentColumns.concat(parts).latest()

    def save_judgments(self, judgments: Iterable[Judgment]) -> int:
        grouped: dict[tuple[str, str], list[dict]] = {}
        for judgment in judgments:
            grouped.setdefault((judgment.benchmark, judgment.judge), []).append(judgment.to_dict())
        return sum(self._judgments_log(b, j).append(rows) for (b, j), rows in grouped.items())

    def stage_judgments(self, benchmark: str, judge: str) -> tuple[Path, BinaryIO]:
        """(path, binary handle) of a temporary file beside the judge's log, for an import to fill before it
        commits with append_staged (a bad input found half-way leaves the log untouched)."""
        log = self._judgments_log(benchmark, judge)
        try:
            log.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{log.path.name}.", suffix=".staged", dir=log.path.parent)
        except OSError as exc:
            raise ArenaError(f"{log.path.parent}: cannot write results here ({exc.strerror})") from None
        return Path(name), os.fdopen(fd, "wb")

    def append_staged(self, benchmark: str, judge: str, staged: Path) -> None:
        self._judgments_log(benchmark, judge).append_file(staged)

    def judged_benchmarks(self) -> list[str]:
        return [b for b in self.benchmarks() if any((self.root / b / "judgments").glob("*.jsonl"))]

    def benchmarks(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name != "runs")

    # --- one writer at a time ---------------------------------------------------------------------
    @contextmanager
    def exclusive(self, benchmark: str, kind: str, name: str, quiet: bool = False):
        """Hold the lock of one (prompt set, answers|judgments, model or judge) while deciding what is
        missing and filling it in, so two runs started together never do the same work twice. `quiet`: wait
        without saying so (a server whose requests take the lock in turn many times a second)."""
        folder = self.root / file_safe(benchmark) / kind
        path = folder / f"{log_name(name)}.lock"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ArenaError(
                f"{path}: cannot create the lock file ({exc.strerror}); is the results directory writable?"
            ) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not quiet:
                    logger.info(
                        f"another arena run is writing {kind} of '{name}' in {self.root}; waiting for it to finish"
                    )
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # --- run manifests -------------------------------------------------------------------------
    @contextmanager
    def run(self, command: str, config: dict, seeds: dict | None = None, dry_run: bool = False):
        """Record what ran, with which versions and seeds; the manifest is written at start and updated
        at the end, so even a killed run leaves a trace of its configuration. A dry run writes none: the
        manifest it yields is kept in memory only."""
        if dry_run:
            yield {"command": command, "config": config, "seeds": seeds or {}}
            return
        started = utc_now()
        # Milliseconds in the name: a judge panel runs its members one after the other in one process.
        stem = f"{started.replace(':', '')[:21]}-{file_safe(command)}-{os.getpid()}"
        path = self.root / "runs" / f"{stem}.json"
        for n in range(2, 1000):
            if not path.exists():
                break
            path = path.with_name(f"{stem}-{n}.json")
        manifest = {
            "command": command,
            "argv": sys.argv,
            "arena_version": _arena_version(),
            "config": config,
            "seeds": seeds or {},
            "started": started,
            "finished": None,
            "status": "running",
            "git_commit": _git_commit(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": _package_versions(),
        }
        _write_json(path, manifest)
        try:
            yield manifest
        except BaseException as exc:
            manifest.update(finished=utc_now(), status=f"failed: {type(exc).__name__}", error=str(exc)[:2000])
            _write_json(path, manifest)
            raise
        manifest.update(finished=utc_now(), status="ok" if not manifest.get("exit_status") else "incomplete")
        _write_json(path, manifest)


def _write_json(path: Path, data: dict) -> None:
    try:
        write_atomically(path, json.dumps(data, indent=2, default=str))
    except OSError as exc:
        raise ArenaError(f"{path}: cannot write the run manifest ({exc.strerror})") from None


def _arena_version() -> str:
    from arena import __version__

    return __version__


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in MANIFEST_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
