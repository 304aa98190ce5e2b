"""How many judgments hold each place on a leaderboard: the fewest whose removal reverses the order of two
models, found by a first-order approximation and then proven by refitting without them.

Method (after Broderick, Giordano and Meager, "An automatic finite-sample robustness metric: when can
dropping a little data make a big difference?", 2020, and its use on Chatbot Arena by Huang, Broderick et
al., "Dropping just a handful of preferences can change top large language model rankings", 2025):

1. Fit Bradley-Terry (`fit_log_strengths`, the same fit `arena ratings --method bt` prints). At the fit
   θ̂ the gradient of the log-likelihood is zero; a match m (models a, b, score s for a) contributes
   g_m = (s − p_m)(e_a − e_b), p_m = σ(θ̂_a − θ̂_b), and the negative Hessian is the graph Laplacian Λ of
   the weights p(1 − p) over the games played. Removing m moves θ̂ by about −Λ⁺g_m (the influence
   function), so it lowers the gap θ_hi − θ_lo of a pair by about
       I_m = (s − p_m)(v_a − v_b),   v = Λ⁺(e_hi − e_lo)
   — one n×n solve per pair, then one vectorised pass over the matches.
2. Rank the matches with I_m > 0 by I_m, largest first (store order breaks ties), and take as estimate
   the shortest prefix whose summed influence covers the gap.
3. Refit without prefixes of that list, exactly. First the longest allowed prefix (`max_share` of the
   matches, the bound): a pair it does not flip is reported unverified. Otherwise the smallest flipping
   prefix is found with every smaller prefix refit and shown not to flip (the grow/shrink step, done
   exhaustively). Bradley-Terry refits are batched: the points table of every prefix size in a window is
   the table without the window's first prefix minus a running sum, and all of them go through one
   batched Newton solve started at θ̂; the window starts at twice the estimate and doubles until it
   holds a flip. The paper's Elo has no likelihood: its pairs are ranked by the Bradley-Terry influence
   (the same logistic model) and each prefix, from the smallest up, is verified by replaying the paper's
   Elo (same orderings and seed) without it, one replay of every ordering per prefix.

"Flips" means the lower model ends above the higher one by more than `FLIP_MARGIN` (0.01 point, the
precision leaderboards print), so a reported set always reverses the printed order. Unreadable verdicts
never enter the matches, so they are never in a removed set. The list is ranked once, at θ̂: the count is
the smallest prefix of that list, an upper bound on the true minimum over all subsets (which is a hard
combinatorial problem), and exact for two models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.ratings.bradley_terry_fit import _RIDGE, ELO_SCALE, fit_log_strengths
from arena.ratings.matches import Matches

FLIP_MARGIN = 0.01  # rating points by which the lower model must end above the higher one
_CELLS_PER_BATCH = 4_000_000  # prefixes × models² refit at once (about 32 MB per array)
_FIRST_WINDOW = 32  # prefixes refit in the first window at least


@dataclass(frozen=True)
class PairFragility:
    """How fragile the order of `higher` over `lower` (model indices) is. `removed`: indices into the
    Matches arrays, in ranked order (empty when no flip was found within `bound`); `estimate`: the
    first-order count (None when the positive influences never cover the gap); `refits`: prefixes refit."""

    higher: int
    lower: int
    gap: float  # rating points, all matches
    removed: np.ndarray
    verified: bool
    estimate: int | None
    bound: int
    refits: int

    @property
    def flip_count(self) -> int | None:
        return len(self.removed) if self.verified else None


def points_table(matches: Matches, keep: np.ndarray | None = None) -> np.ndarray:
    """(n, n): points[i, j] = points i took from j (a tie half each), over the kept matches."""
    n = len(matches.models)
    a, b, s = matches.model_a, matches.model_b, matches.outcome
    if keep is not None:
        a, b, s = a[keep], b[keep], s[keep]
    points = np.bincount(a * n + b, weights=s, minlength=n * n) + np.bincount(
        b * n + a, weights=1.0 - s, minlength=n * n
    )
    return points.reshape(n, n)


def bt_fit(matches: Matches) -> np.ndarray:
    """Bradley-Terry log-strengths (centred) of all matches: the fit `arena ratings --method bt` prints."""
    return fit_log_strengths(points_table(matches)[None])[0]


def gap_influence(matches: Matches, theta: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(matches, pairs): first-order drop of θ_hi − θ_lo, in log-odds, when each match alone is removed.
    `pairs`: (P, 2) rows of (hi, lo) model indices."""
    n = len(matches.models)
    a, b, s = matches.model_a, matches.model_b, matches.outcome
    played = np.bincount(a * n + b, minlength=n * n).reshape(n, n).astype(np.float64)
    played += played.T
    p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
    weight = played * p * (1.0 - p)
    laplacian = np.diag(weight.sum(axis=1)) - weight
    system = laplacian + np.full((n, n), 1.0 / n) + _RIDGE * np.eye(n)  # 11ᵀ/n fills the common-shift direction
    targets = np.zeros((n, len(pairs)))
    targets[pairs[:, 0], np.arange(len(pairs))] = 1.0
    targets[pairs[:, 1], np.arange(len(pairs))] -= 1.0
    v = np.linalg.solve(system, targets)
    residual = s - 1.0 / (1.0 + np.exp(theta[b] - theta[a]))
    return residual[:, None] * (v[a] - v[b])


def ranked_removals(influence: np.ndarray) -> np.ndarray:
    """Indices of the matches that narrow the gap (influence > 0), largest influence first, store order
    breaking ties."""
    helpful = np.flatnonzero(influence > 0)
    return helpful[np.argsort(-influence[helpful], kind="stable")]


def first_order_count(influence: np.ndarray, ranked: np.ndarray, gap_theta: float) -> int | None:
    """The shortest prefix of `ranked` whose summed influence covers the gap plus the flip margin."""
    covered = np.cumsum(influence[ranked])
    target = gap_theta + FLIP_MARGIN / ELO_SCALE
    position = int(np.searchsorted(covered, target, side="left"))
    return position + 1 if position < len(covered) else None


def _prefix_tables(matches: Matches, ranked: np.ndarray, first: int, last: int) -> np.ndarray:
    """(last − first + 1, n, n) points tables without the first k ranked matches, for k = first .. last: the
    table without ranked[:first], minus a running sum of the matches removed after it."""
    n = len(matches.models)
    count = last - first + 1
    steps = ranked[first:last]  # table t (prefix first + t) also lacks steps[:t]
    a, b, s = matches.model_a[steps], matches.model_b[steps], matches.outcome[steps]
    at = np.arange(1, count) * n * n
    delta = np.bincount(
        np.concatenate([at + a * n + b, at + b * n + a]), weights=np.concatenate([s, 1.0 - s]), minlength=count * n * n
    ).reshape(count, n, n)
    keep = np.ones(len(matches), dtype=bool)
    keep[ranked[:first]] = False
    return points_table(matches, keep)[None] - np.cumsum(delta, axis=0)


def _bt_flips(
    matches: Matches, ranked: np.ndarray, theta: np.ndarray, higher: int, lower: int, first: int, last: int
) -> np.ndarray:
    """For each prefix size first .. last: does the Bradley-Terry refit without it flip the pair?"""
    fitted = fit_log_strengths(_prefix_tables(matches, ranked, first, last), theta)
    return ELO_SCALE * (fitted[:, lower] - fitted[:, higher]) > FLIP_MARGIN


def bt_pair_fragility(
    matches: Matches, theta: np.ndarray, higher: int, lower: int, influence: np.ndarray, bound: int
) -> PairFragility:
    """The smallest prefix of the influence-ranked matches whose Bradley-Terry refit puts `lower` above
    `higher`, every smaller prefix refit and shown not to (module docstring, steps 2-3)."""
    gap = float(theta[higher] - theta[lower])
    ranked = ranked_removals(influence)
    estimate = first_order_count(influence, ranked, gap)
    limit = min(bound, len(ranked))
    if limit == 0 or not _bt_flips(matches, ranked, theta, higher, lower, limit, limit)[0]:
        return PairFragility(higher, lower, ELO_SCALE * gap, ranked[:0], False, estimate, bound, 1)
    per_batch = max(1, _CELLS_PER_BATCH // len(matches.models) ** 2)
    first, end, refits = 1, min(limit, max(2 * (estimate or limit), _FIRST_WINDOW)), 1
    while first <= limit:  # windows 1 .. end, end doubling up to the bound (whose prefix flips)
        last = min(end, first + per_batch - 1)
        flipped = np.flatnonzero(_bt_flips(matches, ranked, theta, higher, lower, first, last))
        refits += last - first + 1
        if len(flipped):
            size = first + int(flipped[0])
            return PairFragility(higher, lower, ELO_SCALE * gap, ranked[:size], True, estimate, bound, refits)
        first = last + 1
        if first > end:
            end = min(limit, 2 * end)
    # Only when the bound's prefix flips by a hair alone and its refit in a batch lands a hair the other way.
    return PairFragility(higher, lower, ELO_SCALE * gap, ranked[:0], False, estimate, bound, refits)


def bound_for(matches: Matches, max_share: float) -> int:
    """The most judgments a search may remove: `max_share` of the decided matches, at least one."""
    return max(1, int(np.floor(max_share * len(matches))))


def bt_neighbours(matches: Matches, max_share: float = 0.1, places: int | None = None) -> list[PairFragility]:
    """Every adjacent pair of the Bradley-Terry leaderboard from the top (the first `places` of them)."""
    theta = bt_fit(matches)
    order = np.argsort(-theta, kind="stable")
    pairs = np.stack([order[:-1], order[1:]], axis=1)[:places]
    if not len(pairs):
        return []
    influence = gap_influence(matches, theta, pairs)
    bound = bound_for(matches, max_share)
    return [
        bt_pair_fragility(matches, theta, int(hi), int(lo), influence[:, column], bound)
        for column, (hi, lo) in enumerate(pairs)
    ]


def fewest_to_change_top(
    matches: Matches, theta: np.ndarray, order: np.ndarray, search, known: dict, slack: float = 2.0
) -> PairFragility | None:
    """The fewest judgments that put another model above the top one: challengers are searched in the order
    of their first-order estimates, stopping once an estimate exceeds `slack` × the best verified count.
    `search(hi, lo, influence)` runs one pair's search; `known`: (hi, lo) -> results already found."""
    top, challengers = int(order[0]), [int(c) for c in order[1:]]
    if not challengers:
        return None
    pairs = np.array([[top, c] for c in challengers])
    influence = gap_influence(matches, theta, pairs)
    estimates = []
    for column, challenger in enumerate(challengers):
        ranked = ranked_removals(influence[:, column])
        count = first_order_count(influence[:, column], ranked, float(theta[top] - theta[challenger]))
        estimates.append((float("inf") if count is None else float(count), column, challenger))
    best: PairFragility | None = None
    for estimate, column, challenger in sorted(estimates):
        if best is not None and best.verified and estimate > slack * len(best.removed):
            break
        result = known.get((top, challenger)) or search(top, challenger, influence[:, column])
        if best is None or (result.verified and (not best.verified or len(result.removed) < len(best.removed))):
            best = result
    return best


def bt_top_model(matches: Matches, max_share: float = 0.1, known: dict | None = None) -> PairFragility | None:
    """The fewest judgments whose removal lets some other model overtake the Bradley-Terry leader."""
    theta = bt_fit(matches)
    bound = bound_for(matches, max_share)
    order = np.argsort(-theta, kind="stable")
    return fewest_to_change_top(
        matches, theta, order, lambda hi, lo, infl: bt_pair_fragility(matches, theta, hi, lo, infl, bound), known or {}
    )


# --- the paper's Elo -------------------------------------------------------------------------------------
def without(matches: Matches, rows: np.ndarray) -> Matches:
    """The matches minus `rows`, the rest in store order (as a rerun on a store without them reads them)."""
    keep = np.ones(len(matches), dtype=bool)
    keep[rows] = False
    return Matches(matches.models, matches.model_a[keep], matches.model_b[keep], matches.outcome[keep], matches.errors)


def elo_pair_fragility(
    matches: Matches, ratings: np.ndarray, higher: int, lower: int, influence: np.ndarray, bound: int, elo
) -> PairFragility:
    """As bt_pair_fragility, verified by `elo(matches) -> mean ratings` (the paper's Elo, same orderings
    and seed): the bound first, then every prefix from the smallest up, one Elo replay each, until one flips."""
    ranked = ranked_removals(influence)
    gap = float(ratings[higher] - ratings[lower])
    estimate = first_order_count(influence, ranked, gap / ELO_SCALE)
    limit = min(bound, len(ranked))

    def flips(size: int) -> bool:
        rated = elo(without(matches, ranked[:size]))
        return bool(rated[lower] - rated[higher] > FLIP_MARGIN)

    if limit == 0 or not flips(limit):
        return PairFragility(higher, lower, gap, ranked[:0], False, estimate, bound, 1)
    size = next(size for size in range(1, limit + 1) if size == limit or flips(size))
    return PairFragility(higher, lower, gap, ranked[:size], True, estimate, bound, size + (size < limit))


def elo_neighbours(
    matches: Matches, elo, max_share: float = 0.1, places: int | None = None, top_model: bool = False
) -> tuple[list[PairFragility], PairFragility | None]:
    """Adjacent pairs of the paper's Elo leaderboard (`elo(matches)` -> mean ratings), and with `top_model`
    the fewest judgments that change its leader."""
    ratings = elo(matches)
    theta = bt_fit(matches)
    order = np.argsort(-ratings, kind="stable")
    bound = bound_for(matches, max_share)
    pairs = np.stack([order[:-1], order[1:]], axis=1)[:places]

    def search(hi: int, lo: int, infl: np.ndarray) -> PairFragility:
        return elo_pair_fragility(matches, ratings, hi, lo, infl, bound, elo)

    influence = gap_influence(matches, theta, pairs) if len(pairs) else np.zeros((len(matches), 0))
    rows = [search(int(hi), int(lo), influence[:, column]) for column, (hi, lo) in enumerate(pairs)]
    top = None
    if top_model:
        top = fewest_to_change_top(matches, theta, order, search, {(r.higher, r.lower): r for r in rows})
    return rows, top
