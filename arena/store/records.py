"""The records that cross stage boundaries: answers (generation -> judging) and judgments (judging -> ratings)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from arena.errors import ArenaError

VERDICTS = ("A", "B", "tie", "error", "graded")  # graded: single-answer protocol
PROTOCOLS = ("pairwise", "relative", "single")
HUMAN_JUDGE = "human"  # the judge name of votes from the rating form (`arena rate`)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_ID_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)  # what json.dumps(...) used


def stable_id(*parts: Any) -> str:
    """A short id that is the same every time for the same content (dedupes re-imports and reruns)."""
    return hashlib.sha256(_ID_ENCODER.encode(parts).encode()).hexdigest()[:24]


@dataclass
class Answer:
    """A model's reply to one prompt; `turns` answers each user turn that had no reply, the last being final."""

    benchmark: str
    question_id: str
    model: str
    turns: list[str]
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    tokens: int | None = None
    seconds: float | None = None
    finish_reason: str | None = None
    params: dict = field(default_factory=dict)
    created: str = field(default_factory=utc_now)
    meta: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.turns[-1] if self.turns else ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str) -> Answer:
        answer = _build(cls, data, where)
        if not isinstance(answer.turns, list) or not all(isinstance(t, str) for t in answer.turns):
            raise ArenaError(f"{where}: field 'turns' must be a list of strings")
        answer.question_id = str(answer.question_id)
        return answer


@dataclass
class Judgment:
    """One judge's decision on one ordered pair: model_a was shown first. `verdict` is 'error' when the
    judge's output could not be read; the raw text is kept so it can be re-parsed or re-judged.

    `preference_b` is a soft verdict, when the judge gave one (AlpacaEval's weighted annotators read it from
    token probabilities): the probability in [0, 1] that the answer shown second is the better one. The
    ratings use it instead of the verdict, which still says who came out ahead (B above 0.5, A below, tie at
    it) for everything that counts wins. Records written before it existed have none."""

    benchmark: str
    question_id: str
    model_a: str
    model_b: str
    judge: str
    protocol: str
    verdict: str
    score_a: float | None = None
    score_b: float | None = None
    explanation: str = ""
    raw: str | None = None
    template_hash: str | None = None
    probabilities: dict | None = None
    category: str | None = None
    source: str | None = None
    judgment_id: str = ""
    created: str = field(default_factory=utc_now)
    meta: dict = field(default_factory=dict)
    # The turn judged (1-based) when each turn of a multi-turn answer is judged on its own (single grading,
    # FastChat's per-turn pairwise prompts); None: the answer as a whole (its last turn, the dialogue shown).
    # Single grading: model_a is the model graded, model_b "", score_a the grade, verdict 'graded' or 'error'.
    turn: int | None = None
    preference_b: float | None = None

    def __post_init__(self) -> None:
        self.question_id = str(self.question_id)
        if not self.judgment_id:  # the turn joins the id only when set, so ids made before it existed stand
            turn = () if self.turn is None else (self.turn,)
            self.judgment_id = stable_id(
                self.benchmark,
                self.question_id,
                self.model_a,
                self.model_b,
                self.judge,
                self.protocol,
                self.template_hash,
                self.source,
                *turn,
            )

    def to_dict(self) -> dict:
        # A shallow copy of the fields, not dataclasses.asdict (which deep-copies): a million-record import
        # writes this. The instance holds exactly its fields, in their order; a hard verdict's record is written
        # without `preference_b`, and a whole answer's without `turn`, as before they existed.
        data = dict(self.__dict__)
        for optional in ("preference_b", "turn"):
            if data[optional] is None:
                del data[optional]
        return data

    @classmethod
    def from_dict(cls, data: dict, where: str) -> Judgment:
        judgment = _build(cls, data, where)
        if judgment.verdict not in VERDICTS:
            raise ArenaError(f"{where}: field 'verdict' must be one of {', '.join(VERDICTS)}, got {judgment.verdict!r}")
        if judgment.protocol not in PROTOCOLS:
            raise ArenaError(
                f"{where}: field 'protocol' must be one of {', '.join(PROTOCOLS)}, got {judgment.protocol!r}"
            )
        soft = judgment.preference_b
        if soft is not None and (isinstance(soft, bool) or not isinstance(soft, (int, float)) or not 0 <= soft <= 1):
            raise ArenaError(f"{where}: field 'preference_b' must be a number in [0, 1], got {soft!r}")
        return judgment


def verdict_of_preference(preference_b: float) -> str:
    """The hard verdict a soft one comes down to: who is ahead, a tie only at exactly one half."""
    return "B" if preference_b > 0.5 else "A" if preference_b < 0.5 else "tie"


def _build(cls, data: dict, where: str):
    known = {f.name for f in fields(cls)}
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING and f.name not in data:
            raise ArenaError(f"{where}: missing field '{f.name}'")
    try:
        return cls(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise ArenaError(f"{where}: {exc}") from None
