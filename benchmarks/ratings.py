"""Speed of the rating engine against the issues' targets, with baselines measured in the same run.

Default: 8 synthetic models, every ordered pair judged on 80 questions (4,480 matches, the shape of the QLoRA
paper's Vicuna tournament), verdict mix like the paper's published GPT-4 sample.

`--scale`: public-leaderboard sizes (200,000 battles among 50 models, 1,000,000 among 100, and 400,000 among
500), written as a FastChat llm_judge judgment file, imported and rated by the whole `arena` commands, and
compared with a harness doing what FastChat's current `rating_systems.compute_bt` + `compute_bootstrap_bt`
do (distinct outcomes with counts, multinomial bootstrap of the counts, L-BFGS per round, a process pool over
the cores), written here in our own code and timed in the same run. The harness is first checked against
arena on the QLoRA paper's published Vicuna judgments (FastChat's published behaviour: the same maximum-
likelihood ratings).

`--style`: style-controlled Bradley-Terry (4 features) with 1,000 resamples on 50,000 matches among 20
models, against the uncontrolled fit on the same data.

`--style-threshold`: the numpy and the compiled style-control engines, each in a fresh process as a command
would run it, from a hundred matches to ten thousand: where the numpy engine stops being the faster (the
threshold `arena.ratings.style.fit._NUMPY_MAX_CELLS`).

    python benchmarks/ratings.py [--orderings 10000] [--bootstrap 1000] [--python-orderings 2000] [--repeats 3]
    python benchmarks/ratings.py --scale [--sizes 200000:50,1000000:100,400000:500]
    python benchmarks/ratings.py --style
    python benchmarks/ratings.py --style-threshold
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from arena.ratings.bradley_terry_fit import bradley_terry
from arena.ratings.matches import build_matches
from arena.ratings.paper_elo import elo_final_ratings, elo_reference, match_orders
from arena.store import Judgment, ResultsStore


def synthetic_judgments(models: int = 8, questions: int = 80, seed: int = 0) -> list[Judgment]:
    rng = np.random.default_rng(seed)
    strength = np.linspace(-1, 1, models)
    judgments = []
    for a, b in itertools.permutations(range(models), 2):
        for q in range(questions):
            u = rng.random()
            p_first = 1 / (1 + np.exp(strength[b] - strength[a] - 0.4))  # a little first-position bias
            verdict = "error" if u < 0.02 else "tie" if u < 0.18 else ("A" if rng.random() < p_first else "B")
            judgments.append(Judgment("bench", str(q), f"model-{a}", f"model-{b}", "synthetic", "pairwise", verdict))
    return judgments


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orderings", type=int, default=10_000)
    parser.add_argument("--bootstrap", type=int, default=1_000)
    parser.add_argument(
        "--python-orderings",
        type=int,
        default=2_000,
        help="orderings for the plain-Python baseline (same orders as the fast path)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, interleaved (medians)")
    parser.add_argument("--scale", action="store_true", help="public-leaderboard sizes against the FastChat harness")
    parser.add_argument("--sizes", default="200000:50,1000000:100,400000:500", help="battles:models,...")
    parser.add_argument("--style", action="store_true", help="style-controlled Bradley-Terry timing")
    parser.add_argument(
        "--style-threshold", action="store_true", help="numpy against compiled style-control engine, by size"
    )
    args = parser.parse_args()
    if args.scale:
        from ratings_scale import run_scale

        return run_scale(args.sizes, args.bootstrap)
    if args.style_threshold:
        from ratings_scale import run_style_threshold

        return run_style_threshold(args.bootstrap, args.repeats)
    if args.style:
        from ratings_scale import run_style

        return run_style(args.bootstrap)

    judgments = synthetic_judgments()
    matches = build_matches(judgments)
    print(f"data: {len(matches.models)} models, {len(matches)} decided matches ({len(judgments)} judgments)")

    _, compile_s = timed(elo_final_ratings, matches, 4, 0)
    print(f"elo kernel load/compile (first call in this process): {compile_s:.2f} s")
    orders = match_orders(len(matches), args.python_orderings, 0)
    fast_runs, slow_runs = [], []
    for _ in range(args.repeats):  # interleaved, so a busy moment on the machine does not fall on one side only
        fast, fast_s = timed(elo_final_ratings, matches, args.orderings, 0)
        slow, slow_s = timed(elo_reference, matches, orders)
        fast_runs.append(fast_s)
        slow_runs.append(slow_s)
    assert np.allclose(fast[: args.python_orderings], slow), "fast and reference Elo disagree"
    fast_s, slow_s = statistics.median(fast_runs), statistics.median(slow_runs)
    speedup = slow_s / args.python_orderings * args.orderings / fast_s
    print(f"elo {args.orderings} orderings: {fast_s:.3f} s (target <= 2 s) {'PASS' if fast_s <= 2 else 'FAIL'}")
    print(
        f"elo plain Python loop, {args.python_orderings} orderings: {slow_s:.2f} s "
        f"-> speed-up {speedup:.1f}x (target >= 30x) {'PASS' if speedup >= 30 else 'FAIL'} "
        f"(medians of {args.repeats} interleaved runs; single runs {min(fast_runs):.3f}-{max(fast_runs):.3f} s "
        f"and {min(slow_runs):.2f}-{max(slow_runs):.2f} s)"
    )

    _, bt_s = timed(bradley_terry, matches, args.bootstrap, 0)
    print(
        f"bradley-terry + {args.bootstrap} bootstrap resamples: {bt_s:.3f} s (target <= 3 s) "
        f"{'PASS' if bt_s <= 3 else 'FAIL'}"
    )

    with tempfile.TemporaryDirectory() as folder:
        ResultsStore(folder).save_judgments(judgments)
        command = [
            sys.executable,
            "-m",
            "arena",
            "ratings",
            "--results",
            folder,
            "--benchmark",
            "bench",
            "--method",
            "elo",
            "--orderings",
            str(args.orderings),
            "--format",
            "json",
        ]
        for attempt in ("first", "second"):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
            whole = time.perf_counter() - start
            print(
                f"whole `arena ratings --method elo` command ({attempt} run): {whole:.2f} s (target <= 4 s) "
                f"{'PASS' if whole <= 4 else 'FAIL'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
