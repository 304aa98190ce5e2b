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

A maximum-likelihood fit can still mean nothing: the judgments may not identify a coefficient. Every fit is
checked (`feature_problems`), and what is wrong is said in words (`style_warning`), per feature:
- "constant": no two answers judged against each other differ in it (all its differences 0): the data say
  nothing of it, and it leaves θ alone;
- "collinear", "unbounded" or "weak": the judgments leave its style term's effect on a typical match (β_k
  times the root mean square of d_k) uncertain by more than `_UNIDENTIFIED_LOG_ODDS` log-odds, one standard
  error from the observed information at the fit (the inverse of the negative Hessian; Pawitan 2001, "In All
  Likelihood", §2.7): ±1 log-odds is odds multiplied or divided by 2.7, so its 95% interval spans a factor of
  50 either way and the coefficient, and the θ it trades off against, say nothing. Why, in the message: the
  feature is almost fully determined by which models meet ("collinear": R² ≥ 0.9 when its differences are
  regressed, unweighted, on the pairing +1 at A's model, −1 at B's, and the other features' differences;
  a variance inflation factor of 10 or more, the textbook alarm: Belsley, Kuh & Welsch 1980, "Regression
  Diagnostics", ch. 3), so the likelihood is a long, narrow ridge along which θ and β trade off; or its
  coefficient runs off ("unbounded", next); or too few judgments tell its effect apart ("weak"). A strong
  collinearity alone is no alarm: with enough judgments the ridge is narrow in both directions;
- "unbounded": its style term alone moves some match's log-odds by more than `_RUNAWAY_LOG_ODDS` (odds of
  22,000 to 1), which no judge's taste does: the judgments do not bound it (e.g. every time the answers
  differ in it, the one with more of it won);
and for the fit as a whole: Newton did not converge (then what it was still moving is named), or some
bootstrap resamples did not.

The length-controlled win rate against a baseline (AlpacaEval 2.0's) is `arena.ratings.length_controlled`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.errors import ArenaError
from arena.ratings import DEFAULT_RESAMPLES
from arena.ratings.bradley_terry_fit import to_elo_scale
from arena.ratings.matches import Matches
from arena.ratings.style.batched import _MAX_ITERATIONS, _TOLERANCE, CovariateMatches, covariate_matches
from arena.ratings.summary import RatingSummary, summarize

# Up to this many match-fits (matches × (resamples + 1)) the numpy engine finishes before numba would have
# started and loaded its kernels; above it the compiled kernels win. Measured on this project's 2-core machine
# (`python benchmarks/ratings.py --style-threshold`: 4 features, 1,000 resamples, fresh processes, another job
# running, load average 2-3.5): numpy 0.34 s at 3 million (8 models; 0.42 s with 20), 0.59 s at 5 million,
# 1.2 s at 10 million; the compiled path 0.56-0.73 s at any of these, nearly all of it numba's start.
_NUMPY_MAX_CELLS = 5_000_000
# One standard error of a style term's effect on a typical match beyond which its coefficient counts as not
# identified, in log-odds. Measured (standard error × rms difference): 0.03-0.05 on the paper's 4,480 Vicuna
# judgments (4 features), 0.21 on 100 random matches, 0.5 on 30 (4 features each), 0.21 on 20,000 matches
# whose length is 99% determined by the models; 5.2 on the 102-judgment store of benchmarks/startup.py, where
# every model's answers have one length per question (the fit puts β at −40).
_UNIDENTIFIED_LOG_ODDS = 1.0
# R² of a feature on the pairing (and the other features) from which the message calls it determined by them.
_COLLINEAR_R2 = 0.9
# Log-odds one match's style term may move before its coefficient counts as unbounded (odds of 22,000 to 1).
_RUNAWAY_LOG_ODDS = 10.0


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
class FeatureProblem:
    """Why the judgments do not identify one feature's coefficient (the module's docstring)."""

    feature: str
    kind: str  # "constant" | "collinear" | "unbounded" | "weak"
    beta: float = float("nan")
    uncertainty: float = float("nan")  # one standard error of the style term on a typical match, log-odds
    explained: float = float("nan")  # R² of its differences on the pairing (and `partners`)
    partners: tuple[str, ...] = ()  # collinear: the other features needed for that R², if any


@dataclass(frozen=True)
class ControlledFit:
    summary: RatingSummary  # θ on the Elo scale with intervals
    features: tuple[str, ...]
    beta: np.ndarray
    beta_low: np.ndarray
    beta_high: np.ndarray
    problems: tuple[FeatureProblem, ...] = ()
    converged: bool = True  # the point fit
    still_moving: tuple[str, ...] = ()  # unconverged: what its Newton step still moved ("the coefficient of …")
    unconverged_resamples: int = 0

    @property
    def trustworthy(self) -> bool:
        """Whether the controlled ratings mean what they say: only features with no differences at all (which
        leave θ alone) may be unidentified."""
        return self.converged and all(p.kind == "constant" for p in self.problems)

    @property
    def alarming(self) -> bool:
        """Whether `style_warning` is a warning (else a note, or nothing): the ratings are not to be trusted, or
        some intervals come from resamples that did not converge."""
        return not self.trustworthy or self.unconverged_resamples > 0

    def note(self, feature: str) -> str | None:
        """A coefficient row's note, when its feature is not identified."""
        for problem in self.problems:
            if problem.feature == feature:
                return {
                    "constant": "no differences",
                    "collinear": "not identifiable",
                    "unbounded": "unbounded",
                    "weak": "not identifiable",
                }[problem.kind]
        return None


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
    point, converged = engine.fit_with_covariates(data)
    gradient, system = engine.curvature(data, point)
    problems = feature_problems(data, point[n:], tuple(names), system)
    moving: tuple[str, ...] = ()
    if not converged:  # say what was still on the move: the step Newton would take next, its large parts
        step = np.abs(np.linalg.solve(system, gradient))
        moving = tuple(
            f"the coefficient of {names[i - n]}" if i >= n else f"the rating of {matches.models[i]}"
            for i in np.flatnonzero(step >= max(_TOLERANCE, 0.1 * step.max()))
        )
    rating = to_elo_scale(point[:n], anchor_index)
    if bootstrap <= 0:
        return ControlledFit(
            summarize(matches.models, rating[None, :], rating),
            tuple(names),
            point[n:],
            point[n:],
            point[n:],
            problems,
            bool(converged),
            moving,
        )
    seeds = np.random.default_rng([seed, 2]).bit_generator.random_raw(bootstrap)
    samples, resampled = engine.bootstrap_fits(data, point, seeds)
    low, high = np.percentile(samples[:, n:], [2.5, 97.5], axis=0)
    return ControlledFit(
        summarize(matches.models, to_elo_scale(samples[:, :n], anchor_index), rating),
        tuple(names),
        point[n:],
        low,
        high,
        problems,
        bool(converged),
        moving,
        int((~resampled).sum()),
    )


def feature_problems(
    data: CovariateMatches, beta: np.ndarray, names: tuple[str, ...], system: np.ndarray
) -> tuple[FeatureProblem, ...]:
    """Each feature whose coefficient these matches do not identify, and why (the module's docstring).
    `system`: the engine's `curvature` at the fit (its inverse's β block is the coefficients' covariance).

    The collinearity is measured on the design alone, every match counted once: with X the pairing columns and
    D the features' differences, the Gram matrix [[XᵀX, XᵀD], [DᵀX, DᵀD]] (the Laplacian of the match counts,
    per-model sums of the differences, their cross products) gives the features' residual Gram matrix once
    the pairing is projected out, S = DᵀD − DᵀX (XᵀX)⁺ XᵀD, and from it each feature's residual after the
    other features too (a Schur complement)."""
    n = data.n_models
    differences = data.features.astype(np.float64)  # (k, matches), low's answer against high's
    squares = np.einsum("fm,gm->fg", differences, differences)
    covariance = np.diag(np.linalg.inv(system))[n:]
    problems = []
    for f, name in enumerate(names):
        if squares[f, f] <= 0:
            problems.append(FeatureProblem(name, "constant"))
            continue
        coefficient = float(beta[f])
        uncertainty = float(np.sqrt(max(covariance[f], 0.0) * squares[f, f] / differences.shape[1]))
        runaway = abs(coefficient) * np.abs(differences[f]).max() > _RUNAWAY_LOG_ODDS
        if uncertainty <= _UNIDENTIFIED_LOG_ODDS and not runaway:
            continue
        explained, partners = _explained(data, differences, squares, f)
        kind = "collinear" if explained >= _COLLINEAR_R2 else "unbounded" if runaway else "weak"
        problems.append(
            FeatureProblem(
                name,
                kind,
                coefficient,
                uncertainty,
                explained,
                tuple(names[g] for g in partners) if kind == "collinear" else (),
            )
        )
    return tuple(problems)


def _explained(data: CovariateMatches, differences: np.ndarray, squares: np.ndarray, f: int) -> tuple[float, list]:
    """R² of feature f's differences on the pairing and the other (non-constant) features, and those others
    when the pairing alone explains less than `_COLLINEAR_R2` (else none)."""
    n, k = data.n_models, len(squares)
    lengths = np.diff(data.starts).astype(np.float64)
    laplacian = np.zeros((n, n))
    np.add.at(laplacian, (data.low, data.low), lengths)
    np.add.at(laplacian, (data.high, data.high), lengths)
    np.add.at(laplacian, (data.low, data.high), -lengths)
    np.add.at(laplacian, (data.high, data.low), -lengths)
    run_sums = np.add.reduceat(differences, data.starts[:-1], axis=1)  # (k, runs)
    cross = np.zeros((k, n))
    np.add.at(cross.T, data.low, run_sums.T)
    np.add.at(cross.T, data.high, -run_sums.T)
    residual = squares - cross @ np.linalg.pinv(laplacian, hermitian=True) @ cross.T
    alone = 1.0 - residual[f, f] / squares[f, f]
    others = [g for g in range(k) if g != f and squares[g, g] > 0]
    left = residual[f, f]
    if others:
        block = residual[np.ix_(others, others)]
        left -= residual[f, others] @ np.linalg.pinv(block, hermitian=True) @ residual[others, f]
    explained = float(min(1.0, max(0.0, 1.0 - left / squares[f, f])))
    return explained, [] if alone >= _COLLINEAR_R2 else others


def _listing(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _unidentified(problem: FeatureProblem, ratings: bool) -> str:
    """Why a feature's coefficient is not identified, in words, with the advice that goes with it when the
    ratings are what is shown."""
    name, uncertain = problem.feature, f"±{problem.uncertainty:.1f} log-odds on a typical match"
    if problem.kind == "collinear":
        by = "which models meet" + (f" and {_listing(problem.partners)}" if problem.partners else "")
        if problem.explained > 1 - 1e-9:
            why = f"{name} is fully determined by {by}"
            value = f"any value fits them equally well; shown at {problem.beta:.1f}"
        else:
            why = f"{name} is almost fully determined by {by} ({100 * problem.explained:.1f}% of its differences)"
            value = f"the fit puts it at {problem.beta:.1f}, give or take {uncertain}"
        advice = f": control for {name} only with judgments in which each model's answers vary in it, or leave it out"
    elif problem.kind == "unbounded":
        why = f"the answer with more {name} won, or lost, nearly every match in which the answers differ in {name}"
        value = f"the fit runs off to {problem.beta:.1f}"
        advice = f": leave {name} out"
    else:
        why = f"too few of these judgments tell the effect of {name} apart"
        value = f"the fit puts it at {problem.beta:.1f}, give or take {uncertain}"
        advice = ": judge more, or control for fewer features"
    shift = ", and the ratings shift with it" if ratings else ""
    return f"{why}, so its coefficient is not identifiable from these judgments ({value}){shift}" + (
        advice if ratings else ""
    )


def style_warning(fit: ControlledFit, judge: str, ratings: bool = True) -> str | None:
    """One message, in words, for everything wrong with the fit (None when nothing is): which features, why,
    and what to do. `ratings`: the controlled ratings are what is shown (else only the coefficients: a judge's
    length preference). A warning when `fit.alarming`, else a note."""
    shown = "the style-controlled ratings" if ratings else "the length preference (length_beta)"
    clauses = []
    if not fit.converged:
        moving = _listing(fit.still_moving) if fit.still_moving else "it"
        clauses.append(
            f"the fit did not converge in {_MAX_ITERATIONS} Newton steps: {moving} "
            f"{'were' if len(fit.still_moving) > 1 else 'was'} still running off, as a coefficient does when the "
            "judgments do not bound it (e.g. the answer with more of a feature won every match in which the answers "
            "differ in it), so the values shown are where the fit stopped, not estimates"
        )
    for problem in fit.problems:
        if problem.kind == "constant":
            continue
        if problem.kind == "unbounded" and f"the coefficient of {problem.feature}" in fit.still_moving:
            continue  # said above
        clauses.append(_unidentified(problem, ratings))
    constant = [p.feature for p in fit.problems if p.kind == "constant"]
    if constant:
        one = len(constant) == 1
        clauses.append(
            f"no two answers judged against each other differ in {_listing(constant)}, so "
            f"{'its coefficient' if one else 'their coefficients'} cannot be estimated (shown as 0; the ratings "
            f"do not depend on {'it' if one else 'them'})"
        )
    if fit.unconverged_resamples:
        several = fit.unconverged_resamples > 1
        clauses.append(
            f"{fit.unconverged_resamples} bootstrap resample{'s' if several else ''} did not converge (a "
            "coefficient running off in them), so the intervals are approximate"
        )
    if not clauses:
        return None
    verdict = f"{shown} are not to be trusted" if not fit.trustworthy else "style control"
    if not ratings:
        verdict = verdict.replace(" are ", " is ")
    return f"judge {judge}: {verdict}: " + "; ".join(clauses) + "."


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
    warning: str | None = None  # `style_warning` of the fit behind length_beta


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
        style_warning(fit, judge, ratings=False) if fit.alarming else None,
    )
