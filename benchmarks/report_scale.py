"""Report size and opening time at the scale of the paper's OpenAssistant evaluation: 953 prompts in many
languages, 8 models, every ordered pair judged (about 53,000 judgments with GPT-4-length explanations).

    python benchmarks/report_scale.py [--models 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.report_store import build_big_store


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
        print(
            f"report: {count} judgments, {size:.1f} MiB (target < 30 MiB) {'PASS' if size < 30 else 'FAIL'}, "
            f"built in {built:.1f} s (Elo 10,000 orders, BT 1,000 resamples)"
        )
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-battles-ready='1']", timeout=60_000)
            opened = time.perf_counter() - started
            browser.close()
        print(
            f"opened in Chromium with the battle browser ready in {opened:.2f} s (target < 3 s) "
            f"{'PASS' if opened < 3 else 'FAIL'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
