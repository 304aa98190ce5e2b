"""Speed of `arena ratings --method robustness` (arena/ratings/robustness.py) against issue 24's targets.

1. The QLoRA paper's published Vicuna judgments (../shared/published/qlora-vicuna-pairwise-full: 4,467 decided
   matches among 8 models), all 7 neighbour pairs of the Bradley-Terry leaderboard plus the fewest judgments
   that change the top model: target <= 5 s. Timed twice: the search on the matches in memory, and the whole
   `arena ratings --method robustness --format json` command in a fresh process (start-up and reading the
   store included).
2. 200,000 synthetic matches among 50 models (strengths spread like a public leaderboard's, 15% ties), the
   top 5 neighbour pairs: target <= 60 s (and, once, all 49 pairs with the top model, for scale).

Each figure is the median of --repeats runs; every verified pair's flip was refit by the search itself.

    python benchmarks/robustness.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from arena.ratings import robustness
from arena.ratings.matches import Matches, matches_from_columns
from arena.store import ResultsStore

REPO = Path(__file__).resolve().parents[1]
VICUNA = REPO.parent / "shared" / "published" / "qlora-vicuna-pairwise-full"


def timed(function, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def describe(matches: Matches, results) -> str:
    return "; ".join(
        f"{matches.models[r.higher]}>{matches.models[r.lower]}: {r.flip_count if r.verified else '>' + str(r.bound)}"
        for r in results
    )


def vicuna(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results"
        subprocess.run(
            [sys.executable, "-m", "arena", "import", "qlora", str(VICUNA), "--results", str(results)],
            check=True,
            capture_output=True,
        )
        matches = matches_from_columns(ResultsStore(results).judgment_columns("vicuna80"), "pairwise")

        def search():
            pairs = robustness.bt_neighbours(matches)
            top = robustness.bt_top_model(matches, known={(r.higher, r.lower): r for r in pairs})
            return pairs, top

        seconds, (pairs, top) = timed(search, repeats)
        command = [
            sys.executable,
            "-m",
            "arena",
            "ratings",
            "--benchmark",
            "vicuna80",
            "--results",
            str(results),
            "--method",
            "robustness",
            "--format",
            "json",
        ]
        whole, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True), repeats)
    print(
        f"Vicuna (paper): {len(matches):,} matches, {len(matches.models)} models, {len(pairs)} neighbour pairs "
        f"+ top model"
    )
    print(f"  search {seconds:.3f} s; whole `arena ratings --method robustness` command {whole:.2f} s (target <= 5 s)")
    print(f"  counts: {describe(matches, pairs)}")
    print(f"  top model: {top.flip_count if top.verified else 'none within ' + str(top.bound)}")


def synthetic(matches_count: int, models: int, seed: int = 0) -> Matches:
    rng = np.random.default_rng(seed)
    strength = np.sort(rng.normal(0.0, 0.6, models))[::-1]  # log-odds; sd 0.6 is about 100 Elo points
    a = rng.integers(0, models, matches_count)
    b = (a + rng.integers(1, models, matches_count)) % models
    p = 1.0 / (1.0 + np.exp(strength[b] - strength[a]))
    outcome = (rng.random(matches_count) < p).astype(np.float64)
    outcome[rng.random(matches_count) < 0.15] = 0.5
    return Matches(tuple(f"model-{i:02d}" for i in range(models)), a, b, outcome, {})


def large(repeats: int) -> None:
    matches = synthetic(200_000, 50)
    seconds, pairs = timed(lambda: robustness.bt_neighbours(matches, places=5), repeats)
    refits = sum(r.refits for r in pairs)
    print(f"Synthetic: {len(matches):,} matches, {len(matches.models)} models, top 5 neighbour pairs")
    print(f"  search {seconds:.2f} s, {refits:,} prefixes refit (target <= 60 s)")
    print(f"  counts: {describe(matches, pairs)}")
    start = time.perf_counter()
    every = robustness.bt_neighbours(matches)
    top = robustness.bt_top_model(matches, known={(r.higher, r.lower): r for r in every})
    print(
        f"  (beyond the target: all {len(every)} pairs and the top model, once: {time.perf_counter() - start:.2f} s; "
        f"{sum(r.verified for r in every)} pairs flip within 10%, top model {top.flip_count})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
        f"{os.cpu_count()} CPUs"
    )
    if VICUNA.exists():
        vicuna(args.repeats)
    else:
        print(f"Vicuna: skipped, {VICUNA} not found")
    large(args.repeats)


if __name__ == "__main__":
    main()
