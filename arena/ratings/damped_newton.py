"""One damped Newton step for a batch of concave fits: the length-controlled win rate's
(`arena.ratings.length_controlled`); the log-likelihood is also the style-controlled fit's.
(The plain Bradley-Terry fit keeps its own clipped step: no table of 300 random ones, sparse and
near-separated included, made it bounce, and it is the fit timed at a million judgments.)

The method is the one `arena.ratings.style.batched` describes (Boyd & Vandenberghe, "Convex Optimization",
2004, §9.5; Nocedal & Wright, "Numerical Optimization", 2nd ed. 2006, §3.1), without its bound that spares
evaluating the objective (these fits are small enough to evaluate it): keep the Newton direction, scale the
whole step so that no component exceeds the bound (a cap on how far one linearisation is trusted), and halve
it until the penalised log-likelihood rises by at least `SUFFICIENT_RISE` · t · gᵀΔ (Armijo), allowing for
rounding (`ROUNDING`, relative to the objective: Hager & Zhang 2005's approximate condition). The Newton
direction goes uphill on a strictly concave objective, so every step raises it and the iteration converges from
any start. Near the maximum the whole Newton step passes at once, so a well-conditioned fit ends where undamped
Newton ends. Clipping each component to the bound instead changes the direction, can point downhill, and on
nearly collinear covariates bounced between two points until the iterations ran out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SUFFICIENT_RISE = 1e-4  # Armijo's constant (Nocedal & Wright's usual value): a Newton step near the top gives ½
MAX_HALVINGS = 30  # a step 2⁻³⁰ of Newton's that still does not rise: the objective is flat there to rounding
# A change of the objective this small relative to it is rounding: a step that does not lower it by more passes.
ROUNDING = 1e-12


def damped_step(
    params: np.ndarray,
    step: np.ndarray,
    gradient: np.ndarray,
    objective: Callable[[np.ndarray, np.ndarray], np.ndarray],
    value: np.ndarray,
    max_step: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Move each row of `params` (fits, p), in place, along its Newton step (fits, p), whole-step scaled to
    `max_step` and halved until `objective` (params of some rows, those rows' indices -> their penalised
    log-likelihoods) rises enough from `value` (each row's objective now). Returns (the rows' objective after
    the move, whether each row moved): a row whose step does not rise even at 2⁻³⁰ of it stays put."""
    largest = np.abs(step).max(axis=1)
    scale = np.minimum(1.0, max_step / np.maximum(largest, max_step * 1e-300))
    step = step * scale[:, None]  # times 1.0 exactly where no scaling is needed
    slope = np.einsum("sp,sp->s", gradient, step)
    slack = ROUNDING * np.abs(value)
    value, moved = value.copy(), np.zeros(len(params), dtype=bool)
    length = np.ones(len(params))
    left = np.arange(len(params))
    for _ in range(MAX_HALVINGS + 1):
        trial = params[left] + length[left, None] * step[left]
        reached = objective(trial, left)
        rise = reached - value[left] >= SUFFICIENT_RISE * length[left] * slope[left] - slack[left]
        params[left[rise]] = trial[rise]
        value[left[rise]] = reached[rise]
        moved[left[rise]] = True
        left = left[~rise]
        if not len(left):
            break
        length[left] *= 0.5
    return value, moved


def log_likelihood(z: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Each observation's log-likelihood y·log σ(z) + (1 − y)·log σ(−z) at the predictors z, written
    −(log(1 + e^−|z|) + y·max(−z, 0) + (1 − y)·max(z, 0)) so that it keeps its relative precision however well
    the observation is predicted (y·z − log(1 + eᶻ) would lose it to cancellation): a change of 1e-12 is still
    seen."""
    return -np.log1p(np.exp(-np.abs(z))) - np.where(z >= 0, (1.0 - outcome) * z, -outcome * z)
