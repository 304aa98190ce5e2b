"""Bradley-Terry with per-match covariates, logit P(A beats B) = θ_A − θ_B + Σ_k β_k d_k, compiled (numba): the
path for inputs large enough to repay numba's start-up (smaller ones take `arena.ratings.style.batched`, the
same fit in numpy with the very same resamples). Fitted by the damped, centred Newton method described in
`batched` (the whole step scaled to the step bound; taken when a curvature bound guarantees that the penalised
log-likelihood rises enough, else halved until it does: Boyd & Vandenberghe 2004 §9.5, Nocedal & Wright 2006
§3.1/§3.5), step for step the same.

Matches with continuous covariates cannot be pooled into (model, model) cells, so every step reads every
match. To keep those reads cheap, each match is written with the lower model index first (covariates negated
and outcome flipped when swapped: the likelihood is the same) and the matches are sorted by pair, so θ_A − θ_B
is one number per run of matches and the θ gradient one sum per run; covariates are stored one row per
feature (`batched.covariate_matches`). The hot loops over matches are then straight loops that the compiler
turns into SIMD code.

Bootstrap resamples are solved by chord iterations: Newton steps that keep the full-data system (inverted once)
instead of building the resample's own. A resample's system differs from it by a few per cent, so each step
shrinks the error 20-50-fold (measured on 50,000 matches), and a step needs only the gradient. The first
step's gradient, at the full-data fit, weighs residuals that are the same for every resample, so it needs no
sigmoid at all. Chord steps are scaled to the step bound as Newton's are, but have no line search: a
resample whose steps stop halving goes back to where it was before that step and goes on with (damped)
Newton steps. Either way each resample ends at its own maximum-likelihood estimate (within the tolerance of
`batched`); only the route differs from Newton.

The constants (ridge, step bound, tolerance, line search) and the generator (`arena.ratings.random_draws`)
come from other files and are compiled in as constants; numba's cache watches only this file, so after
changing those clear the cached kernels (`__pycache__/kernels.*.nbi`, `*.nbc`).
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np

from arena.ratings import random_draws
from arena.ratings.bradley_terry_fit import in_chunks
from arena.ratings.style.batched import (
    _MAX_HALVINGS,
    _MAX_ITERATIONS,
    _MAX_STEP,
    _RIDGE,
    _ROUNDING,
    _SUFFICIENT_RISE,
    _TOLERANCE,
    CovariateMatches,
    Fits,
)

# error_model="numpy": no ZeroDivisionError branch in 1 / (1 + e), which would keep the loops from vectorising.
_COMPILED = dict(cache=True, fastmath=True, nogil=True, error_model="numpy")
# The generator of arena.ratings.random_draws, compiled (inlined into _draw_counts).
_splitmix64 = numba.njit(inline="always")(random_draws.splitmix64)
_unit = numba.njit(inline="always")(random_draws.unit)
_TAYLOR_EXP = tuple(1.0 / math.factorial(j) for j in range(14, -1, -1))  # 1/14!, ..., 1/1!, 1/0!


@numba.njit(inline="always", cache=True, fastmath=True, error_model="numpy")
def _sigmoid(z):
    """σ(z) without libm's exp, which does not vectorise: e^−z from its Taylor series at z/64, squared six
    times (relative error under 1e-13 for |z| ≤ 40; beyond, σ is 0 or 1 to within 4e-18)."""
    x = -min(40.0, max(-40.0, z)) / 64.0
    e = 0.0
    for coefficient in _TAYLOR_EXP:
        e = e * x + coefficient
    for _ in range(6):
        e = e * e
    return 1.0 / (1.0 + e)


@numba.njit(inline="always", cache=True, fastmath=True, error_model="numpy")
def _log_likelihood(z, y):
    """One match's log-likelihood, to its relative precision (`arena.ratings.damped_newton.log_likelihood`;
    libm's exp and log1p, which do not vectorise: only a backtracking line search calls this)."""
    return -math.log1p(math.exp(-abs(z))) - ((1.0 - y) * z if z >= 0 else -y * z)


@numba.njit(**_COMPILED)
def _linear_predictor(starts, low, high, features, params, out):
    n = params.shape[0] - features.shape[0]
    for r in range(low.shape[0]):
        out[starts[r] : starts[r + 1]] = params[low[r]] - params[high[r]]
    for f in range(features.shape[0]):
        beta, row = params[n + f], features[f]
        for m in range(out.shape[0]):
            out[m] += row[m] * beta


@numba.njit(**_COMPILED)
def _sum_residuals(starts, low, high, features, residual, params, gradient):
    """The gradient from per-match residuals w·(y − p): a sum per pair run for θ, a dot per feature for β."""
    n = params.shape[0] - features.shape[0]
    for i in range(params.shape[0]):
        gradient[i] = -_RIDGE * params[i]
    for r in range(low.shape[0]):
        total = residual[starts[r] : starts[r + 1]].sum()  # slice sums vectorise, range(start, stop) loops do not
        gradient[low[r]] += total
        gradient[high[r]] -= total
    for f in range(features.shape[0]):
        row, total = features[f], 0.0
        for m in range(residual.shape[0]):
            total += residual[m] * row[m]
        gradient[n + f] += total


@numba.njit(**_COMPILED)
def _residuals(starts, low, high, outcome, features, counts, params, out):
    _linear_predictor(starts, low, high, features, params, out)
    for m in range(out.shape[0]):
        out[m] = counts[m] * (outcome[m] - _sigmoid(out[m]))


@numba.njit(**_COMPILED)
def _gradient(starts, low, high, outcome, features, counts, params, scratch, gradient):
    _residuals(starts, low, high, outcome, features, counts, params, scratch)
    _sum_residuals(starts, low, high, features, scratch, params, gradient)


@numba.njit(**_COMPILED)
def _weights(outcome, counts, predictor, residual, weight):
    """Per-match residuals w·(y − p) and curvatures w·p·(1 − p) at the given linear predictor."""
    for m in range(predictor.shape[0]):
        p = _sigmoid(predictor[m])
        residual[m] = counts[m] * (outcome[m] - p)
        weight[m] = counts[m] * p * (1.0 - p)


@numba.njit(**_COMPILED)
def _system(starts, low, high, features, weight, system):
    """The negative Hessian from per-match curvatures w·p·(1 − p), plus the ridge, plus 11ᵀ/n on the θ block:
    no step along a common shift of θ."""
    k = features.shape[0]
    n = system.shape[0] - k
    system[:, :] = 0.0
    system[:n, :n] = 1.0 / n
    for r in range(low.shape[0]):
        i, j, lo, hi = low[r], high[r], starts[r], starts[r + 1]
        total = 0.0
        for m in range(lo, hi):
            total += weight[m]
        system[i, i] += total
        system[j, j] += total
        system[i, j] -= total
        system[j, i] -= total
        for f in range(k):
            row, cross = features[f], 0.0
            for m in range(lo, hi):
                cross += weight[m] * row[m]
            system[i, n + f] += cross
            system[n + f, i] += cross
            system[j, n + f] -= cross
            system[n + f, j] -= cross
    for f in range(k):
        for g in range(f, k):
            first, second, total = features[f], features[g], 0.0
            for m in range(weight.shape[0]):
                total += weight[m] * first[m] * second[m]
            system[n + f, n + g] = total
            system[n + g, n + f] = total
    for i in range(n + k):
        system[i, i] += _RIDGE


@numba.njit(**_COMPILED)
def _largest(step):
    largest = 0.0
    for i in range(step.shape[0]):
        largest = max(largest, abs(step[i]))
    return largest


@numba.njit(**_COMPILED)
def _bounded(step):
    """The step scaled as a whole (its direction kept) so that no component exceeds the step bound; its
    largest component before that."""
    largest = _largest(step)
    if largest > _MAX_STEP:
        step *= _MAX_STEP / largest
    return largest


@numba.njit(**_COMPILED)
def _sure_rise(step, slope, scale, n, spread):
    """`batched._sure_rise` for one fit: is the whole step sure to rise enough, from the reach of its move?"""
    ridge, shift, reach = 0.0, 0.0, 0.0
    for i in range(step.shape[0]):
        ridge += step[i] * step[i]
    for i in range(n):
        shift += step[i]
        reach = max(reach, 2.0 * abs(step[i]))
    for f in range(spread.shape[0]):
        reach += abs(step[n + f]) * spread[f]
    ridge *= _RIDGE
    curvature = max(scale * slope - ridge - shift * shift / n, 0.0)
    return (1.0 - _SUFFICIENT_RISE) * slope >= 0.5 * (math.exp(reach) * curvature + ridge)


@numba.njit(**_COMPILED)
def _sure_rise_by_match(step, slope, moved, counts, weight):
    """`batched._sure_rise_by_match`: the same, match by match (`weight`: w·p·(1 − p) at the start)."""
    fall = 0.0
    for m in range(moved.shape[0]):
        size = abs(moved[m])
        bound = 0.25 * counts[m]
        if size <= 1.0:
            bound = min(bound, weight[m] * (1.0 + (math.e - 1.0) * size))
        fall += bound * moved[m] * moved[m]
    ridge = 0.0
    for i in range(step.shape[0]):
        ridge += step[i] * step[i]
    return (1.0 - _SUFFICIENT_RISE) * slope >= 0.5 * (fall + _RIDGE * ridge)


@numba.njit(**_COMPILED)
def _backtrack(outcome, counts, params, step, slope, predictor, moved, after):
    """`batched._backtrack` for one fit: the largest 2⁻ʲ (j < `_MAX_HALVINGS`) for which the step raises the
    objective enough, evaluated match by match; 0.0 when none does. `after`: (matches,) workspace."""
    count, size = predictor.shape[0], params.shape[0]
    slack = 0.0
    for m in range(count):
        after[m] = _log_likelihood(predictor[m], outcome[m])  # ℓ at the start
        slack -= counts[m] * after[m]  # ℓ ≤ 0
    slack *= _ROUNDING
    length = 1.0
    for _ in range(_MAX_HALVINGS):
        ridge = 0.0
        for i in range(size):
            move = length * step[i]
            ridge += move * (2.0 * params[i] + move)
        change = 0.0
        for m in range(count):
            if counts[m] != 0.0:
                trial = _log_likelihood(predictor[m] + length * moved[m], outcome[m])
                change += counts[m] * (trial - after[m])
        if change - 0.5 * _RIDGE * ridge >= _SUFFICIENT_RISE * length * slope - slack:
            return length
        length *= 0.5
    return 0.0


@numba.njit(**_COMPILED)
def _newton(starts, low, high, outcome, features, counts, params, scratch):
    """Damped Newton from params, in place (`batched`'s docstring and `batched._newton`: the whole step bounded,
    taken whole when sure to rise enough, else halved until it does); True once a step is below the tolerance
    (that step taken), False when the iterations run out or no step along the Newton direction rises.
    `scratch`: (matches,) workspace."""
    size, count, k = params.shape[0], scratch.shape[0], features.shape[0]
    n = size - k
    spread = np.zeros(k)
    for f in range(k):
        for m in range(count):
            spread[f] = max(spread[f], abs(features[f, m]))
    gradient, system = np.empty(size), np.empty((size, size))
    weight, predictor, moved, after = np.empty(count), np.empty(count), np.empty(count), np.empty(count)
    for _ in range(_MAX_ITERATIONS):
        _linear_predictor(starts, low, high, features, params, predictor)
        _weights(outcome, counts, predictor, scratch, weight)
        _sum_residuals(starts, low, high, features, scratch, params, gradient)
        _system(starts, low, high, features, weight, system)
        step = np.linalg.solve(system, gradient)
        largest = _largest(step)
        if largest < _TOLERANCE:
            params += step
            return True
        scale = min(1.0, _MAX_STEP / largest)
        step *= scale
        slope, length = gradient @ step, 1.0
        if not _sure_rise(step, slope, scale, n, spread):
            _linear_predictor(starts, low, high, features, step, moved)  # each match's move over the step
            if not _sure_rise_by_match(step, slope, moved, counts, weight):
                length = _backtrack(outcome, counts, params, step, slope, predictor, moved, after)
                if length == 0.0:
                    return False
        params += length * step
    return False


@numba.njit(**_COMPILED)
def _draw_counts(seed, counts, drawn):
    """A multinomial resample: as many uniform draws of a match as there are matches, from SplitMix64
    (`arena.ratings.random_draws`) started at this resample's own seed. Its state is a plain counter, so the
    draws vectorise; only the counting is one at a time."""
    size = counts.shape[0]
    for i in range(size):
        drawn[i] = int(_unit(_splitmix64(seed, np.uint64(i + 1))) * size)  # uniform in [0, 1) times size
    counts[:] = 0.0
    for i in range(size):
        counts[min(drawn[i], size - 1)] += 1.0


@numba.njit(**_COMPILED)
def _resample_fits(starts, low, high, outcome, features, point, inverse, point_residual, seeds):
    """(seeds, n + k + 1): each resample's fit, then 1.0 where it converged (0.0 where not)."""
    count, size = outcome.shape[0], point.shape[0]
    result = np.empty((seeds.shape[0], size + 1))
    counts, scratch, gradient = np.empty(count), np.empty(count), np.empty(size)
    drawn = np.empty(count, dtype=np.int64)
    for s in range(seeds.shape[0]):
        _draw_counts(seeds[s], counts, drawn)
        for m in range(count):
            scratch[m] = counts[m] * point_residual[m]
        _sum_residuals(starts, low, high, features, scratch, point, gradient)
        params, previous, converged = point.copy(), np.inf, False
        for _ in range(_MAX_ITERATIONS):
            step = inverse @ gradient
            largest = _bounded(step)
            if largest < _TOLERANCE:
                params += step
                converged = True
                break
            if largest > 0.5 * previous:  # not contracting: this resample needs its own system
                converged = _newton(starts, low, high, outcome, features, counts, params, scratch)
                break
            params += step
            previous = largest
            _gradient(starts, low, high, outcome, features, counts, params, scratch, gradient)
        result[s, :size] = params
        result[s, size] = 1.0 if converged else 0.0
    return result


def fit_with_covariates(data: CovariateMatches, counts: np.ndarray | None = None) -> Fits:
    """Maximum-likelihood θ (centred) then β, ties as half a win each way; `counts`: how often each match
    counts (default once)."""
    count = len(data.outcome)
    params = np.zeros(data.n_models + data.features.shape[0])
    converged = _newton(
        *data.arrays,
        np.ones(count) if counts is None else np.asarray(counts, dtype=np.float64),
        params,
        np.empty(count),
    )
    params[: data.n_models] -= params[: data.n_models].mean()
    return Fits(params, bool(converged))


def curvature(data: CovariateMatches, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gradient, system) of the fit at params, every match once (`batched.curvature`)."""
    count, size = len(data.outcome), len(params)
    params = np.ascontiguousarray(params, dtype=np.float64)
    predictor, residual, weight = np.empty(count), np.empty(count), np.empty(count)
    gradient, system = np.empty(size), np.empty((size, size))
    _linear_predictor(data.starts, data.low, data.high, data.features, params, predictor)
    _weights(data.outcome, np.ones(count), predictor, residual, weight)
    _sum_residuals(data.starts, data.low, data.high, data.features, residual, params, gradient)
    _system(data.starts, data.low, data.high, data.features, weight, system)
    return gradient, system


def resample_counts(data: CovariateMatches, seed: int) -> np.ndarray:
    """How often each match (in `data`'s order) is drawn in the resample of this seed."""
    counts = np.empty(len(data.outcome))
    _draw_counts(np.uint64(seed), counts, np.empty(len(counts), dtype=np.int64))
    return counts


def bootstrap_fits(data: CovariateMatches, point: np.ndarray, seeds: np.ndarray) -> Fits:
    """One fit per seed, each on its own multinomial resample of the matches -> (seeds, n + k), θ centred.
    A resample's draws depend on its seed alone, not on how the resamples are spread over the cores."""
    count, size = len(data.outcome), len(point)
    point_residual, system, ones = np.empty(count), np.empty((size, size)), np.ones(count)
    predictor, weight = np.empty(count), np.empty(count)
    _linear_predictor(data.starts, data.low, data.high, data.features, point, predictor)
    _weights(data.outcome, ones, predictor, point_residual, weight)
    _system(data.starts, data.low, data.high, data.features, weight, system)
    inverse = np.linalg.inv(system)
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    chunk = -(-len(seeds) // (2 * (os.cpu_count() or 1)))  # two chunks per core evens out the finishing times
    fits = in_chunks(
        len(seeds),
        chunk,
        lambda index, length: _resample_fits(
            *data.arrays, point, inverse, point_residual, seeds[index * chunk : index * chunk + length]
        ),
    )
    params = fits[:, :size]
    params[:, : data.n_models] -= params[:, : data.n_models].mean(axis=1, keepdims=True)
    return Fits(params, fits[:, size] == 1.0)
