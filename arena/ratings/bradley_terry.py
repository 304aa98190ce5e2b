"""Bradley-Terry maximum-likelihood ratings on the Elo scale, with bootstrap intervals.

Matches are reduced once to counts per distinct (A, B, outcome); a bootstrap resample of matches is then a
multinomial draw over those counts, and all resamples are fitted together by batched Newton steps."""

from __future__ import annotations

import numpy as np

from arena.ratings.elo import INITIAL_RATING, RatingSummary, summarize
from arena.ratings.matches import Matches

ELO_SCALE = 400.0 / np.log(10.0)  # rating points per unit of log-odds
# A whisper of L2 on the log-strengths keeps a model that won (or lost) everything finite.
_RIDGE = 1e-9
_MAX_STEP = 4.0


def _match_kinds(matches: Matches) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (A, B, outcome) rows and how often each occurs."""
    table = np.stack([matches.model_a, matches.model_b, matches.outcome * 2], axis=1).astype(np.int64)
    kinds, counts = np.unique(table, axis=0, return_counts=True)
    return kinds, counts.astype(np.float64)


def _points_matrices(kinds: np.ndarray, counts: np.ndarray, n_models: int) -> np.ndarray:
    """points[s, i, j]: points model i took from j in count vector s (ties give half to each side)."""
    a, b, score = kinds[:, 0], kinds[:, 1], kinds[:, 2] / 2.0
    to_points = np.zeros((len(kinds), n_models * n_models))
    np.add.at(to_points, (np.arange(len(kinds)), a * n_models + b), score)
    np.add.at(to_points, (np.arange(len(kinds)), b * n_models + a), 1.0 - score)
    return (np.atleast_2d(counts) @ to_points).reshape(-1, n_models, n_models)


def fit_log_strengths(points: np.ndarray, iterations: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Newton's method on the BT log-likelihood for a batch of points matrices (S, n, n) -> (S, n),
    each row centred at 0. Log-likelihood: sum_ij points_ij * log sigmoid(theta_i - theta_j)."""
    samples, n, _ = points.shape
    played = points + points.transpose(0, 2, 1)
    theta = np.zeros((samples, n))
    eye = np.eye(n)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(theta[:, None, :] - theta[:, :, None]))  # p[s,i,j] = P(i beats j)
        gradient = (points - played * p).sum(axis=2) - _RIDGE * theta
        curvature = played * p * (1.0 - p)
        hessian = curvature - eye * (curvature.sum(axis=2)[:, :, None] + _RIDGE)
        step = np.linalg.solve(hessian, -gradient[:, :, None])[:, :, 0]
        step = np.clip(step, -_MAX_STEP, _MAX_STEP)
        theta = theta + step
        if np.abs(step).max() < tol:
            break
    return theta - theta.mean(axis=1, keepdims=True)


def to_elo_scale(theta: np.ndarray, anchor: int | None = None) -> np.ndarray:
    """Log-strengths to ratings: the anchor model (or the mean) sits at 1000."""
    centre = theta[..., anchor:anchor + 1] if anchor is not None else theta.mean(axis=-1, keepdims=True)
    return INITIAL_RATING + ELO_SCALE * (theta - centre)


def bradley_terry(matches: Matches, bootstrap: int = 1_000, seed: int = 0, anchor: str | None = None) -> RatingSummary:
    """MLE ratings with 95% bootstrap intervals (matches resampled with replacement)."""
    n = len(matches.models)
    anchor_index = matches.index(anchor) if anchor else None
    kinds, counts = _match_kinds(matches)
    point = to_elo_scale(fit_log_strengths(_points_matrices(kinds, counts, n))[0], anchor_index)
    if bootstrap <= 0:
        return summarize(matches.models, point[None, :], point)
    rng = np.random.default_rng(seed)
    resampled = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=bootstrap).astype(np.float64)
    samples = to_elo_scale(fit_log_strengths(_points_matrices(kinds, resampled, n)), anchor_index)
    return summarize(matches.models, samples, point)


def predicted_win_matrix(ratings: np.ndarray) -> np.ndarray:
    """P(row beats column) implied by BT ratings on the Elo scale."""
    return 1.0 / (1.0 + 10.0 ** ((ratings[None, :] - ratings[:, None]) / 400.0))
