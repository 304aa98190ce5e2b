"""A derived columnar cache of a judgments log, so a million stored judgments reach the rating arrays in
seconds, not the half-minute that parsing full JSON records takes.

The JSONL log stays the source of truth. Beside it, `.columns/<log>.npz` holds the fields the ratings read
(ids, question, models, judge, protocol, verdict, scores, soft preference) as numpy arrays, with the log's size,
modification time and checksums of its first and last cached bytes. A cache is used only when those match; when
the log only grew (appends), just the new lines are parsed and added; anything else (a torn-line repair truncated
it, an edit) rebuilds it from the log. A results folder that cannot be written is read without a cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from arena.store.jsonl import JsonlLog
from arena.store.records import PROTOCOLS, VERDICTS

CODED = ("question_id", "model_a", "model_b", "judge", "protocol", "verdict")  # strings stored as codes
# The coded columns whose values are a closed set: a value outside it (a hand-edited "maybe") is refused with its
# line, as the record reader (Judgment.from_dict) refuses it, never read as an unknown code the ratings skip.
CLOSED = {"verdict": VERDICTS, "protocol": PROTOCOLS}
# 2: the soft preference column; 3: closed columns checked (an older cache may hold a value outside them, so
# it is rebuilt from the log)
_VERSION = 3
_CHECK_BYTES = 4096


@dataclass
class JudgmentColumns:
    """One row per stored record (not yet deduplicated), strings as codes into `vocab`."""

    judgment_id: np.ndarray  # S24
    codes: dict[str, np.ndarray]  # column -> int32 codes
    vocab: dict[str, list[str]]  # column -> strings
    score_a: np.ndarray
    score_b: np.ndarray
    preference_b: np.ndarray  # soft verdict: P(the answer shown second is better); NaN for a hard verdict
    _index: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.judgment_id)

    def code(self, column: str, value: str) -> int:
        """The code of `value` in `column` (-1 when absent)."""
        if column not in self._index:
            self._index[column] = {v: i for i, v in enumerate(self.vocab[column])}
        return self._index[column].get(value, -1)

    def strings(self, column: str) -> np.ndarray:
        return np.asarray(self.vocab[column], dtype=object)[self.codes[column]]

    def matchups(self, protocol: str) -> list[tuple[str, str, str, str]]:
        """(question, model shown first, model shown second, verdict) of every record of this protocol."""
        keep = self.codes["protocol"] == self.code("protocol", protocol)
        return list(zip(*(self.strings(c)[keep].tolist() for c in ("question_id", "model_a", "model_b", "verdict"))))

    def take(self, rows: np.ndarray) -> JudgmentColumns:
        return JudgmentColumns(
            self.judgment_id[rows],
            {k: v[rows] for k, v in self.codes.items()},
            self.vocab,
            self.score_a[rows],
            self.score_b[rows],
            self.preference_b[rows],
        )

    def latest(self) -> JudgmentColumns:
        """The last record of each judgment id (a re-judged error supersedes the first record)."""
        reverse = _id_hashes(self.judgment_id)[::-1]
        _, first_in_reverse = np.unique(reverse, return_index=True)
        if len(first_in_reverse) == len(reverse):
            return self
        rows = np.sort(len(reverse) - 1 - first_in_reverse)
        return self.take(rows)

    @classmethod
    def concat(cls, parts: list[JudgmentColumns]) -> JudgmentColumns:
        """One table from several (each with its own vocabulary): codes are remapped to a shared one."""
        if len(parts) == 1:
            return parts[0]
        vocab: dict[str, list[str]] = {c: [] for c in CODED}
        codes: dict[str, list[np.ndarray]] = {c: [] for c in CODED}
        for part in parts:
            for column in CODED:
                index = {v: i for i, v in enumerate(vocab[column])}
                mapping = np.empty(len(part.vocab[column]), dtype=np.int32)
                for i, value in enumerate(part.vocab[column]):
                    if value not in index:
                        index[value] = len(vocab[column])
                        vocab[column].append(value)
                    mapping[i] = index[value]
                codes[column].append(mapping[part.codes[column]] if len(mapping) else part.codes[column])
        return cls(
            np.concatenate([p.judgment_id for p in parts]),
            {c: np.concatenate(v) for c, v in codes.items()},
            vocab,
            np.concatenate([p.score_a for p in parts]),
            np.concatenate([p.score_b for p in parts]),
            np.concatenate([p.preference_b for p in parts]),
        )


def _id_hashes(ids: np.ndarray) -> np.ndarray:
    """64-bit hashes of the 24-character ids (96 bits of hex): unique among any realistic number of records,
    and an order of magnitude faster to sort than the strings."""
    if not len(ids):
        return np.zeros(0, dtype=np.uint64)
    words = np.ascontiguousarray(ids.astype("S24")).view(np.uint64).reshape(-1, 3)
    with np.errstate(over="ignore"):
        return (
            (words[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ (words[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F)) ^ words[:, 2]
        )


def parse_records(
    data: bytes, path: Path, first_line: int, vocab: dict[str, list[str]] | None = None
) -> JudgmentColumns:
    """Complete JSONL lines of judgments into columns (extending `vocab`, which may come from a cache)."""
    from arena.errors import ArenaError

    loads = orjson.loads
    vocab = {c: list(values) for c, values in (vocab or {c: [] for c in CODED}).items()}
    index = {c: {v: i for i, v in enumerate(values)} for c, values in vocab.items()}
    ids, scores_a, scores_b, preferences = [], [], [], []
    codes: dict[str, list[int]] = {c: [] for c in CODED}
    if first_line == 1 and data.startswith(b"\xef\xbb\xbf"):  # a byte-order mark from an editor or another tool
        data = data[3:]
    for number, line in enumerate(data.split(b"\n"), start=first_line):
        if not line.strip():
            continue
        try:
            record = loads(line)
            ids.append(record["judgment_id"])
            for column in CODED:
                value = str(record[column])
                code = index[column].get(value)
                if code is None:  # a value first seen: the only place a closed column needs checking
                    if column in CLOSED and value not in CLOSED[column]:
                        raise ArenaError(
                            f"{path}:{number}: field '{column}' must be one of {', '.join(CLOSED[column])}, "
                            f"got {value!r}"
                        )
                    code = index[column][value] = len(vocab[column])
                    vocab[column].append(value)
                codes[column].append(code)
            score_a, score_b, preference = record.get("score_a"), record.get("score_b"), record.get("preference_b")
        except (ValueError, KeyError, TypeError):
            raise ArenaError(f"{path}:{number}: not a valid judgment record; fix or remove that line") from None
        scores_a.append(np.nan if score_a is None else score_a)
        scores_b.append(np.nan if score_b is None else score_b)
        preferences.append(np.nan if preference is None else preference)
    return JudgmentColumns(
        np.array(ids, dtype="S24"),
        {c: np.array(v, dtype=np.int32) for c, v in codes.items()},
        vocab,
        np.array(scores_a, dtype=np.float64),
        np.array(scores_b, dtype=np.float64),
        np.array(preferences, dtype=np.float64),
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_path(log_path: Path) -> Path:
    return log_path.parent / ".columns" / f"{log_path.name}.npz"


def _load_cache(path: Path) -> tuple[dict, JudgmentColumns] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != _VERSION:
                return None
            columns = JudgmentColumns(
                data["judgment_id"],
                {c: data[f"code_{c}"] for c in CODED},
                meta["vocab"],
                data["score_a"],
                data["score_b"],
                data["preference_b"],
            )
        return meta, columns
    except (OSError, ValueError, KeyError):
        return None


def _save_cache(path: Path, meta: dict, columns: JudgmentColumns) -> None:
    """Best effort: a folder arena cannot write is simply read without a cache."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        allow_pickle=False,  # plain arrays only, as _load_cache reads them
        meta=np.array(json.dumps({**meta, "vocab": columns.vocab})),
        judgment_id=columns.judgment_id,
        score_a=columns.score_a,
        score_b=columns.score_b,
        preference_b=columns.preference_b,
        **{f"code_{c}": columns.codes[c] for c in CODED},
    )
    try:
        from arena.store.atomic import write_bytes_atomically

        write_bytes_atomically(path, buffer.getvalue())
    except OSError:
        pass


def read_columns(log: JsonlLog) -> JudgmentColumns:
    """The log's records as columns, through the cache when it still describes the log."""
    data = log.read_complete_bytes()
    stat = os.stat(log.path) if log.path.exists() else None
    meta_now = {
        "version": _VERSION,
        "size": len(data),
        "mtime_ns": stat.st_mtime_ns if stat else 0,
        "head": _digest(data[:_CHECK_BYTES]),
    }
    path = cache_path(log.path)
    cached = _load_cache(path)
    if cached is not None:
        meta, columns = cached
        if meta["size"] == len(data) and meta["mtime_ns"] == meta_now["mtime_ns"] and meta["head"] == meta_now["head"]:
            return columns
        size = meta["size"]
        appended = (
            size < len(data)
            and meta["head"] == _digest(data[: min(size, _CHECK_BYTES)])
            and meta["tail"] == _digest(data[max(0, size - _CHECK_BYTES) : size])
        )
        if appended:  # the log is append-only: only the new lines need parsing (their vocabulary extends ours)
            added = parse_records(data[size:], log.path, meta["lines"] + 1, columns.vocab)
            columns = JudgmentColumns(
                np.concatenate([columns.judgment_id, added.judgment_id]),
                {c: np.concatenate([columns.codes[c], added.codes[c]]) for c in CODED},
                added.vocab,
                np.concatenate([columns.score_a, added.score_a]),
                np.concatenate([columns.score_b, added.score_b]),
                np.concatenate([columns.preference_b, added.preference_b]),
            )
            _save_cache(path, _meta(meta_now, data), columns)
            return columns
    columns = parse_records(data, log.path, 1)
    _save_cache(path, _meta(meta_now, data), columns)
    return columns


def _meta(meta: dict, data: bytes) -> dict:
    return {**meta, "tail": _digest(data[max(0, len(data) - _CHECK_BYTES) :]), "lines": data.count(b"\n")}
