"""Length-controlled win rate against a baseline, after AlpacaEval 2.0's method (Dubois et al., 2024,
"Length-Controlled AlpacaEval"), written from its public description.

A judge that prefers long answers rewards verbosity. The question LC answers: what would the win rate be if the
candidate's answers were as long as the baseline's? Every candidate-vs-baseline judgment i (candidate m,
instruction x, candidate's score y in [0, 1], soft verdicts kept) is modelled as

    logit P(candidate wins) = α_m + β_m · tanh(z_i) + ψ_m · γ_x

z_i is the candidate's answer length minus the baseline's, in characters, divided by the standard deviation of
that difference over the candidate's own judgments; tanh bounds what any one length gap can do. γ_x is how
hard instruction x is to win on against the baseline, the same for every candidate; ψ_m how much that matters
for candidate m. The LC win rate is the mean over instructions of the prediction with the length term set to
zero, σ(α_m + ψ_m γ_x); its standard error is that of a mean over the instructions.

Fitting in two stages, as AlpacaEval does:

1. Difficulty, on the pool of candidates present: logit = θ_m + β_m · tanh(z) + γ_x with γ_x a random effect,
   γ_x ~ N(0, τ²). AlpacaEval fits γ once on its pool of hundreds of models and ships it; an offline tool
   has only the candidates in the store, often a dozen, and an instruction every one of them loses (or wins)
   says little about how hard it is. The Gaussian prior shrinks each γ_x toward the others in proportion to
   how little it is informed: its posterior mode moves toward 0 by τ⁻² / (information_x + τ⁻²). τ² is not a
   chosen constant: it is estimated from the data by expectation-maximisation on the Laplace approximation
   (τ² ← mean of γ_x² + posterior variance of γ_x), so a pool with little signal per instruction shrinks more.
2. Per candidate, γ held fixed: α_m, β_m, ψ_m by maximum likelihood, regularised toward the baseline by
   pseudo-judgments of the baseline against itself (a draw, no length gap) spread over the candidate's
   instructions, `BASELINE_PRIOR_JUDGMENTS` in all: a prior that, at equal length, the candidate is as good
   as the baseline. One judgment's worth steadies a candidate judged on a handful of instructions and is
   negligible against hundreds. It must stay small: the pseudo-judgments sit exactly where LC is read (zero
   gap), while a weak model's real judgments sit far from it, so a prior of a fifth of a judgment per
   instruction lifted the weakest models' LC by 20-35 points on AlpacaEval's own data (benchmarks/alpaca_eval_lc.py
   prints that ablation).

The 95% interval resamples instructions (stage 2 refitted per resample, γ held fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.errors import ArenaError

BASELINE_PRIOR_JUDGMENTS = 1.0  # total weight of the pseudo-judgments of the baseline against itself (stage 2)
_RIDGE = 1e-6  # a whisper of L2 on the fixed effects keeps a candidate that won (or lost) everything finite
_NEWTON_TOLERANCE = 1e-8
_NEWTON_ITERATIONS = 100
_EM_TOLERANCE = 1e-5  # relative change of τ²
_EM_ITERATIONS = 2_000


@dataclass(frozen=True)
class BaselineJudgments:
    """Every decided candidate-vs-baseline judgment of a pool: one row each (both answer orders are rows)."""

    models: tuple[str, ...]
    model: np.ndarray  # (N,) index into models
    question: np.ndarray  # (N,) index into the pool's distinct questions
    score: np.ndarray  # (N,) the candidate's score in [0, 1]: 1 win, 0.5 tie, a soft verdict in between
    length_gap: np.ndarray  # (N,) candidate's answer length minus the baseline's, in characters

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
class DifficultyFit:
    """Stage 1: γ per question, its spread τ, and the pool fit's own θ (strength) and β per candidate."""

    difficulty: np.ndarray
    spread: float
    strength: np.ndarray
    length_beta: np.ndarray


def fit_difficulty(model: np.ndarray, question: np.ndarray, score: np.ndarray, tanh_gap: np.ndarray,
                   n_models: int, n_questions: int, spread: float | None = None) -> DifficultyFit:
    """Stage 1: logit = θ_m + β_m tanh(z) + γ_x, γ_x ~ N(0, τ²), τ² by EM (or τ = `spread`, held fixed:
    a large one is the unshrunk fit, for comparison).

    Newton steps use the structure of the system: the (θ, β) block is 2×2 per candidate and the γ block is
    diagonal, so the Schur complement onto the 2M fixed effects is the only dense solve."""
    m2 = 2 * n_models
    fixed_row = np.stack([2 * model, 2 * model + 1])  # rows of θ_m and β_m for each observation
    fixed_design = np.stack([np.ones_like(tanh_gap), tanh_gap])  # (2, N)
    fixed = np.zeros(m2)
    gamma = np.zeros(n_questions)
    tau2 = 1.0 if spread is None else spread ** 2
    for _ in range(_EM_ITERATIONS if spread is None else 1):
        for _ in range(_NEWTON_ITERATIONS):
            p = _sigmoid(fixed[2 * model] + fixed[2 * model + 1] * tanh_gap + gamma[question])
            residual, weight = score - p, p * (1.0 - p)
            grad_fixed = np.bincount(fixed_row.ravel(), (fixed_design * residual).ravel(), minlength=m2) - _RIDGE * fixed
            grad_gamma = np.bincount(question, residual, minlength=n_questions) - gamma / tau2
            a = np.zeros((m2, m2))
            for r in range(2):
                for c in range(2):
                    np.add.at(a, (fixed_row[r], fixed_row[c]), weight * fixed_design[r] * fixed_design[c])
            a += _RIDGE * np.eye(m2)
            b = np.zeros((m2, n_questions))
            for r in range(2):
                np.add.at(b, (fixed_row[r], question), weight * fixed_design[r])
            d = np.bincount(question, weight, minlength=n_questions) + 1.0 / tau2
            schur = a - (b / d) @ b.T
            step_fixed = np.linalg.solve(schur, grad_fixed - b @ (grad_gamma / d))
            step_gamma = (grad_gamma - b.T @ step_fixed) / d
            fixed += np.clip(step_fixed, -4.0, 4.0)
            gamma += np.clip(step_gamma, -4.0, 4.0)
            if max(np.abs(step_fixed).max(), np.abs(step_gamma).max()) < _NEWTON_TOLERANCE:
                break
        scaled = b / d
        posterior_variance = 1.0 / d + np.einsum("ij,ij->j", scaled, np.linalg.solve(schur, scaled))
        updated = float(np.mean(gamma ** 2 + posterior_variance))
        converged = abs(updated - tau2) <= _EM_TOLERANCE * tau2
        tau2 = updated
        if converged or spread is not None:
            break
    return DifficultyFit(gamma, float(np.sqrt(tau2)) if spread is None else spread, fixed[0::2], fixed[1::2])


def fit_candidate(score: np.ndarray, tanh_gap: np.ndarray, difficulty: np.ndarray,
                  weights: np.ndarray, prior_weights: np.ndarray, prior_difficulty: np.ndarray,
                  start: np.ndarray | None = None) -> np.ndarray:
    """Stage 2 for one candidate over a batch of weightings: (S, N) observation weights and (S, Q) weights of
    the pseudo-judgments (a draw at zero gap, one per instruction with difficulty `prior_difficulty`) ->
    (S, 3) of (α, β, ψ), by batched Newton from `start` (resamples start from the full-data fit: a few steps)."""
    design = np.concatenate([np.stack([np.ones_like(tanh_gap), tanh_gap, difficulty], axis=1),
                             np.stack([np.ones_like(prior_difficulty), np.zeros_like(prior_difficulty),
                                       prior_difficulty], axis=1)])  # (N + Q, 3)
    target = np.concatenate([score, np.full(len(prior_difficulty), 0.5)])
    all_weights = np.concatenate([weights, prior_weights], axis=1)  # (S, N + Q)
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), 9)  # each row's x xᵀ, flattened
    params = np.zeros((all_weights.shape[0], 3)) if start is None else np.tile(start, (all_weights.shape[0], 1))
    for _ in range(_NEWTON_ITERATIONS):
        p = _sigmoid(params @ design.T)
        gradient = (all_weights * (target - p)) @ design - _RIDGE * params
        hessian = ((all_weights * p * (1.0 - p)) @ outer).reshape(-1, 3, 3) + _RIDGE * np.eye(3)
        step = np.clip(np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0], -4.0, 4.0)
        params += step
        if np.abs(step).max() < _NEWTON_TOLERANCE:
            break
    return params


def length_controlled_win_rates(data: BaselineJudgments, bootstrap: int = 1_000, seed: int = 0,
                                difficulty: np.ndarray | None = None,
                                prior_judgments: float = BASELINE_PRIOR_JUDGMENTS) -> LengthControlled:
    """The LC win rate of every candidate in the pool. `difficulty`: γ per question fitted elsewhere (a larger
    pool, a held-out check) instead of stage 1 on this pool; `prior_judgments`: the weight of the pull toward
    the baseline (see the module's docstring)."""
    n_models, n_questions = len(data.models), data.n_questions
    if not len(data.score):
        raise ArenaError("no decided judgments against the baseline: no length-controlled win rate")
    tanh_gap = standardised_tanh(data.model, data.length_gap.astype(np.float64), n_models)
    tau = float("nan")
    if difficulty is None:
        pool = fit_difficulty(data.model, data.question, data.score, tanh_gap, n_models, n_questions)
        difficulty, tau = pool.difficulty, pool.spread
    rng = np.random.default_rng(seed)
    out = {k: np.full(n_models, np.nan) for k in ("rate", "se", "low", "high", "beta")}
    for m in range(n_models):
        rows = np.flatnonzero(data.model == m)
        if not len(rows):
            continue
        questions, column = np.unique(data.question[rows], return_inverse=True)
        q = len(questions)
        resampled = rng.multinomial(q, np.full(q, 1.0 / q), size=max(bootstrap, 0)).astype(np.float64)
        question_weights = np.vstack([np.ones(q), resampled])  # row 0: the data itself
        fit = lambda w, start=None: fit_candidate(  # noqa: E731 - the same data under different weights
            data.score[rows], tanh_gap[rows], difficulty[data.question[rows]], w[:, column],
            prior_judgments / q * w, difficulty[questions], start)
        point = fit(question_weights[:1])
        params = np.vstack([point, fit(question_weights[1:], point[0])]) if bootstrap > 0 else point
        predicted = _sigmoid(params[:, :1] + params[:, 2:] * difficulty[questions][None, :])  # (S, Q), zero gap
        rates = 100 * (question_weights * predicted).sum(axis=1) / question_weights.sum(axis=1)
        out["rate"][m], out["beta"][m] = rates[0], params[0, 1]
        out["se"][m] = 100 * predicted[0].std(ddof=1) / np.sqrt(q) if q > 1 else np.nan
        if bootstrap > 0:
            out["low"][m], out["high"][m] = np.percentile(rates[1:], [2.5, 97.5])
    return LengthControlled(data.models, out["rate"], out["se"], out["low"], out["high"], out["beta"], tau)
