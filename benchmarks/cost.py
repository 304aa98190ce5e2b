"""What the QLoRA paper's OpenAssistant tournament costs to judge with GPT-4: naive, with `--batch`, and with
`--schedule adaptive --batch` stopped at the ranking accuracy random judging reaches with half the calls.

The tournament: the paper's 8 models, the 953 OA prompts, every pair in both answer orders (53,368 calls),
GPT-4 at list price (arena's price table), judged with the paper's OA three-class prompt. Token counts
(four characters a token, as arena estimates) come from the published files in ../shared: each call's prompt
is the paper's OA template rendered with the real OA dialogue and two answers of the models' published
lengths (ChatGPT's OA answers in the shared sample; every other model's length relative to ChatGPT's from
the 8 models' published Vicuna answers), and the reply is as long as the paper's published GPT-4 OA reviews.

Ranking accuracy is replayed, as benchmarks/adaptive.py does (its machinery, imported), on the paper's full
Vicuna GPT-4 judgments: Kendall tau of the budgeted Bradley-Terry ranking to the full one, mean of 20 seeds.
The adaptive schedule runs with the round size `--batch` uses (a tenth of the budget: each round one batch),
and its cost is priced pair by pair: the share of each model pair's calls it spent on Vicuna, times that
pair's OA calls and their tokens.

    python benchmarks/cost.py [--seeds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adaptive import adaptive_run, load_pool, random_run, ranking  # noqa: E402  (benchmarks/ is no package)

from arena.interop.qlora import read_generations, read_qlora_eval  # noqa: E402
from arena.judging.batch import DEFAULT_DISCOUNT, batch_round_size  # noqa: E402
from arena.judging.budget import CHARS_PER_TOKEN, PRICES, Price  # noqa: E402
from arena.judging.runner import question_text  # noqa: E402
from arena.judging.templates import load_fastchat_templates  # noqa: E402
from arena.prompts import load_prompt_set  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARES = (0.10, 0.125, 0.15, 0.175, 0.20, 0.225, 0.25, 0.30, 0.35, 0.40, 0.50)


def mean_length(answers, model: str) -> float:
    return statistics.fmean(len(a.text) for a in answers if a.model == model)


def oa_pair_costs(models: list[str], price: Price) -> tuple[dict[tuple[str, str], float], int, float, float]:
    """USD to judge each ordered pair on all 953 OA prompts, the calls per pair, and the mean prompt and reply
    tokens of a call."""
    vicuna = read_generations([SHARED / "published" / "qlora-vicuna-pairwise-full" / "generations"], "vicuna80").answers
    chatgpt_oa = read_generations([SHARED / "published" / "qlora-oa-pairwise-sample" / "generations"], "oa953").answers
    oa_scale = mean_length(chatgpt_oa, "gpt-3.5") / mean_length(vicuna, "gpt-3.5")
    answer_chars = {m: mean_length(vicuna, m) * oa_scale for m in models}
    reviews = [
        j.raw
        for r in read_qlora_eval(SHARED / "published" / "qlora-oa-pairwise-sample", "gpt-4")
        for f in r.files
        for j in f.judgments
    ]
    reply_tokens = statistics.fmean(len(text) for text in reviews) / CHARS_PER_TOKEN
    folder = SHARED / "judge-templates" / "qlora-paper"
    template = load_fastchat_templates(
        folder / "oa_prompt_threeclass.jsonl", folder / "oa_reviewer.jsonl"
    ).for_category(None)
    prompts = load_prompt_set(str(SHARED / "benchmarks" / "oa953" / "questions.jsonl")).prompts
    frame_chars = np.array([sum(map(len, template.render(question_text(p), "", ""))) for p in prompts], dtype=float)
    costs, prompt_tokens = {}, []
    for a in models:
        for b in models:
            if a != b:
                tokens = (frame_chars + answer_chars[a] + answer_chars[b]) / CHARS_PER_TOKEN
                costs[(a, b)] = float(sum(price.cost(t, reply_tokens) for t in tokens))
                prompt_tokens.append(tokens.mean())
    return costs, len(prompts), float(np.mean(prompt_tokens)), reply_tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    pool = load_pool(SHARED / "published" / "qlora-vicuna-pairwise-full")
    models = sorted({m for _, a, b in pool for m in (a, b)})
    price = Price(*PRICES["gpt-4"])
    pair_costs, prompts, prompt_tokens, reply_tokens = oa_pair_costs(models, price)
    calls = prompts * len(pair_costs)
    naive = sum(pair_costs.values())
    print(
        f"OA tournament: {len(models)} models x {prompts} prompts x both orders = {calls:,} GPT-4 calls "
        f"(${price.input_per_million:g}/${price.output_per_million:g} per million tokens); a call is "
        f"~{prompt_tokens:,.0f} prompt + ~{reply_tokens:,.0f} reply tokens"
    )

    truth = ranking(models, list(pool.values()))
    pool_per_pair = Counter((a, b) for _, a, b in pool)

    def tau(judgments) -> float:
        return kendalltau(truth, ranking(models, judgments)).statistic

    def oa_cost(judgments) -> float:
        """The OA cost of judging the same share of each ordered pair's calls as `judgments` does on Vicuna."""
        chosen = Counter((j.model_a, j.model_b) for j in judgments)
        return sum(pair_costs[p] * n / pool_per_pair[p] for p, n in chosen.items())

    half = int(round(0.5 * len(pool)))
    random_runs = [random_run(pool, half, s) for s in range(args.seeds)]
    target = statistics.fmean(tau(r) for r in random_runs)
    random_cost = statistics.fmean(oa_cost(r) for r in random_runs)
    print(
        f"replayed on the paper's {len(pool):,} Vicuna GPT-4 judgments, {args.seeds} seeds: random judging of 50% of "
        f"the calls ranks the 8 models with Kendall tau {target:.3f} to the full ranking"
    )
    print(f"{'share':>7} {'calls':>6} {'adaptive tau':>13}")
    reached = None
    for share in SHARES:
        budget = int(round(share * len(pool)))
        runs = [adaptive_run(pool, models, budget, s, batch_round_size(budget)) for s in range(args.seeds)]
        mean_tau = statistics.fmean(tau(r) for r in runs)
        print(f"{share:>7.1%} {budget:>6} {mean_tau:>13.3f}")
        if mean_tau >= target:
            reached = (share, statistics.fmean(oa_cost(r) for r in runs))
            break
    discount = DEFAULT_DISCOUNT
    rows = [
        ("naive: every call, list price", calls, naive),
        ("--batch: every call", calls, naive * discount),
        ("random 50% of the calls (--budget), --batch", calls // 2, random_cost * discount),
    ]
    if reached:
        rows.append(
            (f"--schedule adaptive --batch to tau {target:.3f}", int(round(reached[0] * calls)), reached[1] * discount)
        )
    print("\n| judging the OA tournament | GPT-4 calls | cost | share of naive |\n| --- | --- | --- | --- |")
    for label, n, cost in rows:
        print(f"| {label} | {n:,} | ${cost:,.0f} | {cost / naive:.1%} |")
    verdict = "PASS" if reached and reached[1] * discount <= naive / 4 else "FAIL"
    print(
        f"\ngoal: the ranking of random-50% for at most 1/4 of the naive cost: {verdict} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
