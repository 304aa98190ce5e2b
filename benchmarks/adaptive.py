"""Adaptive vs random judging on the QLoRA paper's full Vicuna pairwise judgments (replayed, no judge calls).

For budgets of 10%, 20%, 30% and 50% of the pool and 20 seeds each: the mean Kendall tau between the
Bradley-Terry ranking from the budgeted run and the ranking from all judgments, for today's random sample of
judge calls and for the adaptive schedule (arena/judging/schedule.py, the code `arena tournament --schedule
adaptive` runs), and the budget adaptive needs to reach the tau random gets at 50%.

    python benchmarks/adaptive.py [--folder ../shared/published/qlora-vicuna-pairwise-full] [--seeds 20]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from arena.interop.qlora import read_qlora_eval
from arena.judging.schedule import adaptive_schedule, units_of
from arena.ratings.bradley_terry_fit import bradley_terry
from arena.ratings.matches import OUTCOME, build_matches

REPO = Path(__file__).resolve().parents[1]


def load_pool(folder: Path):
    judgments = [
        j for r in read_qlora_eval(folder, "gpt-4") for f in r.files for j in f.judgments if j.protocol == "pairwise"
    ]
    return {(j.question_id, j.model_a, j.model_b): j for j in judgments}


def ranking(models, judgments) -> np.ndarray:
    matches = build_matches(judgments)
    rating = dict(zip(matches.models, bradley_terry(matches, 0).rating))
    return np.array([rating.get(m, 1000.0) for m in models])


def random_run(pool, budget, seed):
    keys = sorted(pool)
    return [pool[k] for k in random.Random(seed).sample(keys, min(budget, len(keys)))]


def adaptive_run(pool, models, budget, seed, round_size=16):
    judged: dict = {}

    def state():
        outcomes = [(j.model_a, j.model_b, OUTCOME[j.verdict]) for j in judged.values() if j.verdict in OUTCOME]
        return set(judged), outcomes

    def judge_round(matchups):
        for key in matchups:
            judged[key] = pool[key]

    adaptive_schedule(models, units_of(list(pool)), budget, round_size, seed, state, judge_round)
    return list(judged.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--folder", type=Path, default=REPO.parent / "shared" / "published" / "qlora-vicuna-pairwise-full"
    )
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    pool = load_pool(args.folder)
    models = sorted({m for _, a, b in pool for m in (a, b)})
    truth = ranking(models, list(pool.values()))
    decided = sum(j.verdict in OUTCOME for j in pool.values())
    print(f"pool: {len(pool)} recorded judgments ({decided} decided) among {len(models)} models")

    def tau(judgments):
        return kendalltau(truth, ranking(models, judgments)).statistic

    print(f"{'budget':>8} {'calls':>6} {'random tau':>11} {'adaptive tau':>13}")
    curves = {}
    started = time.perf_counter()
    for share in (0.10, 0.15, 0.20, 0.25, 0.30, 0.50):
        budget = int(round(share * len(pool)))
        rand = np.mean([tau(random_run(pool, budget, s)) for s in range(args.seeds)])
        adapt = np.mean([tau(adaptive_run(pool, models, budget, s)) for s in range(args.seeds)])
        curves[share] = (rand, adapt)
        print(f"{share:>8.0%} {budget:>6} {rand:>11.3f} {adapt:>13.3f}")
    target = curves[0.50][0]
    reached = next((s for s in sorted(curves) if curves[s][1] >= target), None)
    print(
        f"random at 50% of the calls: tau {target:.3f}; adaptive reaches it at "
        f"{f'{reached:.0%}' if reached else 'no budget up to 50%'} of the calls "
        f"(goal: <= 25%) {'PASS' if reached and reached <= 0.25 else 'FAIL'}"
    )
    never_worse = all(adapt >= rand for rand, adapt in curves.values())
    print(
        f"adaptive mean tau >= random's at every budget: {'PASS' if never_worse else 'FAIL'} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
