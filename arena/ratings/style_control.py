"""Ratings that see through a judge's taste for long, heavily formatted answers.

Style-controlled Bradley-Terry (Chatbot Arena's style control): logit P(A beats B) = θ_A − θ_B + Σ_k β_k d_k,
where d_k = (a_k − b_k) / (a_k + b_k) is the normalised difference of style feature k between the two answers
(0 when both are 0). θ and β are fitted jointly (`arena.ratings.covariates`); bootstrap resamples of the
matches give intervals for both. θ is then what a model is worth once style is accounted for.

Length-controlled win rate against a baseline (AlpacaEval 2.0's idea, on arena's data): for each model a GLM
logit P(model beats baseline) = α + β · d_length over its judged matches (both answer orders, ties half a
win); the controlled win rate is σ(α), the win rate read off at zero length difference. Intervals resample
questions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.errors import ArenaError
from arena.ratings.bradley_terry_fit import to_elo_scale
from arena.ratings.covariates import bootstrap_fits, covariate_matches, fit_with_covariates
from arena.ratings.matches import Matches
from arena.ratings.summary import RatingSummary, summarize


def normalised_difference(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(a − b) / (a + b) per feature, 0 where both are 0."""
    total = first + second
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (first - second) / np.where(total > 0, total, 1), 0.0)


@dataclass(frozen=True)
class ControlledFit:
    summary: RatingSummary  # θ on the Elo scale with intervals
    features: tuple[str, ...]
    beta: np.ndarray
    beta_low: np.ndarray
    beta_high: np.ndarray


def controlled_bt(matches: Matches, features: np.ndarray, names: list[str] | tuple[str, ...], bootstrap: int = 1_000,
                  seed: int = 0, anchor: str | None = None) -> ControlledFit:
    """`features`: (matches, k) normalised differences, row i for match i (A minus B)."""
    n, count = len(matches.models), len(matches)
    if features.shape != (count, len(names)):
        raise ArenaError(f"style features: expected {count} rows of {len(names)}, got {features.shape}")
    anchor_index = matches.index(anchor) if anchor else None
    data = covariate_matches(matches.model_a, matches.model_b, matches.outcome, features, n)
    point = fit_with_covariates(data)
    rating = to_elo_scale(point[:n], anchor_index)
    if bootstrap <= 0:
        return ControlledFit(summarize(matches.models, rating[None, :], rating), tuple(names), point[n:],
                             point[n:], point[n:])
    samples = bootstrap_fits(data, point, np.random.default_rng([seed, 2]).bit_generator.random_raw(bootstrap))
    low, high = np.percentile(samples[:, n:], [2.5, 97.5], axis=0)
    return ControlledFit(summarize(matches.models, to_elo_scale(samples[:, :n], anchor_index), rating),
                         tuple(names), point[n:], low, high)


# --- length-controlled win rate ---------------------------------------------------------------------------
def _logistic_fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Weighted logistic regression logit = α + β x for a batch of weight rows (S, M) -> (S, 2), by Newton;
    a whisper of ridge keeps α, β finite when a model wins every match."""
    params = np.zeros((weights.shape[0], 2))
    design = np.stack([np.ones_like(x), x], axis=1)  # (M, 2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(params @ design.T)))
        gradient = (weights * (y - p)) @ design - 1e-6 * params
        curvature = weights * p * (1.0 - p)
        hessian = np.einsum("sm,mi,mj->sij", curvature, design, design) + 1e-6 * np.eye(2)
        step = np.clip(np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0], -4.0, 4.0)
        params += step
        if np.abs(step).max() < 1e-9:
            break
    return params


def win_rate_against(question: np.ndarray, candidate_score: np.ndarray, length_difference: np.ndarray | None,
                     bootstrap: int, seed: int) -> tuple[tuple[float, float, float], tuple | None, float | None]:
    """Raw and length-controlled win rate (%) with 95% intervals from resampling questions. `candidate_score`:
    1 win, 0.5 tie, 0 loss for the candidate in each judged match; `length_difference`: d_length of the
    candidate's answer against the baseline's in that match."""
    questions, column = np.unique(question, return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(questions), np.full(len(questions), 1 / len(questions)), size=max(bootstrap, 1))
    weights = np.vstack([np.ones(len(questions)), counts])[:, column].astype(np.float64)  # row 0: the data itself
    raw = 100 * (weights @ candidate_score) / weights.sum(axis=1)
    raw_interval = (float(raw[0]), *map(float, np.percentile(raw[1:], [2.5, 97.5])))
    if length_difference is None:
        return raw_interval, None, None
    params = _logistic_fit(length_difference, candidate_score, weights)
    controlled = 100 / (1 + np.exp(-params[:, 0]))
    lc_interval = (float(controlled[0]), *map(float, np.percentile(controlled[1:], [2.5, 97.5])))
    return raw_interval, lc_interval, float(params[0, 1])


# --- a judge's taste for length ------------------------------------------------------------------------
@dataclass(frozen=True)
class LengthBias:
    judge: str
    longer_wins_share: float  # of decided matches (no tie) whose answers differ in length
    length_beta: float  # log-odds per unit of normalised length difference, models held fixed
    length_beta_low: float
    length_beta_high: float


def length_bias(judge: str, matches: Matches, length_difference: np.ndarray, bootstrap: int = 200,
                seed: int = 0) -> LengthBias:
    """`length_difference`: (matches,) normalised length difference, A minus B."""
    decided = (matches.outcome != 0.5) & (length_difference != 0)
    longer_won = (matches.outcome[decided] == 1.0) == (length_difference[decided] > 0)
    fit = controlled_bt(matches, length_difference[:, None], ("length",), bootstrap, seed)
    return LengthBias(judge, float(longer_won.mean()) if decided.any() else float("nan"), float(fit.beta[0]),
                      float(fit.beta_low[0]), float(fit.beta_high[0]))
