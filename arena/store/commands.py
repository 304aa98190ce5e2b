"""`arena export fastchat`."""

from __future__ import annotations

from arena.benchmarks import load_prompt_set
from arena.console import info
from arena.store.fastchat import export_answers
from arena.store.results import ResultsStore


def run_export_fastchat(args) -> int:
    counts = export_answers(ResultsStore(args.results), load_prompt_set(args.benchmark), args.out, args.model)
    for model, count in counts.items():
        info(f"{model}: {count} answers")
    info(f"wrote FastChat layout to {args.out}")
    return 0
