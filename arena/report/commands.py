"""`arena report`."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from arena.command_options import options_from
from arena.console import info
from arena.report.builder import build_report
from arena.report.options import ReportOptions
from arena.store import ResultsStore


def run_report(args: Namespace) -> int:
    options = options_from(
        ReportOptions,
        args,
        out_dir=args.out or Path("reports") / args.benchmark,
        judges=tuple(args.judge) if args.judge else None,
    )
    path = build_report(ResultsStore(args.results), options)
    info("report written:")
    print(path.resolve())
    return 0
