"""The `--scale` and `--style` modes of benchmarks/ratings.py (see its docstring)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


# --- a harness doing what FastChat's rating_systems does, in our own code ---------------------------
def distinct_outcomes(first: np.ndarray, second: np.ndarray, outcome2: np.ndarray):
    """Unique (first, second, 2 × outcome) rows and their counts."""
    table = np.stack([first, second, outcome2], axis=1)
    rows, counts = np.unique(table, axis=0, return_counts=True)
    return rows[:, :2], rows[:, 2] / 2.0, counts.astype(np.float64)


def _negative_log_likelihood(theta, pairs, outcome, weights, alpha):
    logits = alpha * (theta[pairs[:, 0]] - theta[pairs[:, 1]])
    p = 1.0 / (1.0 + np.exp(-logits))
    loss = -(weights * (outcome * np.log(p) + (1.0 - outcome) * np.log(1.0 - p))).sum()
    per_row = -alpha * weights * (outcome - p)
    grad = np.bincount(pairs[:, 0], per_row, len(theta)) - np.bincount(pairs[:, 1], per_row, len(theta))
    return loss, grad


def lbfgs_fit(pairs, outcome, weights, n_models, alpha=np.log(10.0), tol=1e-6):
    from scipy.optimize import minimize  # here: the --style-threshold runs import this file, and time imports

    result = minimize(
        _negative_log_likelihood,
        np.zeros(n_models),
        args=(pairs, outcome, weights, alpha),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100, "gtol": tol},
    )
    return result.x


def harness_ratings(first, second, outcome2, n_models, rounds, cores):
    """Point ratings and `rounds` bootstrap ratings on the Elo scale (400 per factor 10, mean 1000)."""
    pairs, outcome, counts = distinct_outcomes(first, second, outcome2)
    point = lbfgs_fit(pairs, outcome, counts, n_models)
    draws = np.random.default_rng(0).multinomial(int(counts.sum()), counts / counts.sum(), size=rounds)
    weights = draws.astype(np.float64) / counts.sum()
    with ProcessPoolExecutor(cores) as pool:
        boot = np.array(list(pool.map(partial(lbfgs_fit, pairs, outcome, n_models=n_models), weights, chunksize=8)))

    def scale(theta):
        return 400.0 * (theta - theta.mean(axis=-1, keepdims=True)) + 1000.0

    return scale(point), scale(boot)


def check_harness_on_the_paper() -> None:
    """The harness and arena must give the same maximum-likelihood ratings on the paper's published Vicuna
    judgments (FastChat's compute_bt is an MLE fit like arena's)."""
    from arena.interop.qlora import read_qlora_eval
    from arena.ratings.bradley_terry_fit import bradley_terry
    from arena.ratings.matches import build_matches

    folder = SHARED / "published" / "qlora-vicuna-pairwise-full"
    if not folder.is_dir():
        print("harness check skipped: ../shared/published/qlora-vicuna-pairwise-full not found")
        return
    judgments = [j for r in read_qlora_eval(folder, "gpt-4") for f in r.files for j in f.judgments]
    matches = build_matches(judgments)
    ours = bradley_terry(matches, 0).rating
    theirs, _ = harness_ratings(
        matches.model_a, matches.model_b, np.rint(matches.outcome * 2).astype(np.int64), len(matches.models), 2, 1
    )
    gap = np.abs(ours - theirs).max()
    print(
        f"harness check on the paper's {len(matches)} Vicuna matches: largest rating difference to arena "
        f"{gap:.4f} points ({'PASS' if gap < 0.01 else 'FAIL'}, target < 0.01)"
    )


# --- synthetic battles as a FastChat judgment file ------------------------------------------------
def synthetic_battles(battles: int, models: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.0, models)
    first = rng.integers(0, models, battles)
    second = (first + rng.integers(1, models, battles)) % models
    p_first = 1.0 / (1.0 + np.exp(strength[second] - strength[first]))
    tie = rng.random(battles) < 0.10
    outcome2 = np.where(tie, 1, np.where(rng.random(battles) < p_first, 2, 0))
    return first, second, outcome2, strength


def write_fastchat_file(path: Path, first, second, outcome2) -> None:
    """Pairs of battles become one row with g1 (model_1 first) and g2 (model_2 first)."""
    winner = {2: "model_1", 0: "model_2", 1: "tie"}
    flip = {2: "model_2", 0: "model_1", 1: "tie"}  # g2 shows model_2 first: its A is model_2
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as out:
        for i in range(0, len(first) - 1, 2):
            # battle i: model_1 = first[i] shown first; battle i+1 reuses the pair in the other order
            out.write(
                json.dumps(
                    {
                        "question_id": i // 2,
                        "model_1": f"m{first[i]:03d}",
                        "model_2": f"m{second[i]:03d}",
                        "g1_winner": winner[int(outcome2[i])],
                        "g2_winner": flip[int(outcome2[i + 1])],
                        "judge": ["gpt-4", "pair-v2"],
                        "turn": 1,
                    }
                )
                + "\n"
            )


def as_stored_battles(first, second, outcome2):
    """The battles exactly as the FastChat file stores them (battle i+1 is the same pair, other order)."""
    f, s, o = first.copy(), second.copy(), outcome2.copy()
    f[1::2], s[1::2] = second[0::2][: len(f[1::2])], first[0::2][: len(f[1::2])]
    return f[: len(f) // 2 * 2], s[: len(s) // 2 * 2], o[: len(o) // 2 * 2]


def timed_command(args: list[str], env: dict) -> tuple[float, float, str]:
    """(seconds, peak resident MB, stdout) of a whole `arena` command in its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "arena", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO
    )
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    peak = _peak_mb(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"arena {' '.join(args)} failed: {err.decode()[-2000:]}")
    return seconds, peak, out.decode()


def _peak_mb(proc) -> float:
    import resource

    # The child is reaped by communicate(); its peak is in RUSAGE_CHILDREN (the largest child so far), so
    # every measured command runs in a fresh benchmark subprocess of its own (see run_scale).
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _measure(args: list[str], env: dict) -> tuple[float, float, str]:
    """Run timed_command in a fresh Python so RUSAGE_CHILDREN holds this command alone."""
    code = (
        "import json,sys;sys.path.insert(0,%r);from ratings_scale import timed_command;"
        "print(json.dumps(timed_command(%r, dict(__import__('os').environ))))"
    ) % (str(Path(__file__).parent), args)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    seconds, peak, stdout = json.loads(out.strip().splitlines()[-1])
    return seconds, peak, stdout


def run_scale(sizes: str, bootstrap: int) -> int:
    check_harness_on_the_paper()
    cores = os.cpu_count() or 1
    for size in sizes.split(","):
        battles, models = (int(x) for x in size.split(":"))
        first, second, outcome2, _ = synthetic_battles(battles, models)
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            write_fastchat_file(root / "fc" / "model_judgment" / "gpt-4_pair.jsonl", first, second, outcome2)
            env = {**os.environ, "ARENA_HOME": str(root / "home")}
            results = str(root / "results")
            import_s, import_mb, _ = _measure(
                ["import", "fastchat", str(root / "fc"), "--benchmark", "scale", "--results", results], env
            )
            cold_s, cold_mb, _ = _measure(
                [
                    "ratings",
                    "--results",
                    results,
                    "--benchmark",
                    "scale",
                    "--method",
                    "bt",
                    "--bootstrap",
                    str(bootstrap),
                    "--format",
                    "json",
                ],
                env,
            )
            warm_s, warm_mb, out = _measure(
                [
                    "ratings",
                    "--results",
                    results,
                    "--benchmark",
                    "scale",
                    "--method",
                    "bt",
                    "--bootstrap",
                    str(bootstrap),
                    "--format",
                    "json",
                ],
                env,
            )
            read_s = _time_reading(results)
            rows = {r["model"]: r for r in json.loads(out)}
        f, s, o = as_stored_battles(first, second, outcome2)
        start = time.perf_counter()
        theirs, theirs_boot = harness_ratings(f, s, o, models, bootstrap, cores)
        harness_s = time.perf_counter() - start
        reference = _converged_reference(f, s, o, models)
        ours = np.array([rows[f"m{i:03d}"]["rating"] for i in range(models)])
        gap = np.abs(ours - reference).max()
        low = np.array([rows[f"m{i:03d}"]["ci_low"] for i in range(models)])
        high = np.array([rows[f"m{i:03d}"]["ci_high"] for i in range(models)])
        their_low, their_high = np.percentile(theirs_boot, [2.5, 97.5], axis=0)
        width_ratio = np.median((high - low) / (their_high - their_low))
        print(f"\n{len(f):,} battles, {models} models:")
        print(f"  import fastchat: {import_s:.1f} s, peak {import_mb:.0f} MB")
        print(f"  reading the stored judgments into rating arrays (warm cache): {read_s:.2f} s (target <= 3 s)")
        print(
            f"  arena ratings --method bt --bootstrap {bootstrap}: first run (builds the cache) {cold_s:.1f} s, "
            f"then {warm_s:.1f} s; peak {max(cold_mb, warm_mb):.0f} MB"
        )
        print(
            f"  FastChat-style harness (L-BFGS per round, {cores} processes): {harness_s:.1f} s "
            f"-> arena is {harness_s / warm_s:.1f}x faster (target >= 3x) {'PASS' if harness_s / warm_s >= 3 else 'FAIL'}"
        )
        print(
            f"  ratings vs a converged reference: largest gap {gap:.4f} points ({'PASS' if gap < 0.01 else 'FAIL'}); "
            f"harness point vs reference {np.abs(theirs - reference).max():.4f}; median interval width "
            f"arena/harness {width_ratio:.3f}"
        )
    return 0


def _converged_reference(first, second, outcome2, models) -> np.ndarray:
    pairs, outcome, counts = distinct_outcomes(first, second, outcome2)
    theta = lbfgs_fit(pairs, outcome, counts, models, tol=1e-12)
    return 400.0 * (theta - theta.mean()) + 1000.0


def _time_reading(results: str) -> float:
    from arena.ratings.matches import matches_from_columns
    from arena.store import ResultsStore

    start = time.perf_counter()
    matches_from_columns(ResultsStore(results).judgment_columns("scale"), "pairwise")
    return time.perf_counter() - start


# --- style control ------------------------------------------------------------------------------------
def _identity(x):
    return x


def run_style(bootstrap: int) -> int:
    from arena.ratings.bradley_terry_fit import bradley_terry
    from arena.ratings.matches import Matches
    from arena.ratings.style.fit import controlled_bt

    rng = np.random.default_rng(0)
    n, m, k = 20, 50_000, 4
    strength = rng.normal(0, 1, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    features = rng.normal(0, 0.3, (m, k))
    p = 1 / (1 + np.exp(-(strength[a] - strength[b] + features @ np.array([0.5, 0.2, 0.1, 0.0]))))
    outcome = np.where(rng.random(m) < 0.1, 0.5, (rng.random(m) < p).astype(float))
    matches = Matches(tuple(f"m{i}" for i in range(n)), a, b, outcome, {})
    names = [f"f{i}" for i in range(k)]

    def seconds(fit) -> float:
        start = time.perf_counter()
        fit()
        return time.perf_counter() - start

    def controlled():
        return controlled_bt(matches, features, names, bootstrap, 0)

    def plain():
        return bradley_terry(matches, bootstrap, 0)

    import numba

    trivial = numba.njit(cache=True)(_identity)
    numba_start = seconds(lambda: trivial(1))
    first = seconds(controlled)  # loads the fit's compiled code from numba's cache (compiles it on a first run)
    styled_runs, plain_runs = [], []
    for _ in range(5):  # interleaved, so a busy moment on the machine does not fall on one side only
        styled_runs.append(seconds(controlled))
        plain_runs.append(seconds(plain))
    styled, uncontrolled = statistics.median(styled_runs), statistics.median(plain_runs)
    print(
        f"style-controlled BT ({k} features, {bootstrap} resamples, {m:,} matches, {n} models): {styled:.2f} s "
        f"(target <= 5 s) {'PASS' if styled <= 5 else 'FAIL'}; uncontrolled {uncontrolled:.2f} s -> ratio "
        f"{styled / uncontrolled:.1f}x (target <= 3x) {'PASS' if styled <= 3 * uncontrolled else 'FAIL'}"
    )
    print(
        f"  medians of 5, interleaved. Once per process before that: numba's own start {numba_start:.2f} s "
        f"(a trivial function), then the fit's first call {first:.2f} s (loading its compiled code; compiling it "
        f"after an install or a change, about 13 s once): "
        f"{(numba_start + first) / uncontrolled:.1f}x the uncontrolled fit for a process's first controlled fit"
    )
    return 0


# --- style control: where the numpy engine hands over to the compiled one ----------------------------------
_STYLE_ENGINE_RUN = """
import sys, time
import numpy as np
sys.path.insert(0, {benchmarks!r})
from ratings_scale import style_data
data, seeds = style_data({models}, {matches}, {bootstrap})
start = time.perf_counter()
from arena.ratings.style import {engine} as engine
point = engine.fit_with_covariates(data).params
engine.bootstrap_fits(data, point, seeds)
first = time.perf_counter() - start
start = time.perf_counter()
point = engine.fit_with_covariates(data).params
engine.bootstrap_fits(data, point, seeds)
print(first, time.perf_counter() - start)
"""


def style_data(models: int, matches: int, bootstrap: int):
    """Synthetic style-control data (4 features) laid out for the engines, and the resamples' seeds."""
    from arena.ratings.style.batched import covariate_matches

    rng = np.random.default_rng(0)
    strength = rng.normal(0, 1, models)
    a = rng.integers(0, models, matches)
    b = (a + rng.integers(1, models, matches)) % models
    features = rng.normal(0, 0.3, (matches, 4))
    p = 1 / (1 + np.exp(-(strength[a] - strength[b] + features @ np.array([0.5, 0.2, 0.1, 0.0]))))
    outcome = np.where(rng.random(matches) < 0.1, 0.5, (rng.random(matches) < p).astype(float))
    seeds = np.random.default_rng([0, 2]).bit_generator.random_raw(bootstrap)
    return covariate_matches(a, b, outcome, features, models), seeds


def run_style_threshold(bootstrap: int, repeats: int = 3) -> int:
    """Each engine in a fresh process (so the compiled one pays numba's start and loads its kernels, as an
    `arena` command does), fitting the point and `bootstrap` resamples; medians of `repeats` interleaved runs."""
    from arena.ratings.style.fit import _NUMPY_MAX_CELLS

    def run(engine: str, models: int, matches: int) -> tuple[float, float]:
        code = _STYLE_ENGINE_RUN.format(
            benchmarks=str(Path(__file__).resolve().parent),
            models=models,
            matches=matches,
            bootstrap=bootstrap,
            engine=engine,
        )
        first, again = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
        return float(first), float(again)

    print(f"style-controlled BT, 4 features, {bootstrap} resamples; seconds in a fresh process (then warm)")
    print(f"{'models':>6s} {'matches':>8s} {'cells':>11s} {'numpy':>7s} {'compiled':>9s} {'(warm)':>7s}  faster")
    for models, matches in [
        (3, 100),
        (8, 300),
        (8, 1_000),
        (8, 3_000),
        (8, 5_000),
        (8, 10_000),
        (20, 3_000),
        (20, 10_000),
    ]:
        times: dict[str, list[tuple[float, float]]] = {"batched": [], "kernels": []}
        for _ in range(repeats):
            for engine in times:
                times[engine].append(run(engine, models, matches))
        numpy_s = statistics.median(t[0] for t in times["batched"])
        compiled_s = statistics.median(t[0] for t in times["kernels"])
        warm_s = statistics.median(t[1] for t in times["kernels"])
        cells = matches * (bootstrap + 1)
        print(
            f"{models:6d} {matches:8,d} {cells:11,d} {numpy_s:7.2f} {compiled_s:9.2f} {warm_s:7.2f}  "
            f"{'numpy' if numpy_s < compiled_s else 'compiled'}"
            f"{'  (numpy taken)' if cells <= _NUMPY_MAX_CELLS else ''}"
        )
    return 0
