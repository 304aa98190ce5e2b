"""Style-controlled Bradley-Terry in plain numpy, for small inputs: the same fit as the compiled kernels of
`arena.ratings.style.kernels`, without numba's start-up.

A compiled fit pays once per process to import numba and load its cached kernels (about half a second on a
2-core machine, measured: 0.2 s import, 0.3 s loading), which is most of what a report on a hundred judgments
takes. Below `arena.ratings.style.fit._NUMPY_MAX_CELLS` (matches × fits) this module does the work instead,
vectorised across bootstrap resamples rather than compiled per resample:

- The point fit is the same centred Newton method (the rank-one term 11ᵀ/n on the θ block fills the null space
  of a common shift of θ; the same ridge, step clipping and stopping rule), so it lands where the compiled
  `_newton` does, to rounding.
- Each resample is drawn exactly as the compiled `_draw_counts` draws it: as many uniform match indices as
  there are matches, from SplitMix64 started at the resample's own seed (`arena.ratings.random_draws`), here
  for every resample of a chunk at once, counted with one bincount.
- The resamples of a chunk are then fitted together: batched Newton steps from the full-data fit, a resample
  dropping out of the batch once its step is below the tolerance. The compiled path gets there by chord
  steps instead; both end at the resample's own maximum-likelihood fit within the tolerance (1e-4 log-odds,
  0.02 rating points), so the intervals agree to that.

Layout (shared with the compiled kernels): each match is written with the lower model index first (covariates
negated and outcome flipped when swapped: the likelihood is the same) and matches are sorted by pair, so θ_A −
θ_B is one number per run of matches and the θ parts of gradient and Hessian are sums per run (reduceat);
covariates are stored one row per feature.

The constants and layout here are compiled into the kernels as constants; numba's cache only watches the
kernels' own file, so after changing them clear the cached kernels (`style/__pycache__/kernels.*.nb?`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.ratings.random_draws import splitmix64, unit

_RIDGE = 1e-9  # a whisper of L2 keeps a model that won (or lost) everything finite
_MAX_STEP = 4.0
# Largest step, in log-odds. Newton's error after a step of 1e-4 is of order 1e-8; chord steps that at least
# halve (enforced) leave less than the last step, 1e-4 log-odds = 0.02 rating points (measured: under 2e-5).
_TOLERANCE = 1e-4
_MAX_ITERATIONS = 60
# Resamples × matches worked on at once: each array 512 kB, so a step's passes stay in the CPU's cache (measured
# on 8 models, 5,000 matches, 1,000 resamples: 0.20 s at 2¹⁶, 0.45 s at 2¹⁸).
_CELLS_PER_CHUNK = 1 << 16


@dataclass(frozen=True)
class CovariateMatches:
    """Matches in the layout both paths read: pair runs, lower model index first."""

    n_models: int
    starts: np.ndarray  # (runs + 1,): run r is matches starts[r]:starts[r + 1]
    low: np.ndarray  # (runs,) the run's models, low < high
    high: np.ndarray
    outcome: np.ndarray  # (matches,) for `low`: 1 win, 0.5 tie, 0 loss
    features: np.ndarray  # (k, matches) covariates, low's answer against high's, in float32: 7 digits are more
    # than a ratio of word counts carries, and half the bytes make every pass over the matches faster

    @property
    def arrays(self) -> tuple:
        return self.starts, self.low, self.high, self.outcome, self.features


def covariate_matches(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, features: np.ndarray, n_models: int
) -> CovariateMatches:
    """Lay the matches out once per fit; `features`: (matches, k), A's answer against B's."""
    swap = a > b
    low, high = np.where(swap, b, a).astype(np.int64), np.where(swap, a, b).astype(np.int64)
    pair = low * n_models + high
    order = np.argsort(pair, kind="stable")
    first = np.flatnonzero(np.diff(pair[order], prepend=-1))
    signed = np.where(swap[:, None], -features, features)[order]
    return CovariateMatches(
        n_models,
        np.append(first, len(pair)).astype(np.int64),
        low[order][first],
        high[order][first],
        np.ascontiguousarray(np.where(swap, 1.0 - outcome, outcome)[order], dtype=np.float64),
        np.ascontiguousarray(signed.T, dtype=np.float32),
    )


def resample_counts(data: CovariateMatches, seeds: np.ndarray) -> np.ndarray:
    """(seeds, matches): how often each match (in `data`'s order) is drawn in the resample of each seed, the
    compiled `_draw_counts`'s draws: draw i (1-based) of a seed's stream is match ⌊unit(z_i) · matches⌋."""
    seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
    size = len(data.outcome)
    with np.errstate(over="ignore"):
        z = splitmix64(seeds[:, None], np.arange(1, size + 1, dtype=np.uint64)[None, :])
    drawn = np.minimum((unit(z) * size).astype(np.int64), size - 1)
    drawn += np.arange(len(seeds), dtype=np.int64)[:, None] * size
    return np.bincount(drawn.ravel(), minlength=len(seeds) * size).reshape(len(seeds), size).astype(np.float64)


class _Design:
    """What every Newton step reads, prepared once per fit: the covariates in float64 (the kernels widen each
    float32 value the same way), the run lengths, and the (runs, models) incidence +1 at low, −1 at high that
    turns per-run sums into per-model ones.

    The sums over matches are einsums, not BLAS products: these are thin (resamples × matches times matches ×
    k or k²), which OpenBLAS spreads over threads that spin between calls. Measured with another job on the
    2-core machine: 8 models × 1,000 matches 0.18 s against 0.49 s, 20 × 3,000 0.49 s against 1.21 s; on 8 ×
    5,000 BLAS wins (0.40 s against 0.50 s), not enough to matter below the threshold."""

    def __init__(self, data: CovariateMatches):
        self.n, self.k = data.n_models, data.features.shape[0]
        self.heads = data.starts[:-1]
        self.lengths = np.diff(data.starts)
        self.low, self.high, self.outcome = data.low, data.high, data.outcome
        self.features = data.features.astype(np.float64)  # (k, matches)
        runs = len(data.low)
        self.incidence = np.zeros((runs, self.n))
        self.incidence[np.arange(runs), data.low] = 1.0
        self.incidence[np.arange(runs), data.high] = -1.0
        self.products = (self.features[:, None, :] * self.features[None, :, :]).reshape(self.k * self.k, -1)

    def probability(self, params: np.ndarray) -> np.ndarray:
        """(fits, matches) P(low beats high) under each row of params, the kernels' sums in their order."""
        theta = params[:, : self.n]
        z = np.repeat(theta[:, self.low] - theta[:, self.high], self.lengths, axis=1)
        for f in range(self.k):
            z += params[:, self.n + f, None] * self.features[f]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))

    def gradient(self, residual: np.ndarray, params: np.ndarray) -> np.ndarray:
        """From per-match residuals w·(y − p): a sum per pair run for θ, a dot per feature for β."""
        run_sums = np.add.reduceat(residual, self.heads, axis=1)
        return (
            np.concatenate([run_sums @ self.incidence, np.einsum("sm,fm->sf", residual, self.features)], axis=1)
            - _RIDGE * params
        )

    def system(self, weight: np.ndarray) -> np.ndarray:
        """(fits, n + k, n + k) negative Hessians from per-match weights w·p·(1 − p), plus 11ᵀ/n on the θ block:
        the θ block is the Laplacian of the per-run sums, the θ-β block per-run sums of w·d_f, the β block the
        dots of w with d_f·d_g."""
        fits, n, k = len(weight), self.n, self.k
        system = np.zeros((fits, n + k, n + k))
        run_sums = np.add.reduceat(weight, self.heads, axis=1)
        system[:, :n, :n] = 1.0 / n
        diagonal = np.arange(n)
        system[:, diagonal, diagonal] += run_sums @ np.abs(self.incidence)
        system[:, self.low, self.high] -= run_sums  # pairs are distinct: no index repeats
        system[:, self.high, self.low] -= run_sums
        if k:
            cross = np.add.reduceat(weight[:, None, :] * self.features[None], self.heads, axis=2) @ self.incidence
            system[:, n:, :n] = cross
            system[:, :n, n:] = cross.transpose(0, 2, 1)
            system[:, n:, n:] = np.einsum("sm,pm->sp", weight, self.products).reshape(fits, k, k)
        everything = np.arange(n + k)
        system[:, everything, everything] += _RIDGE
        return system


def _newton(design: _Design, counts: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Newton's method on every row of params (fits, n + k) at once, each with its own counts (fits, matches);
    a row leaves the batch once its largest (clipped) step is below the tolerance, as in the kernels."""
    active = np.arange(len(params))
    for _ in range(_MAX_ITERATIONS):
        if not len(active):
            break
        rows, weights = params[active], counts[active]
        p = design.probability(rows)
        gradient = design.gradient(weights * (design.outcome - p), rows)
        step = np.linalg.solve(design.system(weights * p * (1.0 - p)), gradient[:, :, None])[:, :, 0]
        step = np.clip(step, -_MAX_STEP, _MAX_STEP)
        params[active] = rows + step
        active = active[np.abs(step).max(axis=1) >= _TOLERANCE]
    return params


def fit_with_covariates(data: CovariateMatches, counts: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood θ (centred) then β, ties as half a win each way; `counts`: how often each match
    counts (default once)."""
    count = len(data.outcome)
    weights = np.ones((1, count)) if counts is None else np.asarray(counts, dtype=np.float64).reshape(1, count)
    params = _newton(_Design(data), weights, np.zeros((1, data.n_models + data.features.shape[0])))[0]
    params[: data.n_models] -= params[: data.n_models].mean()
    return params


def bootstrap_fits(data: CovariateMatches, point: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """One fit per seed, each on its own multinomial resample of the matches -> (seeds, n + k), θ centred:
    the compiled `bootstrap_fits`' resamples, a chunk of them at a time."""
    design, seeds = _Design(data), np.asarray(seeds, dtype=np.uint64).reshape(-1)
    chunk = max(1, _CELLS_PER_CHUNK // max(1, len(data.outcome)))
    parts = [np.empty((0, len(point)))]
    for low in range(0, len(seeds), chunk):
        part = seeds[low : low + chunk]
        parts.append(_newton(design, resample_counts(data, part), np.tile(point, (len(part), 1))))
    params = np.concatenate(parts)
    params[:, : data.n_models] -= params[:, : data.n_models].mean(axis=1, keepdims=True)
    return params
