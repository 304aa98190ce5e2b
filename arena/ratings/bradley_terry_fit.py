"""Bradley-Terry maximum-likelihood ratings on the Elo scale, with bootstrap intervals, at any scale.

Matches are reduced once to counts per distinct (A, B, outcome) kind. A bootstrap resample is a multinomial
draw over those counts; each draw is scattered into (model, model) cells of points taken and games played
(memory n² per resample, whatever the number of matches), and all resamples of a chunk are fitted together
by batched Newton steps. The likelihood does not change when every log-strength moves by the same amount,
so the Newton system gets the rank-one term 11ᵀ/n that removes that direction: steps are centred, and
convergence is tested on them. Resamples start from the full-data fit, so they converge in a few steps.

`arena.ratings.style.kernels` fits the same likelihood with per-match covariates (style control).
"""

from __future__ import annotations

import os

import numpy as np

from arena.ratings import DEFAULT_RESAMPLES
from arena.ratings.matches import Matches
from arena.ratings.summary import ELO_POINTS_PER_DECADE, INITIAL_RATING, RatingSummary, summarize

ELO_SCALE = ELO_POINTS_PER_DECADE / np.log(10.0)  # rating points per unit of log-odds
# A whisper of L2 on the log-strengths keeps a model that won (or lost) everything finite.
_RIDGE = 1e-9
_MAX_STEP = 4.0
# On the largest centred Newton step, in log-odds. Newton converges quadratically: after a step of 1e-7 the
# error left is of order 1e-14 (a millionth of a rating point).
_TOLERANCE = 1e-7
_MAX_ITERATIONS = 60
_CELLS_PER_CHUNK = 4_000_000  # resamples × models² held at once (about 32 MB per array)
# Up to this many entries (kinds × models², about 22 models) the points operator is a dense array: faster than
# scipy.sparse's product there (1,000 resamples on 20 models: 6 ms against 14 ms, measured), and a small report
# does not import scipy.sparse (0.09 s). Counts times 0, ½ and 1 sum exactly in any order, so both give the
# same tables (soft verdicts' fractions: to rounding).
_DENSE_OPERATOR_MAX = 500_000


def match_kinds(matches: Matches) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (A, B, 2 × outcome) rows and how often each occurs: one pass of counting into a key per kind.
    The likelihood does not care which model was shown first, so each match is written with the lower model
    index first (its outcome flipped when needed): half the kinds, and the multinomial resample over these
    merged kinds is exactly the marginal of the one over the finer kinds.

    Soft verdicts (fractional outcomes) make kinds of every distinct (A, B, outcome); the third column then
    holds 2 × outcome as a float, and a kind scores its fraction of a win in the likelihood."""
    n = len(matches.models)
    swap = matches.model_a > matches.model_b
    low = np.where(swap, matches.model_b, matches.model_a).astype(np.int64)
    high = np.where(swap, matches.model_a, matches.model_b).astype(np.int64)
    doubled = np.where(swap, 1.0 - matches.outcome, matches.outcome) * 2
    if not np.isin(doubled, (0.0, 1.0, 2.0)).all():
        kinds, counts = np.unique(np.stack([low, high, doubled], axis=1), axis=0, return_counts=True)
        return kinds, counts.astype(np.float64)
    outcome2 = doubled.astype(np.int64)
    key = (low * n + high) * 3 + outcome2
    if n * n * 3 <= 50_000_000:
        counts = np.bincount(key, minlength=n * n * 3)
        present = np.flatnonzero(counts)
        counts = counts[present]
    else:
        present, counts = np.unique(key, return_counts=True)
    kinds = np.stack([present // 3 // n, present // 3 % n, present % 3], axis=1)
    return kinds, counts.astype(np.float64)


def _points_operator(kinds: np.ndarray, n_models: int):
    """(kinds × models²): a count vector times this is the points table, points[i, j] = points i took from j
    (a tie gives half to each side). A dense array when small (see _DENSE_OPERATOR_MAX), else scipy.sparse."""
    a, b, score = kinds[:, 0].astype(np.int64), kinds[:, 1].astype(np.int64), kinds[:, 2] / 2.0
    rows = np.concatenate([np.arange(len(kinds)), np.arange(len(kinds))])
    cols = np.concatenate([a * n_models + b, b * n_models + a])
    values = np.concatenate([score, 1.0 - score])
    if len(kinds) * n_models**2 <= _DENSE_OPERATOR_MAX:
        dense = np.zeros((len(kinds), n_models**2))
        np.add.at(dense, (rows, cols), values)
        return dense
    import scipy.sparse as sparse

    return sparse.csr_matrix((values, (rows, cols)), shape=(len(kinds), n_models**2))


def points_tables(kinds: np.ndarray, counts: np.ndarray, n_models: int) -> np.ndarray:
    """(S, K) count vectors -> (S, n, n) points tables."""
    counts = np.atleast_2d(counts)
    operator = _points_operator(kinds, n_models)
    flat = counts @ operator if isinstance(operator, np.ndarray) else (operator.T @ counts.T).T
    return np.asarray(flat).reshape(-1, n_models, n_models)


def fit_log_strengths(points: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Newton's method on Σ_ij points_ij · log σ(θ_i − θ_j) for a batch of points tables (S, n, n) -> (S, n),
    each row centred at 0."""
    samples, n, _ = points.shape
    played = points + points.transpose(0, 2, 1)
    theta = np.zeros((samples, n)) if start is None else np.array(np.broadcast_to(start, (samples, n)))
    centring = np.full((n, n), 1.0 / n) + _RIDGE * np.eye(n)
    for _ in range(_MAX_ITERATIONS):
        p = 1.0 / (1.0 + np.exp(theta[:, None, :] - theta[:, :, None]))  # p[s,i,j] = P(i beats j)
        gradient = (points - played * p).sum(axis=2) - _RIDGE * theta
        weight = played * p * (1.0 - p)
        # The negative Hessian is the graph Laplacian of `weight`; 11ᵀ/n fills its null space (common shift).
        system = -weight + centring
        system[:, np.arange(n), np.arange(n)] += weight.sum(axis=2)
        step = np.clip(np.linalg.solve(system, gradient[:, :, None])[:, :, 0], -_MAX_STEP, _MAX_STEP)
        theta += step
        if np.abs(step).max() < _TOLERANCE:
            break
    return theta - theta.mean(axis=1, keepdims=True)


def to_elo_scale(theta: np.ndarray, anchor: int | None = None) -> np.ndarray:
    """Log-strengths to ratings: the anchor model (or the mean) sits at 1000."""
    centre = theta[..., anchor : anchor + 1] if anchor is not None else theta.mean(axis=-1, keepdims=True)
    return INITIAL_RATING + ELO_SCALE * (theta - centre)


def bootstrap_counts(counts: np.ndarray, size: int, seed: int, chunk_index: int) -> np.ndarray:
    """`size` multinomial resamples of the kind counts, from a generator of their own (seed, chunk), so chunks
    can be drawn on several cores and the result does not depend on which core drew what."""
    rng = np.random.default_rng([seed, chunk_index])
    return rng.multinomial(int(counts.sum()), counts / counts.sum(), size=size).astype(np.float64)


def in_chunks(bootstrap: int, chunk: int, fit) -> np.ndarray:
    """fit(chunk_index, size) for every chunk of the resamples, on all cores (numpy and LAPACK release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    sizes = [(i, min(chunk, bootstrap - start)) for i, start in enumerate(range(0, bootstrap, chunk))]
    if len(sizes) == 1:
        return fit(*sizes[0])
    with ThreadPoolExecutor(max_workers=min(len(sizes), os.cpu_count() or 1)) as pool:
        return np.concatenate(list(pool.map(lambda job: fit(*job), sizes)))


def bradley_terry(
    matches: Matches, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, anchor: str | None = None
) -> RatingSummary:
    """MLE ratings with 95% bootstrap intervals (matches resampled with replacement)."""
    n = len(matches.models)
    anchor_index = matches.index(anchor) if anchor else None
    kinds, counts = match_kinds(matches)
    theta = fit_log_strengths(points_tables(kinds, counts, n))[0]
    point = to_elo_scale(theta, anchor_index)
    if bootstrap <= 0:
        return summarize(matches.models, point[None, :], point)
    # Half the cells per chunk when two chunks run at once keeps memory where one would be.
    chunk = max(1, _CELLS_PER_CHUNK // (n * n) // 2)

    def fit(index: int, size: int) -> np.ndarray:
        resampled = bootstrap_counts(counts, size, seed, index)
        return to_elo_scale(fit_log_strengths(points_tables(kinds, resampled, n), theta), anchor_index)

    return summarize(matches.models, in_chunks(bootstrap, chunk, fit), point)


def predicted_win_matrix(ratings: np.ndarray) -> np.ndarray:
    """P(row beats column) implied by BT ratings on the Elo scale."""
    return 1.0 / (1.0 + 10.0 ** ((ratings[None, :] - ratings[:, None]) / ELO_POINTS_PER_DECADE))
