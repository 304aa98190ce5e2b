"""Length-controlled win rate against a baseline, after AlpacaEval 2.0's method (Dubois et al., 2024,
"Length-Controlled AlpacaEval"; its `metrics/glm_winrate.py` and the notebook that fits its instruction
difficulties, read to understand the method, not copied).

A judge that prefers long answers rewards verbosity. The question LC answers: what would the win rate be if the
candidate's answers were as long as the baseline's? Every candidate-vs-baseline judgment i (candidate m,
instruction x, candidate's score y in [0, 1], soft verdicts kept) is modelled as

    logit P(candidate wins) = α_m + β_m · tanh(z_i) + ψ_m · γ_x

z_i is the candidate's answer length minus the baseline's, in characters, divided by the standard deviation of
that difference over the candidate's own judgments (not centred: a candidate that is always shorter keeps its
negative z); tanh bounds what any one length gap can do. γ_x is how easy instruction x is to win on against the
baseline, the same for every candidate; ψ_m how much that matters for candidate m. The LC win rate is the mean
over the candidate's instructions of the prediction with the length term set to zero, σ(α_m + ψ_m γ_x); its
standard error is that of a mean over the instructions. As in AlpacaEval, in two stages:

1. Difficulty, on the pool of candidates present: logit = θ_m + β_m · tanh(z) + γ_x, every parameter fitted
   jointly (AlpacaEval's notebook fits exactly this, with one dummy per instruction, on its whole leaderboard,
   and ships the γ it got). An offline tool has only the candidates in the store, often a dozen, and an
   instruction every one of them loses (or wins) says little about how hard it is. Where AlpacaEval's fit
   shrinks the instruction terms by an L1 penalty chosen by cross-validation, γ_x here is a random effect,
   γ_x ~ N(0, τ²): its posterior mode moves toward 0 by τ⁻² / (information_x + τ⁻²), so each γ_x is shrunk in
   proportion to how little it is informed. τ² is not a chosen constant: it is estimated from the data by
   expectation-maximisation on the Laplace approximation (τ² ← mean of γ_x² + posterior variance of γ_x).
   The length slopes are partially pooled the same way (below), in this stage too.
2. Per candidate, γ held fixed: α_m, β_m, ψ_m by maximum likelihood on the candidate's judgments (β_m
   pooled, below), regularised toward the baseline the way AlpacaEval does it. Its regularisation rows are
   judgments of the *baseline's own answers regenerated to be longer or shorter* (AlpacaEval's
   `<baseline>_verbose` and `<baseline>_concise`)
   against the baseline. They join every candidate's fit with weight `BASELINE_VARIANT_WEIGHT` per instruction
   in all, and without the candidate's intercept α_m: they inform only β_m and ψ_m. Same content, different
   length, so they measure how much the judge rewards length alone; a candidate whose own judgments confound
   length with quality (a weak model whose few long answers are its good ones, or one that truncates where it
   would lose) then cannot claim a length slope, and so an LC, that the judge's own behaviour does not support.
   A store without such variants gets no such regularisation (AlpacaEval's `regularize_to_baseline_lambda`
   unset): nothing else in an offline pool measures the judge's response to length alone. A pull of α_m toward
   the baseline is no substitute: LC is read at α_m, so it would move every weak candidate toward 50%.

Partial pooling of the length slopes, in both stages (arena's, not AlpacaEval's): β_m ~ N(μ_β, σ_β²), the
judge's response to length being one judge's across the pool, with μ_β and σ_β² estimated from the pool by the
same EM as τ² (μ_β ← mean of the posterior modes, σ_β² ← mean of (β_m − μ_β)² + posterior variance of β_m).
Each β_m then moves toward μ_β by σ_β⁻² / (information about β_m + σ_β⁻²): a candidate whose gaps vary keeps
its own slope, one that is always far shorter than the baseline (tanh(z) near −1 everywhere, so α_m and β_m
trade against each other) or has few judgments borrows the pool's. No constant is chosen: where the slopes
differ little, σ_β is small and the pooling strong; where they truly differ, it is weak. Pooling shrinks
noise, not confounding: a pool whose slopes are all inflated by the same confounding pools toward an inflated
μ_β, which only the baseline's variant rows correct; both apply when both are there.

Both stages fit by damped Newton (`arena.ratings.damped_newton`: the whole step scaled to `_MAX_STEP`, halved
until the penalised log-likelihood rises), which converges from any start, also where tanh(z) is nearly constant
and α and β nearly collinear (clipping each component of the step there bounced and ended far from the
maximum); a fit that still has not converged within `_NEWTON_ITERATIONS` (a coefficient running off) is logged
as a warning naming the candidate.

The 95% interval resamples the candidate's instructions (stage 2 refitted per resample, γ, μ_β, σ_β and the
variant rows held fixed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from arena.errors import ArenaError
from arena.ratings import DEFAULT_RESAMPLES
from arena.ratings.damped_newton import damped_step, log_likelihood

BASELINE_VARIANT_WEIGHT = 0.2  # AlpacaEval's regularize_to_baseline_lambda: weight per instruction of the variant rows
LENGTH_VARIANT_MARKERS = ("verbose", "concise")  # AlpacaEval's names for the baseline regenerated longer / shorter
_RIDGE = 1e-6  # a whisper of L2 on the fixed effects keeps a candidate that won (or lost) everything finite
_NEWTON_TOLERANCE = 1e-8
_NEWTON_ITERATIONS = 100
_MAX_STEP = 4.0  # no component of one Newton step beyond this, in log-odds (the whole step scaled down to it)
_EM_TOLERANCE = 1e-5  # relative change of τ²
_EM_ITERATIONS = 2_000
_SLOPE_TOLERANCE = 1e-4  # log-odds per unit of tanh(z): moves α, so an LC, by at most 0.0025 points
_MIN_SLOPE_VARIANCE = 1e-6  # floor on σ_β²: a pool whose slopes all agree pools completely, finitely
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaselineJudgments:
    """Every decided candidate-vs-baseline judgment of a pool: one row each (both answer orders are rows)."""

    models: tuple[str, ...]
    model: np.ndarray  # (N,) index into models
    question: np.ndarray  # (N,) index into the pool's distinct questions
    score: np.ndarray  # (N,) the candidate's score in [0, 1]: 1 win, 0.5 tie, a soft verdict in between
    length_gap: np.ndarray  # (N,) candidate's answer length minus the baseline's, in characters
    baseline_variants: tuple[int, ...] = ()  # indices into models: the baseline's own answers made longer/shorter

    @property
    def n_questions(self) -> int:
        return int(self.question.max()) + 1 if len(self.question) else 0


@dataclass(frozen=True)
class LengthControlled:
    """Per candidate, in `models` order: LC win rate (%), its standard error and 95% interval, β (log-odds per
    unit of tanh of the standardised length gap); and τ, the spread of instruction difficulty."""

    models: tuple[str, ...]
    win_rate: np.ndarray
    standard_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    length_beta: np.ndarray
    difficulty_spread: float
    length_prior: LengthSlopePrior


def baseline_variants(models: tuple[str, ...], baseline: str) -> tuple[int, ...]:
    """The candidates that are the baseline's own answers regenerated to be longer or shorter, by AlpacaEval's
    naming: the baseline's name and "verbose" or "concise" in the candidate's (`gpt4_1106_preview_verbose`)."""
    return tuple(
        i
        for i, name in enumerate(models)
        if name != baseline and baseline in name and any(k in name for k in LENGTH_VARIANT_MARKERS)
    )


def standardised_tanh(model: np.ndarray, length_gap: np.ndarray, n_models: int) -> np.ndarray:
    """tanh(gap / sd of the candidate's gaps); a candidate whose gaps do not vary gets 0 (nothing to control)."""
    count = np.bincount(model, minlength=n_models).astype(np.float64)
    mean = np.bincount(model, length_gap, minlength=n_models) / np.maximum(count, 1)
    variance = np.bincount(model, (length_gap - mean[model]) ** 2, minlength=n_models) / np.maximum(count - 1, 1)
    sd = np.sqrt(variance)[model]
    return np.tanh(np.divide(length_gap, sd, out=np.zeros_like(length_gap, dtype=np.float64), where=sd > 0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning at large |x|


@dataclass(frozen=True)
class LengthSlopePrior:
    """β_m ~ N(mean, spread²) for every candidate of a pool; spread = inf is no pooling (each β on its own)."""

    mean: float
    spread: float

    @property
    def precision(self) -> float:
        return 0.0 if not np.isfinite(self.spread) else 1.0 / max(self.spread**2, _MIN_SLOPE_VARIANCE)


NO_POOLING = LengthSlopePrior(0.0, float("inf"))


@dataclass(frozen=True)
class DifficultyFit:
    """Stage 1: γ per question, its spread τ, the pool fit's own θ (strength) and β per candidate, and the
    pool's prior on β (`NO_POOLING` when not pooled)."""

    difficulty: np.ndarray
    spread: float
    strength: np.ndarray
    length_beta: np.ndarray
    length_prior: LengthSlopePrior


def fit_difficulty(
    model: np.ndarray,
    question: np.ndarray,
    score: np.ndarray,
    tanh_gap: np.ndarray,
    n_models: int,
    n_questions: int,
    spread: float | None = None,
    pool_length: bool = True,
) -> DifficultyFit:
    """Stage 1: logit = θ_m + β_m tanh(z) + γ_x, γ_x ~ N(0, τ²), τ² by EM (or τ = `spread`, held fixed:
    a large one is the unshrunk fit, for comparison); with `pool_length`, β_m ~ N(μ_β, σ_β²) too, μ_β and σ_β²
    by the same EM (each β's posterior variance from the inverse of the Schur complement).

    Newton steps use the structure of the system: the (θ, β) block is 2×2 per candidate and the γ block is
    diagonal, so the Schur complement onto the 2M fixed effects is the only dense solve."""
    m2 = 2 * n_models
    fixed_row = np.stack([2 * model, 2 * model + 1])  # rows of θ_m and β_m for each observation
    fixed_design = np.stack([np.ones_like(tanh_gap), tanh_gap])  # (2, N)
    params = np.zeros((1, m2 + n_questions))
    fixed, gamma = params[0, :m2], params[0, m2:]  # views: the steps move params
    tau2 = 1.0 if spread is None else spread**2
    prior, previous_beta = NO_POOLING, np.full(n_models, np.inf)
    pool_length = pool_length and n_models > 1
    for _ in range(_EM_ITERATIONS if spread is None or pool_length else 1):
        penalty = np.full(m2, _RIDGE)
        penalty[1::2] += prior.precision
        centre = np.zeros(m2)
        centre[1::2] = prior.mean

        def objective(x: np.ndarray, rows: object, penalty=penalty, centre=centre, tau2=tau2) -> np.ndarray:
            f, g = x[0, :m2], x[0, m2:]
            z = f[2 * model] + f[2 * model + 1] * tanh_gap + g[question]
            penalised = 0.5 * (penalty @ (f - centre) ** 2 + g @ g / tau2)
            return np.array([log_likelihood(z, score).sum() - penalised])

        settled = False
        for _ in range(_NEWTON_ITERATIONS):
            p = _sigmoid(fixed[2 * model] + fixed[2 * model + 1] * tanh_gap + gamma[question])
            residual, weight = score - p, p * (1.0 - p)
            grad_fixed = np.bincount(fixed_row.ravel(), (fixed_design * residual).ravel(), minlength=m2) - penalty * (
                fixed - centre
            )
            grad_gamma = np.bincount(question, residual, minlength=n_questions) - gamma / tau2
            a = np.diag(penalty)
            for r in range(2):
                for c in range(2):
                    a[r::2, c::2][np.diag_indices(n_models)] += np.bincount(
                        model, weight * fixed_design[r] * fixed_design[c], minlength=n_models
                    )
            b = np.bincount(
                (fixed_row * n_questions + question).ravel(),
                (fixed_design * weight).ravel(),
                minlength=m2 * n_questions,
            ).reshape(m2, n_questions)
            d = np.bincount(question, weight, minlength=n_questions) + 1.0 / tau2
            schur = a - (b / d) @ b.T
            step_fixed = np.linalg.solve(schur, grad_fixed - b @ (grad_gamma / d))
            step_gamma = (grad_gamma - b.T @ step_fixed) / d
            step = np.concatenate([step_fixed, step_gamma])[None]
            settled = np.abs(step).max() < _NEWTON_TOLERANCE
            gradient = np.concatenate([grad_fixed, grad_gamma])[None]
            damped_step(params, step, gradient, objective, objective(params, None), _MAX_STEP)
            if settled:
                break
        converged = True
        if spread is None:
            scaled = b / d
            posterior_variance = 1.0 / d + np.einsum("ij,ij->j", scaled, np.linalg.solve(schur, scaled))
            updated = float(np.mean(gamma**2 + posterior_variance))
            converged = abs(updated - tau2) <= _EM_TOLERANCE * tau2
            tau2 = updated
        if pool_length:
            beta = fixed[1::2]
            beta_variance = np.diag(np.linalg.inv(schur))[1::2]
            mean = float(beta.mean())
            spread2 = max(float(np.mean((beta - mean) ** 2 + beta_variance)), _MIN_SLOPE_VARIANCE)
            converged = converged and _slopes_settled(beta, previous_beta)
            prior, previous_beta = LengthSlopePrior(mean, float(np.sqrt(spread2))), beta.copy()
        if converged:
            break
    if not settled:
        _log.warning(
            "length-controlled win rate: the instruction difficulties did not converge in %d Newton steps",
            _NEWTON_ITERATIONS,
        )
    return DifficultyFit(gamma, float(np.sqrt(tau2)) if spread is None else spread, fixed[0::2], fixed[1::2], prior)


@dataclass(frozen=True)
class FitRows:
    """Judgments entering one candidate's stage-2 fit: score, tanh of the standardised gap, γ of the question."""

    score: np.ndarray
    tanh_gap: np.ndarray
    difficulty: np.ndarray


@dataclass(frozen=True)
class CandidateFit:
    """Stage 2 for one candidate over S weightings: (S, 3) of (α, β, ψ) and (S,) posterior variances of β."""

    params: np.ndarray
    beta_variance: np.ndarray
    converged: np.ndarray  # (S,) whether each weighting's Newton step fell below the tolerance


def fit_candidate(
    own: FitRows,
    weights: np.ndarray,
    variants: FitRows,
    variant_weight: float,
    prior: LengthSlopePrior = NO_POOLING,
    start: np.ndarray | None = None,
) -> CandidateFit:
    """Stage 2 for one candidate over a batch of weightings of its N judgments, (S, N) -> (S, 3) of (α, β, ψ),
    by batched Newton from `start` (resamples start from the full-data fit: a few steps): the posterior mode
    under the pool's prior on β. The baseline variants' judgments (possibly none) enter every weighting with
    `variant_weight` each and without α. β's posterior variance (Laplace: the inverse of the penalised
    information, α and ψ integrated out) is what the pool's EM needs."""
    design = np.concatenate(
        [
            np.stack([np.ones_like(own.tanh_gap), own.tanh_gap, own.difficulty], axis=1),
            np.stack([np.zeros_like(variants.tanh_gap), variants.tanh_gap, variants.difficulty], axis=1),
        ]
    )  # (N + V, 3)
    target = np.concatenate([own.score, variants.score])
    all_weights = np.concatenate([weights, np.full((weights.shape[0], len(variants.score)), variant_weight)], axis=1)
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), 9)  # each row's x xᵀ, flattened
    penalty = _RIDGE * np.eye(3)
    penalty[1, 1] += prior.precision
    prior_mean = np.array([0.0, prior.mean, 0.0])
    params = np.zeros((all_weights.shape[0], 3)) if start is None else np.tile(start, (all_weights.shape[0], 1))

    def objective(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        offset = x - prior_mean
        fitted = np.einsum("sn,sn->s", all_weights[rows], log_likelihood(x @ design.T, target))
        return fitted - 0.5 * np.einsum("sp,pq,sq->s", offset, penalty, offset)

    value = objective(params, np.arange(len(params)))
    settled = np.zeros(len(params), dtype=bool)
    for _ in range(_NEWTON_ITERATIONS):
        p = _sigmoid(params @ design.T)
        gradient = (all_weights * (target - p)) @ design - (params - prior_mean) @ penalty
        hessian = ((all_weights * p * (1.0 - p)) @ outer).reshape(-1, 3, 3) + penalty
        step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        settled = np.abs(step).max(axis=1) < _NEWTON_TOLERANCE
        value, _ = damped_step(params, step, gradient, objective, value, _MAX_STEP)
        if settled.all():
            break
    return CandidateFit(params, np.linalg.inv(hessian)[:, 1, 1], settled)


def _slopes_settled(beta: np.ndarray, previous: np.ndarray) -> bool:
    """The EM of σ_β stops when no candidate's pooled β moves by `_SLOPE_TOLERANCE` any more, rather than on
    σ_β's own relative change: where the slopes all agree, σ_β creeps toward 0 ever more slowly (EM at the
    boundary) while the slopes, already all at μ_β, no longer change."""
    return bool(np.all(np.abs(beta - previous) <= _SLOPE_TOLERANCE))


def fit_length_prior(
    candidates: list[tuple[FitRows, np.ndarray]], variants: FitRows, variant_weight: float
) -> tuple[LengthSlopePrior, list[CandidateFit]]:
    """μ_β and σ_β of the pool, β_m ~ N(μ_β, σ_β²), by EM on the Laplace approximation, exactly as τ in stage 1:
    each candidate's β at its posterior mode under the current prior, then μ_β ← mean of the modes and
    σ_β² ← mean of (mode − μ_β)² + posterior variance. A candidate whose own judgments pin β down (many
    informative length gaps, or the baseline's variant rows) keeps its own; one whose data say little about β
    is drawn toward the pool's, in proportion to its posterior variance. Returns the prior and each candidate's
    point fit (α, β, ψ) under it (a `CandidateFit` of one weighting). `candidates`: each candidate's rows and its
    weights (1, N)."""
    fits = [fit_candidate(own, w, variants, variant_weight) for own, w in candidates]
    if len(fits) < 2:  # a pool of one says nothing about the spread of β
        return NO_POOLING, fits
    previous_beta = np.array([f.params[0, 1] for f in fits])
    prior = LengthSlopePrior(float(previous_beta.mean()), float(max(previous_beta.std(), np.sqrt(_MIN_SLOPE_VARIANCE))))
    for _ in range(_EM_ITERATIONS):
        fits = [
            fit_candidate(own, w, variants, variant_weight, prior, start=f.params[0])
            for (own, w), f in zip(candidates, fits)
        ]
        beta = np.array([f.params[0, 1] for f in fits])
        variance = np.array([f.beta_variance[0] for f in fits])
        mean = float(beta.mean())
        spread2 = max(float(np.mean((beta - mean) ** 2 + variance)), _MIN_SLOPE_VARIANCE)
        prior = LengthSlopePrior(mean, float(np.sqrt(spread2)))
        if _slopes_settled(beta, previous_beta):
            break
        previous_beta = beta
    return prior, [
        fit_candidate(own, w, variants, variant_weight, prior, start=f.params[0])
        for (own, w), f in zip(candidates, fits)
    ]


def length_controlled_win_rates(
    data: BaselineJudgments,
    bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    difficulty: np.ndarray | None = None,
    variant_weight: float = BASELINE_VARIANT_WEIGHT,
    length_prior: LengthSlopePrior | None = None,
) -> LengthControlled:
    """The LC win rate of every candidate in the pool. `difficulty`: γ per question fitted elsewhere (a larger
    pool, a held-out check) instead of stage 1 on this pool; `variant_weight`: the weight per instruction of the
    baseline variants' judgments in each candidate's fit (0: unregularised; see the module's docstring);
    `length_prior`: the pool's prior on β fitted elsewhere (`NO_POOLING`: each β on its own) instead of EM on
    this pool."""
    n_models, n_questions = len(data.models), data.n_questions
    if not len(data.score):
        raise ArenaError("no decided judgments against the baseline: no length-controlled win rate")
    tanh_gap = standardised_tanh(data.model, data.length_gap.astype(np.float64), n_models)
    tau = float("nan")
    if difficulty is None:
        pool = fit_difficulty(data.model, data.question, data.score, tanh_gap, n_models, n_questions)
        difficulty, tau = pool.difficulty, pool.spread
    variant_rows = np.flatnonzero(np.isin(data.model, data.baseline_variants))
    # AlpacaEval splits the weight among the variants: each instruction carries `variant_weight` in all
    per_variant_row = variant_weight / max(len(data.baseline_variants), 1)
    variants = FitRows(data.score[variant_rows], tanh_gap[variant_rows], difficulty[data.question[variant_rows]])
    present = [m for m in range(n_models) if np.any(data.model == m)]
    rows_of = {m: np.flatnonzero(data.model == m) for m in present}
    own_of = {m: FitRows(data.score[r], tanh_gap[r], difficulty[data.question[r]]) for m, r in rows_of.items()}
    candidates = [(own_of[m], np.ones((1, len(rows_of[m])))) for m in present]
    if length_prior is None:
        length_prior, point_fits = fit_length_prior(candidates, variants, per_variant_row)
    else:
        point_fits = [fit_candidate(own, w, variants, per_variant_row, length_prior) for own, w in candidates]
    points = [f.params[0] for f in point_fits]
    for m, f in zip(present, point_fits):
        if not f.converged[0]:
            _log.warning(
                "length-controlled win rate of %s: the fit of α, β, ψ did not converge in %d Newton steps",
                data.models[m],
                _NEWTON_ITERATIONS,
            )
    rng = np.random.default_rng(seed)
    out = {k: np.full(n_models, np.nan) for k in ("rate", "se", "low", "high", "beta")}
    for m, point in zip(present, points):
        rows, own = rows_of[m], own_of[m]
        questions, column = np.unique(data.question[rows], return_inverse=True)
        q = len(questions)
        resampled = rng.multinomial(q, np.full(q, 1.0 / q), size=max(bootstrap, 0)).astype(np.float64)
        question_weights = np.vstack([np.ones(q), resampled])  # row 0: the data itself
        params = point[None, :]
        if bootstrap > 0:
            resamples = fit_candidate(
                own, question_weights[1:, column], variants, per_variant_row, length_prior, start=point
            )
            params = np.vstack([point, resamples.params])
            if not resamples.converged.all():
                _log.warning(
                    "length-controlled win rate of %s: %d of %d resamples did not converge in %d Newton steps",
                    data.models[m],
                    int((~resamples.converged).sum()),
                    bootstrap,
                    _NEWTON_ITERATIONS,
                )
        predicted = _sigmoid(params[:, :1] + params[:, 2:] * difficulty[questions][None, :])  # (S, Q), zero gap
        rates = 100 * (question_weights * predicted).sum(axis=1) / question_weights.sum(axis=1)
        out["rate"][m], out["beta"][m] = rates[0], params[0, 1]
        out["se"][m] = 100 * predicted[0].std(ddof=1) / np.sqrt(q) if q > 1 else np.nan
        if bootstrap > 0:
            out["low"][m], out["high"][m] = np.percentile(rates[1:], [2.5, 97.5])
    return LengthControlled(
        data.models, out["rate"], out["se"], out["low"], out["high"], out["beta"], tau, length_prior
    )
