"""The QLoRA paper's score relative to a baseline (e.g. "% of ChatGPT"): for each presentation order the sum
of the candidate's judge scores over the sum of the baseline's, then the mean of the two orders; a 95%
interval from resampling questions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from arena.errors import ArenaError, NothingToRate
from arena.ratings import DEFAULT_RESAMPLES
from arena.store.records import Judgment


@dataclass(frozen=True)
class RelativeScore:
    model: str
    baseline: str
    percent: float  # mean of the two orders
    candidate_first: float  # % when the candidate's answer was shown first
    baseline_first: float
    ci_low: float
    ci_high: float
    questions: int
    left_out: int  # judgments whose scores could not be read
    wins: int
    losses: int
    ties: int


def _score_table(judgments: list[Judgment], model: str, baseline: str, questions: list[str]):
    """(2, Q) arrays of candidate and baseline scores per order, with a mask of readable pairs. Scores of the
    same question and order add up (two review files may show the same order, as the paper's do)."""
    column = {q: i for i, q in enumerate(questions)}
    cand = np.zeros((2, len(questions)))
    base = np.zeros((2, len(questions)))
    present = np.zeros((2, len(questions)), dtype=bool)
    for j in judgments:
        order = 0 if j.model_a == model else 1
        cand_score, base_score = (j.score_a, j.score_b) if order == 0 else (j.score_b, j.score_a)
        cand[order, column[j.question_id]] += cand_score
        base[order, column[j.question_id]] += base_score
        present[order, column[j.question_id]] = True
    return cand, base, present


def _ratio_percent(weights: np.ndarray, cand: np.ndarray, base: np.ndarray) -> np.ndarray:
    """100 * sum(w * cand) / sum(w * base) for each weight row; (S, Q) x (Q,) -> (S,)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * (weights @ cand) / (weights @ base)


def relative_score(
    judgments: list[Judgment], model: str, baseline: str, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0
) -> RelativeScore:
    """`judgments`: relative-protocol judgments of `model` against `baseline`, in either order."""
    pairs = [j for j in judgments if {j.model_a, j.model_b} == {model, baseline}]
    readable = [
        j
        for j in pairs
        if j.verdict != "error"
        and j.score_a is not None
        and j.score_b is not None
        and j.score_a >= 0
        and j.score_b >= 0
    ]
    if not readable:
        raise NothingToRate(f"no readable relative judgments of '{model}' against '{baseline}'")
    questions = sorted({j.question_id for j in readable})
    cand, base, present = _score_table(readable, model, baseline, questions)
    per_order = [_ratio_percent(present[o][None, :].astype(float), cand[o], base[o])[0] for o in (0, 1)]
    weights = (
        np.random.default_rng(seed)
        .multinomial(len(questions), np.full(len(questions), 1 / len(questions)), size=max(bootstrap, 1))
        .astype(float)
    )
    boot = np.nanmean(
        [_ratio_percent(weights * present[o], cand[o], base[o]) for o in (0, 1) if present[o].any()], axis=0
    )
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    scores = np.array([(j.score_a, j.score_b) for j in readable], dtype=float)  # both read: see `readable`
    candidate_first = np.array([j.model_a == model for j in readable])
    diff = np.where(candidate_first, scores[:, 0] - scores[:, 1], scores[:, 1] - scores[:, 0])  # candidate - baseline
    return RelativeScore(
        model=model,
        baseline=baseline,
        percent=float(np.nanmean([p for p, o in zip(per_order, (0, 1)) if present[o].any()])),
        candidate_first=float(per_order[0]),
        baseline_first=float(per_order[1]),
        ci_low=float(low),
        ci_high=float(high),
        questions=len(questions),
        left_out=len(pairs) - len(readable),
        wins=int((diff > 0).sum()),
        losses=int((diff < 0).sum()),
        ties=int((diff == 0).sum()),
    )


class BaselineNotCovered(ArenaError):
    """No judgment holds the baseline asked for: `arena ratings` and the report skip that judge, naming it,
    and fail only when no judge covers it."""

    def __init__(self, baseline: str, present: list[str], what: str = "judgments") -> None:
        super().__init__(f"unknown baseline '{baseline}': the {what} cover {', '.join(present)}")
        self.baseline, self.present = baseline, present


def relative_scores(
    judgments: list[Judgment], baseline: str, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0
) -> list[RelativeScore]:
    models = sorted(({j.model_a for j in judgments} | {j.model_b for j in judgments}) - {baseline})
    if not any(baseline in (j.model_a, j.model_b) for j in judgments):
        present = sorted({j.model_a for j in judgments} | {j.model_b for j in judgments})
        raise BaselineNotCovered(baseline, present, "relative judgments")
    scores = [
        relative_score(judgments, m, baseline, bootstrap, seed)
        for m in models
        if any({j.model_a, j.model_b} == {m, baseline} for j in judgments)
    ]
    return sorted(scores, key=lambda s: -s.percent)


def relative_by_category(
    judgments: list[Judgment], baseline: str, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0
) -> dict[str, list[RelativeScore]]:
    grouped: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        grouped[j.category or "uncategorized"].append(j)
    result = {}
    for category, items in sorted(grouped.items()):
        if any(baseline in (j.model_a, j.model_b) for j in items):  # else the baseline was not judged there
            result[category] = relative_scores(items, baseline, bootstrap, seed)
    return result
