"""Judgments turned once into numpy arrays; every rating method is a pure function of these arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.errors import ArenaError
from arena.store.records import Judgment

# Score of the first-shown model (A) for each decided verdict: a win is 1, a tie is half a win each way.
OUTCOME = {"A": 1.0, "B": 0.0, "tie": 0.5}


def outcome_of(judgment: Judgment) -> float:
    """A's score in a decided judgment: 1 − the soft preference for B when the judge gave one (a fractional
    win), else the verdict's score."""
    if judgment.preference_b is not None:
        return 1.0 - judgment.preference_b
    return OUTCOME[judgment.verdict]


@dataclass(frozen=True)
class Matches:
    """Decided matches: model_a[i] (shown first) against model_b[i], scoring outcome[i] for A.
    `errors` counts, per model, judgments whose verdict could not be read; they never enter the ratings."""

    models: tuple[str, ...]
    model_a: np.ndarray  # int indices into models
    model_b: np.ndarray
    outcome: np.ndarray  # float: 1 A won, 0.5 tie, 0 B won; in between for a soft verdict (A's share of the win)
    errors: dict[str, int]

    def __len__(self) -> int:
        return len(self.outcome)

    def index(self, model: str) -> int:
        try:
            return self.models.index(model)
        except ValueError:
            raise ArenaError(f"unknown model '{model}': the judgments cover {', '.join(self.models)}") from None

    def record(self) -> dict[str, dict[str, int]]:
        """Wins, losses, ties and matches per model (each judged order counts as its own match); a soft
        verdict counts for the side it favours."""
        n = len(self.models)
        win_a, win_b, tie = self.outcome > 0.5, self.outcome < 0.5, self.outcome == 0.5
        wins = np.bincount(self.model_a[win_a], minlength=n) + np.bincount(self.model_b[win_b], minlength=n)
        losses = np.bincount(self.model_b[win_a], minlength=n) + np.bincount(self.model_a[win_b], minlength=n)
        ties = np.bincount(self.model_a[tie], minlength=n) + np.bincount(self.model_b[tie], minlength=n)
        return {
            m: {
                "matches": int(wins[i] + losses[i] + ties[i]),
                "wins": int(wins[i]),
                "losses": int(losses[i]),
                "ties": int(ties[i]),
                "errors": self.errors.get(m, 0),
            }
            for i, m in enumerate(self.models)
        }


def build_matches(judgments: list[Judgment]) -> Matches:
    """Judgments with a decided verdict become matches; errors are counted per model and left out. The same
    arithmetic as the columnar path (matches_from_columns), fed from objects: for the few callers that hold
    judgment objects anyway (the battle browser, a panel's majority verdicts, an evaluation's pairs)."""
    if not judgments:
        raise ArenaError("no judgments to rate")
    models = sorted({j.model_a for j in judgments} | {j.model_b for j in judgments})
    position = {m: i for i, m in enumerate(models)}
    return assemble_matches(
        models,
        np.array([position[j.model_a] for j in judgments], dtype=np.int64),
        np.array([position[j.model_b] for j in judgments], dtype=np.int64),
        np.array([OUTCOME.get(j.verdict, np.nan) for j in judgments], dtype=np.float64),
        np.array([np.nan if j.preference_b is None else j.preference_b for j in judgments], dtype=np.float64),
        np.array([j.verdict == "error" for j in judgments], dtype=bool),
    )


def assemble_matches(
    models: list[str], a: np.ndarray, b: np.ndarray, score: np.ndarray, soft: np.ndarray, error: np.ndarray
) -> Matches:
    """Matches from one row per judgment: the two models' positions in `models`, the verdict's score for A
    (NaN when undecided), the judge's soft preference for B (NaN when it gave none) and whether the verdict
    was unreadable. A soft preference replaces a decided verdict's score (see outcome_of)."""
    outcome = np.where(np.isnan(soft) | np.isnan(score), score, 1.0 - soft)
    decided = ~np.isnan(outcome)
    errors = np.bincount(a[error], minlength=len(models)) + np.bincount(b[error], minlength=len(models))
    return Matches(
        tuple(str(m) for m in models),
        a[decided].astype(np.int64),
        b[decided].astype(np.int64),
        outcome[decided],
        {str(m): int(e) for m, e in zip(models, errors) if e},
    )


def win_rate_matrix(matches: Matches) -> np.ndarray:
    """Observed share of points row model took from column model, both orders pooled; NaN where unplayed."""
    n = len(matches.models)
    points = np.zeros((n, n))
    played = np.zeros((n, n))
    np.add.at(points, (matches.model_a, matches.model_b), matches.outcome)
    np.add.at(points, (matches.model_b, matches.model_a), 1.0 - matches.outcome)
    np.add.at(played, (matches.model_a, matches.model_b), 1.0)
    np.add.at(played, (matches.model_b, matches.model_a), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(played > 0, points / np.maximum(played, 1), np.nan)


def matches_from_columns(columns, protocol: str, judges: list[str] | None = None) -> Matches:
    """The same as build_matches, straight from the store's columns: no object per judgment."""
    return matches_and_rows(columns, protocol, judges)[0]


def matches_and_rows(columns, protocol: str, judges: list[str] | None = None) -> tuple[Matches, np.ndarray]:
    """matches_from_columns, and for each match its row in `columns`, for what else a caller reads of it (the
    question, to look up the two answers)."""
    keep = columns.codes["protocol"] == columns.code("protocol", protocol)
    if judges:
        keep &= np.isin(columns.codes["judge"], [columns.code("judge", j) for j in judges])
    if not keep.any():
        raise ArenaError(f"no {protocol} judgments{' by ' + ', '.join(judges) if judges else ''} to rate")
    a_codes, b_codes, verdicts = (columns.codes[c][keep] for c in ("model_a", "model_b", "verdict"))
    # model_a and model_b codes index two vocabularies: map both onto one sorted list of the models present.
    present_a, present_b = np.unique(a_codes), np.unique(b_codes)
    models = sorted({columns.vocab["model_a"][i] for i in present_a} | {columns.vocab["model_b"][i] for i in present_b})
    position = {m: i for i, m in enumerate(models)}
    to_a = np.array([position.get(m, -1) for m in columns.vocab["model_a"]], dtype=np.int64)
    to_b = np.array([position.get(m, -1) for m in columns.vocab["model_b"]], dtype=np.int64)
    a, b = to_a[a_codes], to_b[b_codes]
    score_of = np.full(len(columns.vocab["verdict"]), np.nan)
    for verdict, score in OUTCOME.items():
        code = columns.code("verdict", verdict)
        if code >= 0:
            score_of[code] = score
    error = verdicts == columns.code("verdict", "error")
    score = score_of[verdicts]
    matches = assemble_matches(models, a, b, score, columns.preference_b[keep], error)
    return matches, np.flatnonzero(keep)[~np.isnan(score)]  # assemble_matches keeps the verdicts with a score
