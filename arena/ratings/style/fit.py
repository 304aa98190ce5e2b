"""Ratings that see through a judge's taste for long, heavily formatted answers.

Style-controlled Bradley-Terry (Chatbot Arena's style control): logit P(A beats B) = θ_A − θ_B + Σ_k β_k d_k,
where d_k = (a_k − b_k) / (a_k + b_k) is the normalised difference of style feature k between the two answers
(0 when both are 0). θ and β are fitted jointly by Newton's method; bootstrap resamples of the matches give
intervals for both. θ is then what a model is worth once style is accounted for.

Two engines do the fitting, as for the paper's Elo: small inputs go to `arena.ratings.style.batched` (numpy,
resamples fitted together), larger ones to the compiled kernels of `arena.ratings.style.kernels` (numba,
imported only then: starting numba costs about half a second, most of a small report). Both draw the very same
resamples and end every fit at its maximum-likelihood estimate within the fit's tolerance, so which one ran
shows only in the last digits. Both fit by a damped Newton method that converges from any start (described in
`batched`).

The length-controlled win rate against a baseline (AlpacaEval 2.0's) is `arena.ratings.length_controlled`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.errors import ArenaError
from arena.ratings import DEFAULT_RESAMPLES
from arena.ratings.bradley_terry_fit import to_elo_scale
from arena.ratings.matches import Matches
from arena.ratings.style.batched import covariate_matches
from arena.ratings.summary import RatingSummary, summarize

# Up to this many match-fits (matches × (resamples + 1)) the numpy engine finishes before numba would have
# started and loaded its kernels; above it the compiled kernels win. Measured on this project's 2-core machine
# (`python benchmarks/ratings.py --style-threshold`: 4 features, 1,000 resamples, fresh processes, another job
# running, load average 2-3.5): numpy 0.34 s at 3 million (8 models; 0.42 s with 20), 0.59 s at 5 million,
# 1.2 s at 10 million; the compiled path 0.56-0.73 s at any of these, nearly all of it numba's start.
_NUMPY_MAX_CELLS = 5_000_000


def _engine(matches: int, bootstrap: int):
    """The module that fits: `batched` (numpy) for small inputs, `kernels` (numba) for large ones."""
    if matches * (max(bootstrap, 0) + 1) <= _NUMPY_MAX_CELLS:
        from arena.ratings.style import batched

        return batched
    from arena.ratings.style import kernels

    return kernels


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


def controlled_bt(
    matches: Matches,
    features: np.ndarray,
    names: list[str] | tuple[str, ...],
    bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    anchor: str | None = None,
) -> ControlledFit:
    """`features`: (matches, k) normalised differences, row i for match i (A minus B)."""
    n, count = len(matches.models), len(matches)
    if features.shape != (count, len(names)):
        raise ArenaError(f"style features: expected {count} rows of {len(names)}, got {features.shape}")
    anchor_index = matches.index(anchor) if anchor else None
    data = covariate_matches(matches.model_a, matches.model_b, matches.outcome, features, n)
    engine = _engine(count, bootstrap)
    point = engine.fit_with_covariates(data).params
    rating = to_elo_scale(point[:n], anchor_index)
    if bootstrap <= 0:
        return ControlledFit(
            summarize(matches.models, rating[None, :], rating), tuple(names), point[n:], point[n:], point[n:]
        )
    seeds = np.random.default_rng([seed, 2]).bit_generator.random_raw(bootstrap)
    samples = engine.bootstrap_fits(data, point, seeds).params
    low, high = np.percentile(samples[:, n:], [2.5, 97.5], axis=0)
    return ControlledFit(
        summarize(matches.models, to_elo_scale(samples[:, :n], anchor_index), rating),
        tuple(names),
        point[n:],
        low,
        high,
    )


# --- win rate against a baseline -------------------------------------------------------------------------
def win_rate_against(
    question: np.ndarray, candidate_score: np.ndarray, bootstrap: int, seed: int
) -> tuple[float, float, float]:
    """Win rate (%) with a 95% interval from resampling questions. `candidate_score`: 1 win, 0.5 tie, 0 loss
    for the candidate in each judged match (a soft verdict in between). The length-controlled win rate is
    `arena.ratings.length_controlled`."""
    questions, column = np.unique(question, return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(questions), np.full(len(questions), 1 / len(questions)), size=max(bootstrap, 1))
    weights = np.vstack([np.ones(len(questions)), counts])[:, column].astype(np.float64)  # row 0: the data itself
    raw = 100 * (weights @ candidate_score) / weights.sum(axis=1)
    low, high = np.percentile(raw[1:], [2.5, 97.5])
    return float(raw[0]), float(low), float(high)


# --- a judge's taste for length ------------------------------------------------------------------------
@dataclass(frozen=True)
class LengthBias:
    judge: str
    longer_wins_share: float  # of decided matches (no tie) whose answers differ in length
    length_beta: float  # log-odds per unit of normalised length difference, models held fixed
    length_beta_low: float
    length_beta_high: float


def length_bias(
    judge: str, matches: Matches, length_difference: np.ndarray, bootstrap: int = 200, seed: int = 0
) -> LengthBias:
    """`length_difference`: (matches,) normalised length difference, A minus B."""
    decided = (matches.outcome != 0.5) & (length_difference != 0)
    longer_won = (matches.outcome[decided] > 0.5) == (length_difference[decided] > 0)
    fit = controlled_bt(matches, length_difference[:, None], ("length",), bootstrap, seed)
    return LengthBias(
        judge,
        float(longer_won.mean()) if decided.any() else float("nan"),
        float(fit.beta[0]),
        float(fit.beta_low[0]),
        float(fit.beta_high[0]),
    )
