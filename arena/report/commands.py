"""`arena report`."""

from __future__ import annotations

from pathlib import Path

from arena.console import info
from arena.report.builder import build_report
from arena.store import ResultsStore


def run_report(args) -> int:
    out = args.out or Path("reports") / args.benchmark
    path = build_report(
        ResultsStore(args.results),
        args.benchmark,
        args.judge,
        out,
        args.baseline,
        args.orderings,
        args.bootstrap,
        args.seed,
    )
    info("report written:")
    print(path.resolve())
    return 0
