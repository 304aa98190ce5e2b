"""Report size and opening time at the scale of the paper's OpenAssistant evaluation: 953 prompts in many
languages, 8 models, every ordered pair judged (about 53,000 judgments with GPT-4-length explanations).

    python benchmarks/report_scale.py [--models 8]
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
from pathlib import Path

WORDS = ["the", "answer", "model", "response", "explains", "clearly", "detail", "helpful", "accurate", "relevant", "assistant", "first", "second", "question", "user", "because", "however", "although", "example", "code", "step", "result", "correct", "missing", "concise", "thorough", "language", "tone", "structure", "list", "point", "overall", "better", "worse", "similar", "quality", "reasoning", "fact", "claim", "source"]
LANGUAGES = ("en", "es", "ru", "de", "fr", "zh", "th", "ca", "pt", "it")


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def build_big_store(results: Path, models: int = 8, prompts: int = 953, seed: int = 0) -> Path:
    import json

    from arena.prompts import pull_prompt_set
    from arena.store import Answer, Judgment, ResultsStore

    rng = random.Random(seed)
    prompt_file = results.parent / "oa-synthetic.jsonl"
    prompt_file.parent.mkdir(parents=True, exist_ok=True)
    with open(prompt_file, "w") as handle:
        for q in range(prompts):
            handle.write(json.dumps({"question_id": f"q{q}", "lang": LANGUAGES[q % len(LANGUAGES)],
                                     "text": _text(rng, 25) + "?"}) + "\n")
    pull_prompt_set("oa-synthetic", prompt_file)
    names = [f"model-{i}" for i in range(models)]
    store = ResultsStore(results)
    store.save_answers([Answer("oa-synthetic", f"q{q}", m, [f"## Answer\n\n{_text(rng, 120)}\n\n- {_text(rng, 20)}\n- "
                                                             f"{_text(rng, 20)}\n\n```python\nprint({q})\n```"])
                        for m in names for q in range(prompts)])
    judgments = []
    for a, b in itertools.permutations(names, 2):
        for q in range(prompts):
            verdict = rng.choice(("A", "A", "B", "tie", "B"))
            judgments.append(Judgment("oa-synthetic", f"q{q}", a, b, "gpt-4", "pairwise", verdict,
                                      explanation=_text(rng, 130), raw=None))
    store.save_judgments(judgments)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=8)
    args = parser.parse_args()
    import os

    from arena.report.builder import build_report
    from arena.report.options import ReportOptions
    from arena.store import ResultsStore

    with tempfile.TemporaryDirectory() as folder:
        os.environ["ARENA_HOME"] = str(Path(folder) / "home")
        started = time.perf_counter()
        results = build_big_store(Path(folder) / "results", args.models)
        print(f"synthetic store built in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        path = build_report(ResultsStore(results), ReportOptions("oa-synthetic", Path(folder) / "report"))
        built = time.perf_counter() - started
        count = len((results / "oa-synthetic" / "judgments" / "gpt-4.jsonl").read_text().splitlines())
        size = path.stat().st_size / 2**20
        print(f"report: {count} judgments, {size:.1f} MiB (target < 30 MiB) {'PASS' if size < 30 else 'FAIL'}, "
              f"built in {built:.1f} s (Elo 10,000 orders, BT 1,000 resamples)")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-battles-ready='1']", timeout=60_000)
            opened = time.perf_counter() - started
            browser.close()
        print(f"opened in Chromium with the battle browser ready in {opened:.2f} s (target < 3 s) "
              f"{'PASS' if opened < 3 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
