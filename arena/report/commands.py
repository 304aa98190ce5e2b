"""`arena report`."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from arena.console import info
from arena.report.builder import build_report
from arena.report.options import ReportOptions
from arena.store import ResultsStore


def run_report(args: Namespace) -> int:
    options = ReportOptions(
        benchmark=args.benchmark,
        out_dir=args.out or Path("reports") / args.benchmark,
        judges=tuple(args.judge) if args.judge else None,
        baseline=args.baseline,
        orderings=args.orderings,
        bootstrap=args.bootstrap,
        seed=args.seed,
    )
    path = build_report(ResultsStore(args.results), options)
    info("report written:")
    print(path.resolve())
    return 0
