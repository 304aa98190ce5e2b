"""The compiled (numba) Elo kernels: orderings in parallel, `_LANES` side by side per thread. Imported only
for inputs large enough to repay numba's start-up (about a second to import and load the cached kernels);
smaller ones take the numpy path of arena.ratings.paper_elo, which plays the very same orders."""

from __future__ import annotations

import numba
import numpy as np

from arena.ratings import random_draws
from arena.ratings.paper_elo import _LN10_OVER_400
from arena.ratings.summary import INITIAL_RATING

_LANES = 4  # orderings played side by side in one thread, so the CPU overlaps their chains of updates


# The generator of arena.ratings.random_draws, compiled (inlined into the kernels below).
_splitmix64 = numba.njit(inline="always")(random_draws.splitmix64)
_stream_start = numba.njit(inline="always")(random_draws.stream_start)
_below = numba.njit(inline="always")(random_draws.below)


@numba.njit(inline="always")
def _shuffle(order, seed, ordering, swaps):
    """Fisher-Yates shuffle of `order` in place, driven by SplitMix64's stream for this (seed, ordering). The
    generator's state is a counter, so every draw is computed first, in a loop the compiler vectorises; only
    the swaps go one at a time. `swaps`: scratch for the n − 1 draws."""
    start = _stream_start(np.uint64(seed), np.uint64(ordering))
    last = order.shape[0] - 1
    for step in range(last):
        # Lemire's multiply-shift: 32 random bits scaled to [0, i] without a division, i = last − step.
        swaps[step] = np.int64(_below(_splitmix64(start, np.uint64(step + 1)), np.uint64(last - step + 1)))
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
        ratings = np.full((lanes, n_models), INITIAL_RATING)
        for t in range(n_matches):
            for lane in range(lanes):
                m = orders[lane, t]
                a, b = model_a[m], model_b[m]
                expected_a = 1.0 / (1.0 + np.exp((ratings[lane, b] - ratings[lane, a]) * _LN10_OVER_400))
                delta = k * (outcome[m] - expected_a)
                ratings[lane, a] += delta
                ratings[lane, b] -= delta
        result[low : low + lanes] = ratings
    return result
