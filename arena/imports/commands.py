"""`arena import qlora` and `arena import fastchat`."""

from __future__ import annotations

from arena.console import info
from arena.store import ResultsStore


def run_import_qlora(args) -> int:
    from arena.imports.qlora import import_qlora_eval

    for result in import_qlora_eval(ResultsStore(args.results), args.directory, args.judge, args.benchmark,
                                    args.generations):
        for line in result.describe():
            info(line)
    return 0


def run_import_fastchat(args) -> int:
    from arena.imports.fastchat import import_fastchat

    for line in import_fastchat(ResultsStore(args.results), args.directory, args.benchmark, args.judge):
        info(line)
    return 0
