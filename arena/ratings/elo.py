"""The QLoRA paper's Elo: every model starts at 1000, K = 32; all matches are played in a random order and
the final ratings kept; this is repeated over many orders and the mean reported with a 95% interval.

Elo is sequential within an ordering, so the kernel is compiled (numba) and runs orderings in parallel.
Each ordering draws its own permutation from a counter-based generator seeded by (seed, ordering index):
results do not depend on the number of threads, and the plain-Python reference sees the very same orders."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from arena.ratings.matches import Matches
from arena.ratings.summary import INITIAL_RATING, RatingSummary, summarize

K_FACTOR = 32.0
_LN10_OVER_400 = np.log(10.0) / 400.0


_LANES = 4  # orderings played side by side in one thread, so the CPU overlaps their chains of updates


@numba.njit(inline="always")
def _shuffle(order, seed, ordering, swaps):
    """Fisher-Yates shuffle of `order` in place, driven by SplitMix64 seeded for this (seed, ordering). The
    generator's state is a counter, so every draw is computed first, in a loop the compiler vectorises; only
    the swaps go one at a time. `swaps`: scratch for the n − 1 draws."""
    start = np.uint64(seed) * np.uint64(0xD1B54A32D192ED03) + np.uint64(ordering)
    last = order.shape[0] - 1
    for step in range(last):
        z = start + np.uint64(step + 1) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        # Lemire's multiply-shift: 32 random bits scaled to [0, i] without a division, i = last − step.
        swaps[step] = np.int64(((z >> np.uint64(32)) * np.uint64(last - step + 1)) >> np.uint64(32))
    for step in range(last):
        i, j = last - step, swaps[step]
        order[i], order[j] = order[j], order[i]


@numba.njit(parallel=True, cache=True)
def _orders_kernel(n_matches, orderings, seed):
    orders = np.empty((orderings, n_matches), dtype=np.int32)
    for r in numba.prange(orderings):
        for i in range(n_matches):
            orders[r, i] = i
        _shuffle(orders[r], seed, r, np.empty(max(n_matches - 1, 0), dtype=np.int64))
    return orders


@numba.njit(parallel=True, cache=True, fastmath=False)
def _elo_kernel_from(model_a, model_b, outcome, n_models, orderings, seed, k, first):
    """Orderings first .. first + orderings - 1 of the seeded sequence, `_LANES` at a time per thread."""
    n_matches = model_a.shape[0]
    result = np.empty((orderings, n_models))
    for group in numba.prange((orderings + _LANES - 1) // _LANES):
        low = group * _LANES
        lanes = min(_LANES, orderings - low)
        orders = np.empty((lanes, n_matches), dtype=np.int32)
        swaps = np.empty(max(n_matches - 1, 0), dtype=np.int64)
        for lane in range(lanes):
            for i in range(n_matches):
                orders[lane, i] = i
            _shuffle(orders[lane], seed, first + low + lane, swaps)
        ratings = np.full((lanes, n_models), 1000.0)
        for t in range(n_matches):
            for lane in range(lanes):
                m = orders[lane, t]
                a, b = model_a[m], model_b[m]
                expected_a = 1.0 / (1.0 + np.exp((ratings[lane, b] - ratings[lane, a]) * _LN10_OVER_400))
                delta = k * (outcome[m] - expected_a)
                ratings[lane, a] += delta
                ratings[lane, b] -= delta
        result[low:low + lanes] = ratings
    return result


def match_orders(n_matches: int, orderings: int, seed: int) -> np.ndarray:
    """The (orderings, n_matches) permutations that `elo_final_ratings` plays, for reference and tests."""
    return _orders_kernel(n_matches, orderings, seed)


def expected_score(rating_a: float, rating_b: float) -> float:
    """Expected score of A under the Elo logistic curve (base 10, scale 400)."""
    return 1.0 / (1.0 + 10.0 ** ((rating_b - rating_a) / 400.0))


def elo_final_ratings(matches: Matches, orderings: int, seed: int, k: float = K_FACTOR, first: int = 0) -> np.ndarray:
    """Final ratings after orderings first .. first + orderings - 1 of the seeded sequence: (orderings, models)."""
    return _elo_kernel_from(matches.model_a, matches.model_b, matches.outcome, len(matches.models), orderings,
                            seed, float(k), first)


def elo_reference(matches: Matches, orders: np.ndarray, k: float = K_FACTOR) -> np.ndarray:
    """Plain-Python Elo, one ordering and one match at a time: the yardstick for tests and benchmarks."""
    a_list, b_list, s_list = matches.model_a.tolist(), matches.model_b.tolist(), matches.outcome.tolist()
    result = []
    for order in orders.tolist():
        ratings = [INITIAL_RATING] * len(matches.models)
        for i in order:
            a, b = a_list[i], b_list[i]
            delta = k * (s_list[i] - expected_score(ratings[a], ratings[b]))
            ratings[a] += delta
            ratings[b] -= delta
        result.append(ratings)
    return np.array(result)


@dataclass(frozen=True)
class EloResult:
    """The paper's Elo: the mean over orderings with the spread of single-ordering results (the paper's
    95% interval), plus the Monte Carlo standard error of that mean and how many orderings were played."""

    summary: RatingSummary
    standard_error: np.ndarray
    orderings: int


AUTO_TARGET_ERROR = 0.1  # points: --orderings auto stops once every mean's Monte Carlo error is below this
AUTO_MAX_ORDERINGS = 100_000  # ... or at this many orderings, whichever comes first


def paper_elo(matches: Matches, orderings: int | str = 10_000, seed: int = 0, k: float = K_FACTOR,
              target_error: float = AUTO_TARGET_ERROR, batch: int = 500,
              max_orderings: int = AUTO_MAX_ORDERINGS) -> EloResult:
    """`orderings="auto"`: add orderings in batches until every model's mean has a Monte Carlo standard
    error below `target_error` points (or `max_orderings` are played). With K = 32 a single ordering's final
    rating swings by tens of points whatever the number of matches, so 0.1 can take far more orderings than
    the paper's 10,000 (σ 45 needs about 200,000): `standard_error` and `orderings` say what was reached.
    Batch b plays orderings [b·batch, (b+1)·batch) of the same seeded sequence, so auto and a fixed count
    share their orders."""
    if orderings != "auto":
        finals = elo_final_ratings(matches, int(orderings), seed, k)
    else:
        parts, total, squares = [], 0.0, 0.0
        while sum(len(p) for p in parts) < max_orderings:
            part = elo_final_ratings(matches, batch, seed, k, first=batch * len(parts))
            parts.append(part)
            total, squares = total + part.sum(axis=0), squares + (part ** 2).sum(axis=0)
            played = batch * len(parts)
            variance = (squares - total ** 2 / played) / (played - 1)
            if (np.sqrt(np.maximum(variance, 0.0) / played)).max() < target_error:
                break
        finals = np.concatenate(parts)
    error = finals.std(axis=0, ddof=1) / np.sqrt(len(finals)) if len(finals) > 1 else np.full(finals.shape[1], np.nan)
    return EloResult(summarize(matches.models, finals), error, len(finals))
