"""The one random generator behind arena's seeded resampling: SplitMix64 (Steele, Lea & Flood 2014, "Fast
splittable pseudorandom number generators", OOPSLA; the 64-bit mixer is Stafford's "Mix13" variant of
MurmurHash3's finaliser).

SplitMix64's state is a counter: the i-th output of a stream started at state s is mix(s + i·γ), with γ the
odd "golden gamma" 0x9E3779B97F4A7C15. So any draw can be computed without the ones before it: a numpy path
computes a whole (streams × draws) table in a few array operations, and a compiled loop computes its draws
in a loop the compiler vectorises. Who uses it:

- the paper's Elo (`arena.ratings.paper_elo`, numpy; `arena.ratings.elo_compiled`, numba): one stream per
  (seed, ordering), each draw scaled to a Fisher-Yates swap with Lemire's multiply-shift (`below`);
- the style-controlled Bradley-Terry bootstrap (`arena.ratings.style.batched`, numpy;
  `arena.ratings.style.kernels`, numba): one stream per resample, each draw a uniform match index (`unit`).

Every function here is written in the subset of numpy that numba compiles, on np.uint64 operands only (numba
types int64 · uint64 as float64), so it works on numpy uint64 arrays as is, vectorised and broadcasting, and on
scalars once wrapped by `numba.njit` inside the compiled modules: the numpy and compiled paths draw the very
same numbers, bit for bit. uint64 arithmetic wraps, as the generator wants; numpy warns of that only for
scalar operands, so numpy callers compute under `np.errstate(over="ignore")`.

numba's cache knows only the file a compiled function is defined in: after a change here, clear the cached
kernels (`__pycache__/*.nbi`, `*.nbc` beside elo_compiled.py and style/kernels.py) so they are compiled anew.
"""

from __future__ import annotations

import numpy as np

GOLDEN_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment: 2⁶⁴ / φ, rounded to odd
SEED_SPREAD = 0xD1B54A32D192ED03  # a second odd constant (Steele & Vigna's LCG multiplier) to spread seeds


def splitmix64(start, counter):
    """Output number `counter` (1, 2, ...) of the SplitMix64 stream that starts at state `start`: uint64."""
    z = start + counter * np.uint64(GOLDEN_GAMMA)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_start(seed, stream):
    """The starting state of stream `stream` (an ordering, say) of `seed`: distinct seeds land far apart."""
    return seed * np.uint64(SEED_SPREAD) + stream


def below(z, bound):
    """A draw `z` scaled to an integer in [0, bound) by Lemire's multiply-shift on its top 32 bits (no division;
    bias under bound / 2³², nothing for the few thousand matches a shuffle sees): uint64."""
    return ((z >> np.uint64(32)) * bound) >> np.uint64(32)


def unit(z):
    """A draw `z` as a float uniform in [0, 1): its top 53 bits times 2⁻⁵³ (exact: a power of two)."""
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)
