"""Adaptive judging: spend each judge call where it most reduces uncertainty about the ranking.

The idea is active sampling for ranking from pairwise comparisons, as Chatbot Arena does for its live battles
(Chiang et al., 2024, "Chatbot Arena", section on efficient sampling) and as the active-ranking literature
studies (e.g. Heckel et al., 2019, "Active ranking from pairwise comparisons"): comparisons between models
whose order is already settled teach little; comparisons between neighbours whose intervals overlap teach
the most. This module is our own rule on top of arena's Bradley-Terry engine:

1. The unit of work is a question and a pair of models judged in *both* answer orders (two judge calls), so
   position bias stays balanced whatever is chosen.
2. A first round spreads units over every pair (so every pair's difference is estimable).
3. After each round (the judge's concurrency) Bradley-Terry is refitted on everything judged so far; its
   Fisher information L (the Laplacian of n_ij p_ij (1 − p_ij)) gives the covariance of the log-strengths,
   Σ = (L + 11ᵀ/n)⁻¹, and for each pair the standard deviation s_ij of θ_i − θ_j.
4. A pair's value is how much one more unit shrinks that deviation, times how likely the pair is still in
   the wrong order:
       value_ij = (s_ij − s'_ij) · 2Φ(−|θ_i − θ_j| / s_ij),  s'_ij² = 1 / (1 / s_ij² + 2 p_ij (1 − p_ij))
   (the second factor is the chance a normal with that spread crosses zero). Pairs long settled score ~0;
   close neighbours with wide intervals score highest. Within a round, picks are greedy, each pick updating
   its pair's s_ij as if judged, so a round spreads over the open pairs instead of piling onto one.
5. Every number is in units of the data (no constant tuned to one data set): the only knobs are the budget,
   the round size and the confidence of `until_separated`.

`until_separated` stops once every pair of neighbours (by current rating) is apart by more than z · s_ij at
the chosen confidence, or the budget is spent, and says which neighbours stayed unresolved. Everything is
deterministic for a seed, and a rerun continues from what is already judged.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri  # the normal CDF and its inverse (scipy.stats costs 2 s to import)

from arena.ratings.bradley_terry_fit import fit_log_strengths


@dataclass(frozen=True)
class Unit:
    """A question and an unordered pair; `orders` are the (first, second) presentations the pool offers."""

    question: str
    pair: tuple[str, str]
    orders: tuple[tuple[str, str], ...]

    @property
    def calls(self) -> int:
        return len(self.orders)


@dataclass
class ScheduleResult:
    judge_calls: int = 0
    rounds: int = 0
    unresolved_pairs: list[list[str]] = field(default_factory=list)
    stopped: str = "budget"  # budget | separated | pool


def units_of(matchups: list[tuple[str, str, str]]) -> list[Unit]:
    """Group (question, first, second) matchups into units of both orders."""
    grouped: dict[tuple[str, tuple[str, str]], list[tuple[str, str]]] = {}
    for question, first, second in matchups:
        pair = (first, second) if first <= second else (second, first)
        grouped.setdefault((question, pair), []).append((first, second))
    return [Unit(q, pair, tuple(sorted(orders))) for (q, pair), orders in sorted(grouped.items())]


def _fit(models: list[str], outcomes: list[tuple[str, str, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(θ, covariance of θ, games played per pair) from decided (first, second, score of first) outcomes."""
    n = len(models)
    index = {m: i for i, m in enumerate(models)}
    points = np.zeros((n, n))
    for a, b, score in outcomes:
        points[index[a], index[b]] += score
        points[index[b], index[a]] += 1.0 - score
    played = points + points.T
    theta = fit_log_strengths(points[None])[0]
    p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
    weight = played * p * (1.0 - p)
    laplacian = np.diag(weight.sum(axis=1)) - weight
    covariance = np.linalg.inv(laplacian + np.full((n, n), 1.0 / n) + 1e-9 * np.eye(n))
    return theta, covariance, played


def pair_values(theta: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """value_ij of the rule above, for every pair (symmetric, 0 on the diagonal)."""
    diagonal = np.diag(covariance)
    variance = np.maximum(diagonal[:, None] + diagonal[None, :] - 2 * covariance, 1e-12)
    spread = np.sqrt(variance)
    gap = np.abs(theta[:, None] - theta[None, :])
    p = 1.0 / (1.0 + np.exp(-gap))
    after = np.sqrt(1.0 / (1.0 / variance + 2.0 * p * (1.0 - p)))
    value = (spread - after) * 2.0 * ndtr(-gap / spread)
    np.fill_diagonal(value, 0.0)
    return value


def unresolved_neighbours(
    models: list[str], theta: np.ndarray, covariance: np.ndarray, confidence: float
) -> list[list[str]]:
    """Neighbouring models (by rating) whose difference is within z · s at this confidence."""
    z = ndtri(0.5 + confidence / 2)
    order = np.argsort(-theta)
    unresolved = []
    for i, j in zip(order[:-1], order[1:]):
        spread = np.sqrt(max(covariance[i, i] + covariance[j, j] - 2 * covariance[i, j], 1e-12))
        if abs(theta[i] - theta[j]) <= z * spread:
            unresolved.append([models[i], models[j]])
    return unresolved


def adaptive_schedule(
    models: list[str],
    pool: list[Unit],
    budget: int,
    round_size: int,
    seed: int,
    judged: Callable[[], tuple[set[tuple[str, str, str]], list[tuple[str, str, float]]]],
    judge_round: Callable[[list[tuple[str, str, str]]], object],
    until_separated: bool = False,
    confidence: float = 0.95,
) -> ScheduleResult:
    """`judged()` -> (matchups already judged, decided outcomes among `models`); `judge_round(matchups)`
    judges and stores them. Stops at `budget` judge calls in all (stored ones count)."""
    rng = random.Random(seed)
    result = ScheduleResult()
    done, outcomes = judged()
    open_units: dict[tuple[str, str], list[Unit]] = {}
    for unit in pool:
        remaining = tuple(o for o in unit.orders if (unit.question, *o) not in done)
        if remaining:
            open_units.setdefault(unit.pair, []).append(Unit(unit.question, unit.pair, remaining))
    for units in open_units.values():
        rng.shuffle(units)
    spent = len(done)
    index = {m: i for i, m in enumerate(models)}
    while True:
        if not any(open_units.values()):
            result.stopped = "pool"
            break
        if spent >= budget:
            break
        theta: np.ndarray | None = None  # None until some outcome is decided: _pick starts with unplayed pairs
        covariance: np.ndarray | None = None
        played: np.ndarray | None = None
        if outcomes:
            theta, covariance, played = _fit(models, outcomes)
            if (
                until_separated
                and played.sum() > 0
                and not unresolved_neighbours(models, theta, covariance, confidence)
            ):
                result.stopped = "separated"
                break
        chosen = _pick(models, index, open_units, theta, covariance, played, min(round_size, budget - spent), rng)
        if not chosen:
            break
        matchups = [(u.question, *order) for u in chosen for order in u.orders]
        judge_round(matchups)
        spent += len(matchups)
        result.rounds += 1
        done, outcomes = judged()
    result.judge_calls = spent
    if outcomes:
        theta, covariance, _ = _fit(models, outcomes)
        result.unresolved_pairs = unresolved_neighbours(models, theta, covariance, confidence)
    return result


def _pick(models, index, open_units, theta, covariance, played, calls: int, rng) -> list[Unit]:
    """Units worth up to `calls` judge calls: first every pair never played, then by value, greedily."""
    chosen, used = [], 0
    pairs = [pair for pair, units in open_units.items() if units]
    unplayed = [p for p in pairs if played is None or played[index[p[0]], index[p[1]]] == 0]
    rng.shuffle(unplayed)
    for pair in unplayed:
        unit = open_units[pair][-1]
        if used + unit.calls > calls:
            break
        chosen.append(open_units[pair].pop())
        used += unit.calls
    if theta is None or used >= calls:
        return chosen
    covariance = covariance.copy()
    value = pair_values(theta, covariance)
    while used < calls:
        candidates = [p for p in open_units if open_units[p]]
        if not candidates:
            break
        best = max(candidates, key=lambda p: (value[index[p[0]], index[p[1]]], rng.random()))
        unit = open_units[best][-1]
        if used + unit.calls > calls:
            break
        chosen.append(open_units[best].pop())
        used += unit.calls
        i, j = index[best[0]], index[best[1]]
        # As if judged: the pair's variance shrinks by one unit's information (a rank-one update).
        p = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j])))
        u = np.zeros(len(models))
        u[i], u[j] = 1.0, -1.0
        information = unit.calls * p * (1 - p)
        cu = covariance @ u
        covariance -= np.outer(cu, cu) * information / (1.0 + information * u @ cu)
        value = pair_values(theta, covariance)
    return chosen
