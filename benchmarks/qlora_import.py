"""Importing a whole QLoRA `eval/` folder, and the paper's Elo on its OpenAssistant judgments.

The real OA folder is ~40,000 reviews in 42 files (~43 MB): 7 models, every ordered pair, 953 prompts. This
script writes a synthetic folder of that shape and size (review texts of ~1 KB, answer ids resolving the
sides, a few unparsed reviews), then times the whole commands as a user runs them:

    python benchmarks/qlora_import.py [--prompts 953] [--models 7]

Targets (issue 10): import within 30 s, `arena ratings --method elo` (10,000 orderings) within 10 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

MODELS = ["gpt-4", "gpt-3.5", "65b-guanaco", "33b-guanaco", "13b-vicuna", "13b-guanaco", "7b-guanaco"]
FILLER = (
    "Both assistants address the question; the first is better organised and gives more concrete detail, "
    "while the second is shorter and misses part of what was asked. "
) * 6


def file_stem(model: str) -> str:
    return f"{model}-oa-generations-topp0.9-temp0.7" if "guanaco" in model else f"{model}-oa-generations"


def write_eval_folder(root: Path, prompts: int, models: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    names = MODELS[:models]
    strength = dict(zip(names, np.linspace(1.0, -1.0, len(names))))
    message_ids = [str(uuid.UUID(int=int(rng.integers(2**63)))) for _ in range(prompts)]
    answer_ids = {(m, q): uuid.uuid4().hex[:22] for m in names for q in message_ids}
    generations = root / "generations" / "oa"
    generations.mkdir(parents=True)
    for model in names:
        with open(generations / f"{file_stem(model)}.jsonl", "w") as out:
            for q in message_ids:
                out.write(
                    json.dumps(
                        {
                            "message_id": q,
                            "generation": f"An answer by {model}. " * 20,
                            "answer_id": answer_ids[model, q],
                        }
                    )
                    + "\n"
                )
    ratings = root / "ratings-gpt4" / "oa"
    ratings.mkdir(parents=True)
    reviews = 0
    for a, b in itertools.permutations(names, 2):
        path = ratings / f"{file_stem(a)}-vs-{file_stem(b)}-gpt-4-reviewer-threeclass.jsonl"
        p_first = 1 / (1 + np.exp(strength[b] - strength[a] - 0.3))
        with open(path, "w") as out:
            for q in message_ids:
                u = rng.random()
                score = -1 if u < 0.003 else 3 if u < 0.15 else (1 if rng.random() < p_first else 2)
                out.write(
                    json.dumps(
                        {
                            "review_id": uuid.uuid4().hex[:22],
                            "message_id": q,
                            "answer1_id": answer_ids[a, q],
                            "answer2_id": answer_ids[b, q],
                            "reviewer_id": 1,
                            "metadata": {},
                            "text": f"{FILLER}\n\n{score}",
                            "score": score,
                        }
                    )
                    + "\n"
                )
                reviews += 1
    return reviews


def timed_command(*args: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "arena", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=953)
    parser.add_argument("--models", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root, results = Path(folder) / "eval", Path(folder) / "results"
        reviews = write_eval_folder(root, args.prompts, args.models)
        size = sum(p.stat().st_size for p in (root / "ratings-gpt4").rglob("*.jsonl")) / 1e6
        print(
            f"data: {reviews} reviews in {args.models * (args.models - 1)} files ({size:.0f} MB), "
            f"{args.models} answer files"
        )
        env = {**os.environ, "ARENA_HOME": str(Path(folder) / "home")}
        seconds = timed_command("import", "qlora", str(root), "--results", str(results), env=env)
        print(
            f"arena import qlora <eval folder>: {seconds:.1f} s (target <= 30 s) {'PASS' if seconds <= 30 else 'FAIL'}"
        )
        seconds = timed_command("import", "qlora", str(root), "--results", str(results), env=env)
        print(f"the same import again (adds nothing): {seconds:.1f} s")
        for attempt in ("first", "second"):
            seconds = timed_command(
                "ratings",
                "--results",
                str(results),
                "--benchmark",
                "oa953",
                "--method",
                "elo",
                "--format",
                "json",
                env=env,
            )
            print(
                f"arena ratings --method elo (10,000 orderings), {attempt} run: {seconds:.1f} s (target <= 10 s) "
                f"{'PASS' if seconds <= 10 else 'FAIL'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
