"""The QLoRA paper's Elo: every model starts at 1000, K = 32; all matches are played in a random order and
the final ratings kept; this is repeated over many orders and the mean reported with a 95% interval.

Elo is sequential within an ordering: small inputs play one vectorised step per match across all orderings
(numpy), large ones use compiled kernels that run orderings in parallel (numba, arena.ratings.elo_compiled).
Each ordering draws its own permutation from a counter-based generator seeded by (seed, ordering index):
results do not depend on the number of threads, and the plain-Python reference sees the very same orders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.ratings import DEFAULT_ORDERINGS
from arena.ratings.matches import Matches
from arena.ratings.random_draws import below, splitmix64, stream_start
from arena.ratings.summary import ELO_POINTS_PER_DECADE, INITIAL_RATING, RatingSummary, summarize

K_FACTOR = 32.0
_LN10_OVER_400 = np.log(10.0) / ELO_POINTS_PER_DECADE


# Up to this many matches the numpy path (one vectorised step per match, across orderings) finishes before
# numba would have loaded its kernels; above it the compiled kernels win.
_NUMPY_MAX_MATCHES = 300
_NUMPY_ROWS = 16_384  # orderings per numpy chunk (bounded memory for --orderings auto)


def _splitmix_swaps(n_matches: int, seed: int, first: int, orderings: int) -> np.ndarray:
    """The Fisher-Yates draws of orderings first .. first + orderings - 1: (orderings, n_matches - 1), the
    same SplitMix64 streams and Lemire scaling as the compiled `_shuffle` (arena.ratings.random_draws)."""
    last = n_matches - 1
    ordering = np.arange(first, first + orderings, dtype=np.uint64)[:, None]
    step = np.arange(last, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        z = splitmix64(stream_start(np.uint64(seed), ordering), step + np.uint64(1))
        return below(z, np.uint64(last + 1) - step).astype(np.int64)


def _numpy_orders(n_matches: int, orderings: int, seed: int, first: int = 0) -> np.ndarray:
    """Fisher-Yates over every ordering at once, worked on the transpose (one contiguous row per position)."""
    orders = np.tile(np.arange(n_matches, dtype=np.int32)[:, None], (1, orderings))
    if n_matches >= 2:
        swaps = np.ascontiguousarray(_splitmix_swaps(n_matches, seed, first, orderings).T)
        flat, column = orders.reshape(-1), np.arange(orderings)
        last = n_matches - 1
        for step in range(last):
            i, source = last - step, swaps[step] * orderings + column
            held = orders[i].copy()
            orders[i] = flat[source]
            flat[source] = held
    return np.ascontiguousarray(orders.T)


def _numpy_elo(matches: Matches, orderings: int, seed: int, k: float, first: int) -> np.ndarray:
    """Elo over orderings with numpy: one step per match position, every ordering of a chunk at once (ratings
    kept model-major, so each step gathers and scatters in flat arrays)."""
    n_models, parts = len(matches.models), []
    for low in range(0, orderings, _NUMPY_ROWS):
        rows = min(_NUMPY_ROWS, orderings - low)
        orders = _numpy_orders(len(matches), rows, seed, first + low).T  # (matches, rows)
        ratings = np.full(n_models * rows, INITIAL_RATING)  # ratings[model * rows + ordering]
        column = np.arange(rows)
        a_all = matches.model_a[orders] * rows + column
        b_all = matches.model_b[orders] * rows + column
        outcome_all = matches.outcome[orders]
        for t in range(len(matches)):
            a, b = a_all[t], b_all[t]
            expected_a = 1.0 / (1.0 + np.exp((ratings[b] - ratings[a]) * _LN10_OVER_400))
            delta = k * (outcome_all[t] - expected_a)
            ratings[a] += delta
            ratings[b] -= delta
        parts.append(ratings.reshape(n_models, rows).T)
    return np.concatenate(parts) if parts else np.empty((0, n_models))


def match_orders(n_matches: int, orderings: int, seed: int) -> np.ndarray:
    """The (orderings, n_matches) permutations that `elo_final_ratings` plays, for reference and tests."""
    if n_matches <= _NUMPY_MAX_MATCHES:
        return _numpy_orders(n_matches, orderings, seed)
    from arena.ratings.elo_compiled import _orders_kernel

    return _orders_kernel(n_matches, orderings, seed)


def expected_score(rating_a: float, rating_b: float) -> float:
    """Expected score of A under the Elo logistic curve (base 10, scale 400)."""
    return 1.0 / (1.0 + 10.0 ** ((rating_b - rating_a) / ELO_POINTS_PER_DECADE))


def elo_final_ratings(matches: Matches, orderings: int, seed: int, k: float = K_FACTOR, first: int = 0) -> np.ndarray:
    """Final ratings after orderings first .. first + orderings - 1 of the seeded sequence: (orderings, models)."""
    if len(matches) <= _NUMPY_MAX_MATCHES:
        return _numpy_elo(matches, orderings, seed, float(k), first)
    from arena.ratings.elo_compiled import _elo_kernel_from

    return _elo_kernel_from(
        matches.model_a, matches.model_b, matches.outcome, len(matches.models), orderings, seed, float(k), first
    )


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
# The decimals `mean_se` is reported with. The stopping rule compares the error as reported, so a run that stops
# short of the cap never shows a mean_se of 0.100 (an error of 0.0998 stopping the run while its row reads 0.100,
# and the cap warning, which reads the rows, saying the target was missed).
MEAN_SE_DECIMALS = 3


def paper_elo(
    matches: Matches,
    orderings: int | str = DEFAULT_ORDERINGS,
    seed: int = 0,
    k: float = K_FACTOR,
    target_error: float = AUTO_TARGET_ERROR,
    batch: int = 500,
    max_orderings: int = AUTO_MAX_ORDERINGS,
) -> EloResult:
    """`orderings="auto"`: add orderings in batches until every model's mean has a Monte Carlo standard
    error below `target_error` points as reported (MEAN_SE_DECIMALS), or `max_orderings` are played. With
    K = 32 a single ordering's final rating swings by tens of points whatever the number of matches, so 0.1 can
    take far more orderings than the paper's 10,000 (σ 45 needs about 200,000): `standard_error` and
    `orderings` say what was reached. Batch b plays orderings [b·batch, (b+1)·batch) of the same seeded
    sequence, so auto and a fixed count share their orders."""
    if orderings != "auto":
        finals = elo_final_ratings(matches, int(orderings), seed, k)
    else:
        parts: list[np.ndarray] = []  # (batch, models) final ratings of each batch of orderings
        total, squares = 0.0, 0.0
        while sum(len(p) for p in parts) < max_orderings:
            part = elo_final_ratings(matches, batch, seed, k, first=batch * len(parts))
            parts.append(part)
            total, squares = total + part.sum(axis=0), squares + (part**2).sum(axis=0)
            played = batch * len(parts)
            variance = (squares - total**2 / played) / (played - 1)
            if np.round(np.sqrt(np.maximum(variance, 0.0) / played), MEAN_SE_DECIMALS).max() < target_error:
                break
        finals = np.concatenate(parts)
    error = finals.std(axis=0, ddof=1) / np.sqrt(len(finals)) if len(finals) > 1 else np.full(finals.shape[1], np.nan)
    return EloResult(summarize(matches.models, finals), error, len(finals))
