"""Style-controlled Bradley-Terry in plain numpy, for small inputs: the same fit as the compiled kernels of
`arena.ratings.style.kernels`, without numba's start-up.

A compiled fit pays once per process to import numba and load its cached kernels (about half a second on a
2-core machine, measured: 0.2 s import, 0.3 s loading), which is most of what a report on a hundred judgments
takes. Below `arena.ratings.style.fit._NUMPY_MAX_CELLS` (matches × fits) this module does the work instead,
vectorised across bootstrap resamples rather than compiled per resample:

- The point fit is the same damped, centred Newton method (below; the same ridge, step bound, line search and
  stopping rule), so it lands where the compiled `_newton` does, to rounding.
- Each resample is drawn exactly as the compiled `_draw_counts` draws it: as many uniform match indices as
  there are matches, from SplitMix64 started at the resample's own seed (`arena.ratings.random_draws`), here
  for every resample of a chunk at once, counted with one bincount.
- The resamples of a chunk are then fitted together: batched damped Newton steps from the full-data fit, each
  resample with its own line search, dropping out of the batch once its step is below the tolerance. The
  compiled path gets there by chord steps instead; both end at the resample's own maximum-likelihood fit
  within the tolerance (1e-4 log-odds, 0.02 rating points, on a well-conditioned fit), so the intervals agree
  to that.

The Newton method, both engines' (Boyd & Vandenberghe, "Convex Optimization", 2004, §9.5: Newton's method
with a backtracking line search; Nocedal & Wright, "Numerical Optimization", 2nd ed. 2006, §3.1 and §3.5: the
Armijo sufficient-increase condition, backtracking). The objective is the log-likelihood minus the ridge's
½·ρ·‖x‖², x = (θ, β): concave, strictly so with the ridge. Its Newton direction δ = S⁻¹g (g the gradient, S the
negative Hessian plus ρ, plus the rank-one term 11ᵀ/n on the θ block that fills the null space of a common
shift of θ) goes uphill whatever the start: S is positive definite, so gᵀδ = gᵀS⁻¹g > 0. Each iteration then
1. stops if δ's largest component is below the tolerance (taking δ: Newton's error after it is of order
   its square);
2. scales δ as a whole, keeping its direction, so that no component exceeds `_MAX_STEP` log-odds (a cap on
   how far one linearisation is trusted): Δ;
3. takes Δ if the objective is sure to rise by at least `_SUFFICIENT_RISE` · gᵀΔ (Armijo at t = 1) by a
   lower bound that needs no evaluation of the objective: along the step its curvature is
   Σ w·σ'(z + sΔz)·Δz² + ρ‖Δ‖², and σ' = p(1 − p) changes by at most a factor e^|Δz| over a move of Δz
   (d log σ'/dz = 1 − 2σ ∈ (−1, 1)), so the fall below the tangent is at most ½(e^reach·ΔᵀHΔ + ρ‖Δ‖²), H the
   curvature at the start and reach a bound on every |Δz| (`_sure_rise`), or, for a row that does not
   settle, the same match by match (`_sure_rise_by_match`). Near the maximum this holds at once;
4. else halves the step t·Δ, from t = 1, until the objective does rise by `_SUFFICIENT_RISE` · t · gᵀΔ,
   allowing for rounding (`_ROUNDING`; Hager & Zhang 2005, "A new conjugate gradient method with guaranteed
   descent and an efficient line search", SIAM J. Optim. 16, approximate Wolfe conditions). Each match's
   log-likelihood is computed to its relative precision and the differences are summed, not two totals
   subtracted, so the test sees rises far below the total's last digit.
So the method is plain Newton near the maximum (quadratic convergence) and a well-conditioned fit ends where
undamped Newton ends (bit for bit here, measured); away from it every step raises the objective, so the
iteration cannot cycle, and on a strictly concave objective with a Lipschitz Hessian it converges from any
start (Boyd & Vandenberghe §9.5.3). The step used to be clipped component by component, which changes its
direction and can point downhill: with a style feature nearly determined by which models meet (the
likelihood a long, narrow ridge) it bounced between two points for all 60 iterations and returned β = 0,
where the maximum lay at β = −40.5. A fit that still has not converged after `_MAX_ITERATIONS` (a coefficient
running off: 60 bounded steps reach only so far), or that finds no rise along its direction, is returned as
such (`Fits`), and `arena.ratings.style.fit` says so.

Layout (shared with the compiled kernels): each match is written with the lower model index first (covariates
negated and outcome flipped when swapped: the likelihood is the same) and matches are sorted by pair, so θ_A −
θ_B is one number per run of matches and the θ parts of gradient and Hessian are sums per run (reduceat);
covariates are stored one row per feature.

The constants and layout here are compiled into the kernels as constants; numba's cache only watches the
kernels' own file, so after changing them clear the cached kernels (`style/__pycache__/kernels.*.nb?`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from arena.ratings.damped_newton import log_likelihood
from arena.ratings.random_draws import splitmix64, unit

_RIDGE = 1e-9  # a whisper of L2 keeps a model that won (or lost) everything finite
_MAX_STEP = 4.0  # no component of one step beyond this, in log-odds (the whole step scaled down to it)
# Largest step, in log-odds. Newton's error after a step of 1e-4 is of order 1e-8; chord steps that at least
# halve (enforced) leave less than the last step, 1e-4 log-odds = 0.02 rating points (measured: under 2e-5).
_TOLERANCE = 1e-4
_MAX_ITERATIONS = 60
_SUFFICIENT_RISE = 1e-4  # Armijo's constant (Nocedal & Wright's usual value): a Newton step near the top gives ½
_MAX_HALVINGS = 30  # a step 2⁻³⁰ of Newton's that still does not rise: the likelihood is flat there to rounding
# A change in the log-likelihood this small relative to it (summed |ℓ| over the matches) is rounding: a step
# that does not lower it by more passes the rise test (the approximate Armijo condition of Hager & Zhang 2005,
# with a tolerance at rounding level instead of their 1e-6), so that a flat direction does not stall the fit.
_ROUNDING = 1e-12
# Resamples × matches worked on at once: each array 512 kB, so a step's passes stay in the CPU's cache (measured
# on 8 models, 5,000 matches, 1,000 resamples: 0.20 s at 2¹⁶, 0.45 s at 2¹⁸).
_CELLS_PER_CHUNK = 1 << 16


class Fits(NamedTuple):
    """What an engine's fit returns: the parameters, θ centred then β, and whether Newton converged."""

    params: np.ndarray  # (n + k,) for one fit, (fits, n + k) for resamples
    converged: np.ndarray | bool  # a bool for one fit, (fits,) bools for resamples


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


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """P(low beats high) from the predictor, saturating at |z| = 40 as the kernels' sigmoid does."""
    p = np.clip(z, -40.0, 40.0)  # 1 / (1 + e^−z), in place: a batch's arrays are the step's largest cost
    np.negative(p, out=p)
    np.exp(p, out=p)
    p += 1.0
    return np.reciprocal(p, out=p)


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
        # d_f·d_g for f ≤ g only: the β block is symmetric, so its upper triangle is all the sums needed
        self.pair_f, self.pair_g = np.triu_indices(self.k)
        self.products = self.features[self.pair_f] * self.features[self.pair_g]
        self.spread = np.abs(self.features).max(axis=1, initial=0.0)  # (k,) largest |d_f|

    def predictor(self, params: np.ndarray) -> np.ndarray:
        """(fits, matches) logit P(low beats high) under each row of params, the kernels' sums in their order."""
        theta = params[:, : self.n]
        z = np.repeat(theta[:, self.low] - theta[:, self.high], self.lengths, axis=1)
        for f in range(self.k):
            z += params[:, self.n + f, None] * self.features[f]
        return z

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
            sums = np.einsum("sm,pm->sp", weight, self.products)
            system[:, n + self.pair_f, n + self.pair_g] = sums
            system[:, n + self.pair_g, n + self.pair_f] = sums
        everything = np.arange(n + k)
        system[:, everything, everything] += _RIDGE
        return system


def _sure_rise(step, slope, scale, n: int, spread: np.ndarray) -> np.ndarray:
    """Whether each row's whole step Δ is sure to rise enough, without a pass over the matches.

    Along the step the objective's curvature is Σ w·σ'(z + sΔz)·Δz² + ρ‖Δ‖², and σ' changes by at most a factor
    e^|Δz| over a move of Δz (d log σ'/dz = 1 − 2σ lies in (−1, 1)); every |Δz| is at most the reach
    2·max|Δθ| + Σ|Δβ_f|·max|d_f|. So the objective falls below its tangent by at most ½(e^reach·ΔᵀHΔ + ρ‖Δ‖²),
    H = Σ w·p·(1 − p)·x xᵀ the curvature at the start: the system S less the ridge and 11ᵀ/n, and ΔᵀSΔ =
    scale·gᵀΔ for Δ = scale·S⁻¹g. When the slope gᵀΔ less that still leaves the sufficient rise, the step is
    taken: near the maximum (small steps, reach ≪ 1) nearly always, since there the fall is half the slope."""
    ridge = _RIDGE * (step * step).sum(axis=1)
    curvature = np.maximum(scale * slope - ridge - step[:, :n].sum(axis=1) ** 2 / n, 0.0)
    reach = 2.0 * np.abs(step[:, :n]).max(axis=1) + np.abs(step[:, n:]) @ spread
    return (1.0 - _SUFFICIENT_RISE) * slope >= 0.5 * (np.exp(reach) * curvature + ridge)


def _sure_rise_by_match(step, slope, moved, counts, curvature) -> np.ndarray:
    """`_sure_rise` match by match, for rows it did not settle: each match's σ' grows at most e^|Δz|-fold,
    which is at most 1 + (e − 1)·|Δz| while |Δz| ≤ 1 (the chord of a convex function), and σ' ≤ ¼ always.
    `curvature`: p·(1 − p) per match at the start, `moved`: Δz, `counts`: w."""
    size = np.abs(moved)
    factor = size * (np.e - 1.0)
    factor += 1.0
    factor *= curvature
    factor[size > 1.0] = 0.25
    np.minimum(factor, 0.25, out=factor)
    factor *= counts
    factor *= moved
    factor *= moved
    fall = 0.5 * (factor.sum(axis=1) + _RIDGE * (step * step).sum(axis=1))
    return (1.0 - _SUFFICIENT_RISE) * slope >= fall


def _newton(
    design: _Design, counts: np.ndarray, params: np.ndarray, shared: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton (see the module's docstring) on every row of params (fits, n + k) at once, each with its
    own counts (fits, matches), in place -> (params, converged): a row leaves the batch once its Newton step
    is below the tolerance (that last step applied), or unconverged when no step along its Newton direction
    raises its objective any more or the iterations run out; the kernels' `_newton`, row by row. `shared`:
    every row starts at the same parameters (the resamples, at the full-data fit)."""
    converged = np.zeros(len(params), dtype=bool)
    active, weights, n = np.arange(len(params)), counts, design.n
    for iteration in range(_MAX_ITERATIONS):
        if not len(active):
            break
        rows = params[active]
        p = _sigmoid(design.predictor(params[:1] if shared and iteration == 0 else rows))  # shared: one row
        gradient = design.gradient(weights * (design.outcome - p), rows)
        curvature = p * (1.0 - p)
        step = np.linalg.solve(design.system(weights * curvature), gradient[:, :, None])[:, :, 0]
        largest = np.abs(step).max(axis=1)
        done = largest < _TOLERANCE
        if done.any():
            params[active[done]] = rows[done] + step[done]
            converged[active[done]] = True
            going = ~done
            active, rows, weights, gradient, step, largest = (
                x[going] for x in (active, rows, weights, gradient, step, largest)
            )
            curvature = curvature if len(curvature) == 1 else curvature[going]
            if not len(active):
                break
        scale = np.minimum(1.0, _MAX_STEP / largest)
        step *= scale[:, None]
        slope = np.einsum("sp,sp->s", gradient, step)
        sure = _sure_rise(step, slope, scale, n, design.spread)
        if not sure.all():
            unsure = np.flatnonzero(~sure)
            moved = design.predictor(step[unsure])
            rate = curvature if len(curvature) == 1 else curvature[unsure]
            sure[unsure] = _sure_rise_by_match(step[unsure], slope[unsure], moved, weights[unsure], rate)
        accepted = sure.copy()
        if sure.all():  # the usual case
            rows += step
        else:
            rows[sure] += step[sure]
            _backtrack(design, weights, rows, step, slope, np.flatnonzero(~sure), accepted)
        params[active] = rows
        if not accepted.all():  # a row with no rise left stays where it is, unconverged
            active, weights = active[accepted], weights[accepted]
    return params, converged


def _backtrack(design, weights, rows, step, slope, pending, accepted) -> None:
    """Halve the steps of rows `pending` until each one's objective rises enough (Armijo), evaluated match by
    match; rows and accepted updated in place."""
    z = design.predictor(rows[pending])
    moved = design.predictor(step[pending])  # each match's move over the whole step (the predictor is linear)
    likelihood = log_likelihood(z, design.outcome)
    counts = weights[pending]
    slack = -_ROUNDING * np.einsum("sm,sm->s", counts, likelihood)  # ℓ ≤ 0
    length = np.ones(len(pending))
    left = np.arange(len(pending))  # of pending, those still halving
    for _ in range(_MAX_HALVINGS):
        move = length[left, None] * step[pending[left]]
        trial = log_likelihood(z[left] + length[left, None] * moved[left], design.outcome)
        change = np.einsum("sm,sm->s", counts[left], trial - likelihood[left])
        change -= 0.5 * _RIDGE * np.einsum("sp,sp->s", move, 2.0 * rows[pending[left]] + move)  # ½ρ(‖x'‖² − ‖x‖²)
        rise = change >= _SUFFICIENT_RISE * length[left] * slope[pending[left]] - slack[left]
        rows[pending[left[rise]]] += move[rise]
        accepted[pending[left[rise]]] = True
        left = left[~rise]
        if not len(left):
            break
        length[left] *= 0.5


def fit_with_covariates(data: CovariateMatches, counts: np.ndarray | None = None) -> Fits:
    """Maximum-likelihood θ (centred) then β, ties as half a win each way; `counts`: how often each match
    counts (default once)."""
    count = len(data.outcome)
    weights = np.ones((1, count)) if counts is None else np.asarray(counts, dtype=np.float64).reshape(1, count)
    params, converged = _newton(_Design(data), weights, np.zeros((1, data.n_models + data.features.shape[0])))
    params = params[0]
    params[: data.n_models] -= params[: data.n_models].mean()
    return Fits(params, bool(converged[0]))


def curvature(data: CovariateMatches, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gradient, system) of the fit at params, every match once: the system is the negative Hessian plus the
    ridge and 11ᵀ/n on the θ block, so solve(system, gradient) is the Newton step from there and the β block
    of its inverse the coefficients' covariance (the observed information's; the 11ᵀ/n term, along which no
    feature moves, leaves that block alone)."""
    design, params = _Design(data), np.asarray(params, dtype=np.float64).reshape(1, -1)
    weights, p = np.ones((1, len(data.outcome))), _sigmoid(design.predictor(params))
    return design.gradient(weights * (design.outcome - p), params)[0], design.system(weights * p * (1.0 - p))[0]


def bootstrap_fits(data: CovariateMatches, point: np.ndarray, seeds: np.ndarray) -> Fits:
    """One fit per seed, each on its own multinomial resample of the matches -> (seeds, n + k), θ centred:
    the compiled `bootstrap_fits`' resamples, a chunk of them at a time."""
    design, seeds = _Design(data), np.asarray(seeds, dtype=np.uint64).reshape(-1)
    chunk = max(1, _CELLS_PER_CHUNK // max(1, len(data.outcome)))
    parts, flags = [np.empty((0, len(point)))], [np.empty(0, dtype=bool)]
    for low in range(0, len(seeds), chunk):
        part = seeds[low : low + chunk]
        params, converged = _newton(design, resample_counts(data, part), np.tile(point, (len(part), 1)), True)
        parts.append(params)
        flags.append(converged)
    params = np.concatenate(parts)
    params[:, : data.n_models] -= params[:, : data.n_models].mean(axis=1, keepdims=True)
    return Fits(params, np.concatenate(flags))
