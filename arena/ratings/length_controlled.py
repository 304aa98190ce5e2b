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
2. Per candidate, γ held fixed: α_m, β_m, ψ_m by maximum likelihood on the candidate's judgments, regularised
   toward the baseline the way AlpacaEval does it. Its regularisation rows are judgments of the *baseline's own
   answers regenerated to be longer or shorter* (AlpacaEval's `<baseline>_verbose` and `<baseline>_concise`)
   against the baseline. They join every candidate's fit with weight `BASELINE_VARIANT_WEIGHT` per instruction
   in all, and without the candidate's intercept α_m: they inform only β_m and ψ_m. Same content, different
   length, so they measure how much the judge rewards length alone; a candidate whose own judgments confound
   length with quality (a weak model whose few long answers are its good ones, or one that truncates where it
   would lose) then cannot claim a length slope, and so an LC, that the judge's own behaviour does not support.
   A store without such variants gets AlpacaEval's unregularised fit (its `regularize_to_baseline_lambda`
   unset): nothing else in an offline pool measures the judge's response to length alone. A pull of α_m toward
   the baseline is no substitute: LC is read at α_m, so it would move every weak candidate toward 50%.

The 95% interval resamples the candidate's instructions (stage 2 refitted per resample, γ and the variant rows
held fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.errors import ArenaError

BASELINE_VARIANT_WEIGHT = 0.2  # AlpacaEval's regularize_to_baseline_lambda: weight per instruction of the variant rows
LENGTH_VARIANT_MARKERS = ("verbose", "concise")  # AlpacaEval's names for the baseline regenerated longer / shorter
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


def baseline_variants(models: tuple[str, ...], baseline: str) -> tuple[int, ...]:
    """The candidates that are the baseline's own answers regenerated to be longer or shorter, by AlpacaEval's
    naming: the baseline's name and "verbose" or "concise" in the candidate's (`gpt4_1106_preview_verbose`)."""
    return tuple(i for i, name in enumerate(models)
                 if name != baseline and baseline in name and any(k in name for k in LENGTH_VARIANT_MARKERS))


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


@dataclass(frozen=True)
class FitRows:
    """Judgments entering one candidate's stage-2 fit: score, tanh of the standardised gap, γ of the question."""

    score: np.ndarray
    tanh_gap: np.ndarray
    difficulty: np.ndarray


def fit_candidate(own: FitRows, weights: np.ndarray, variants: FitRows, variant_weight: float,
                  start: np.ndarray | None = None) -> np.ndarray:
    """Stage 2 for one candidate over a batch of weightings of its N judgments, (S, N) -> (S, 3) of (α, β, ψ),
    by batched Newton from `start` (resamples start from the full-data fit: a few steps). The baseline variants'
    judgments (possibly none) enter every weighting with `variant_weight` each and without α."""
    design = np.concatenate([np.stack([np.ones_like(own.tanh_gap), own.tanh_gap, own.difficulty], axis=1),
                             np.stack([np.zeros_like(variants.tanh_gap), variants.tanh_gap, variants.difficulty],
                                      axis=1)])  # (N + V, 3)
    target = np.concatenate([own.score, variants.score])
    all_weights = np.concatenate([weights, np.full((weights.shape[0], len(variants.score)), variant_weight)], axis=1)
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
                                variant_weight: float = BASELINE_VARIANT_WEIGHT) -> LengthControlled:
    """The LC win rate of every candidate in the pool. `difficulty`: γ per question fitted elsewhere (a larger
    pool, a held-out check) instead of stage 1 on this pool; `variant_weight`: the weight per instruction of the
    baseline variants' judgments in each candidate's fit (0: unregularised; see the module's docstring)."""
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
        own = FitRows(data.score[rows], tanh_gap[rows], difficulty[data.question[rows]])
        point = fit_candidate(own, question_weights[:1, column], variants, per_variant_row)
        params = point if bootstrap <= 0 else np.vstack(
            [point, fit_candidate(own, question_weights[1:, column], variants, per_variant_row, start=point[0])])
        predicted = _sigmoid(params[:, :1] + params[:, 2:] * difficulty[questions][None, :])  # (S, Q), zero gap
        rates = 100 * (question_weights * predicted).sum(axis=1) / question_weights.sum(axis=1)
        out["rate"][m], out["beta"][m] = rates[0], params[0, 1]
        out["se"][m] = 100 * predicted[0].std(ddof=1) / np.sqrt(q) if q > 1 else np.nan
        if bootstrap > 0:
            out["low"][m], out["high"][m] = np.percentile(rates[1:], [2.5, 97.5])
    return LengthControlled(data.models, out["rate"], out["se"], out["low"], out["high"], out["beta"], tau)
