"""Bradley-Terry with per-match covariates, logit P(A beats B) = θ_A − θ_B + Σ_k β_k d_k, fitted by the same
centred Newton method as `bradley_terry` (the rank-one term 11ᵀ/n fills the null space of a common shift of θ;
convergence on the largest step), for a batch of weight vectors at once (bootstrap resamples).

Matches with continuous covariates cannot be pooled into (model, model) cells, so each Newton step reads every
match: one compiled pass per resample accumulates the gradient and the (n + k)² system, skipping matches a
resample left out, with resamples spread over the cores.
"""

from __future__ import annotations

import numba
import numpy as np

_RIDGE = 1e-9
_MAX_STEP = 4.0
# Largest centred Newton step, in log-odds. Convergence is quadratic: after a step of 1e-4 the error left is
# of order 1e-8 (a millionth of a rating point), and resamples stop one full pass over the matches sooner.
_TOLERANCE = 1e-4
_MAX_ITERATIONS = 60


@numba.njit(cache=True, fastmath=True)
def _accumulate(a, b, outcome, features, weights, n, params, gradient, system):
    """One pass over the matches: the gradient and the negative Hessian (flat accumulators in the loop, which
    the compiler keeps tight; the (n + k)² system is assembled after)."""
    k = features.shape[1]
    g_theta, g_beta = np.zeros(n), np.zeros(k)
    cells, cross, products = np.zeros(n * n), np.zeros(n * k), np.zeros(k * k)
    x = np.empty(k)
    for m in range(a.shape[0]):
        w = weights[m]
        if w == 0.0:
            continue
        i, j = a[m], b[m]
        z = params[i] - params[j]
        for f in range(k):
            x[f] = features[m, f]
            z += x[f] * params[n + f]
        p = 1.0 / (1.0 + np.exp(-z))
        r = w * (outcome[m] - p)
        v = w * p * (1.0 - p)
        g_theta[i] += r
        g_theta[j] -= r
        cells[i * n + j] += v
        for f in range(k):
            vx = v * x[f]
            g_beta[f] += r * x[f]
            cross[i * k + f] += vx
            cross[j * k + f] -= vx
            for g in range(k):
                products[f * k + g] += vx * x[g]
    for i in range(n):
        gradient[i] = g_theta[i] - _RIDGE * params[i]
        total = 0.0
        for j in range(n):
            both = cells[i * n + j] + cells[j * n + i]
            system[i, j] = -both + 1.0 / n  # 11ᵀ/n: no step along a common shift of θ
            total += both
        system[i, i] += total
        for f in range(k):
            system[i, n + f] = cross[i * k + f]
            system[n + f, i] = cross[i * k + f]
    for f in range(k):
        gradient[n + f] = g_beta[f]
        for g in range(k):
            system[n + f, n + g] = products[f * k + g]
    for i in range(n + k):
        system[i, i] += _RIDGE


@numba.njit(parallel=True, cache=True)
def _newton(a, b, outcome, features, weights, n, start):
    samples, size = weights.shape[0], n + features.shape[1]
    result = np.empty((samples, size))
    for s in numba.prange(samples):
        params = start.copy()
        gradient = np.empty(size)
        system = np.empty((size, size))
        for _ in range(_MAX_ITERATIONS):
            _accumulate(a, b, outcome, features, weights[s], n, params, gradient, system)
            step = np.linalg.solve(system, gradient)
            largest = 0.0
            for i in range(size):
                step[i] = min(_MAX_STEP, max(-_MAX_STEP, step[i]))
                params[i] += step[i]
                largest = max(largest, abs(step[i]))
            if largest < _TOLERANCE:
                break
        result[s] = params
    return result


def fit_with_covariates(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, features: np.ndarray, weights: np.ndarray,
                        n_models: int, start: np.ndarray | None = None) -> np.ndarray:
    """(S, K) weights of K matches -> (S, n + k): centred θ then β. Ties count as half a win each way."""
    k = features.shape[1]
    first = np.zeros(n_models + k) if start is None else np.asarray(start, dtype=np.float64)
    params = _newton(np.ascontiguousarray(a, dtype=np.int64), np.ascontiguousarray(b, dtype=np.int64),
                     np.ascontiguousarray(outcome, dtype=np.float64), np.ascontiguousarray(features, dtype=np.float64),
                     np.ascontiguousarray(weights, dtype=np.float64), n_models, first)
    params[:, :n_models] -= params[:, :n_models].mean(axis=1, keepdims=True)
    return params
