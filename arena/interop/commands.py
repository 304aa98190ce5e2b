"""`arena import qlora | fastchat | alpaca-eval` and `arena export fastchat | alpaca-eval`."""

from __future__ import annotations

from arena.console import info, warn
from arena.errors import ArenaError
from arena.store import ResultsStore


def check_import_set(name: str, store: ResultsStore) -> None:
    """An import may fill a set that is not pulled here (its question ids are then not checked), but a name one
    typo away from a known set ('mtbench' for 'mt-bench') is refused rather than starting a second set."""
    import difflib

    from arena.prompts.registry import PINNED, SAMPLE, user_set_names

    known = [SAMPLE, *PINNED, *user_set_names()]
    if name in known or name in store.benchmarks():
        return
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    if close:
        raise ArenaError(
            f"unknown prompt set '{name}'; did you mean '{close[0]}'? (a set of your own: "
            f"`arena prompts pull {name} --from FILE` first)"
        )
    warn(f"prompt set '{name}' is not available here: a new set, whose question ids are not checked")


def run_import_qlora(args) -> int:
    from arena.interop.qlora import read_qlora_eval, store_imports

    store = ResultsStore(args.results)
    if args.benchmark:
        check_import_set(args.benchmark, store)
    imports = read_qlora_eval(args.directory, args.judge, args.benchmark, args.generations)  # all checked first
    config = {
        "source": str(args.directory),
        "judge": args.judge,
        "benchmark": args.benchmark,
        "generations": str(args.generations) if args.generations else None,
    }
    with store.run("import-qlora", config) as manifest:
        store_imports(store, imports)
        manifest.update(
            counts={
                r.benchmark: {
                    "files": len(r.files),
                    "added": r.added,
                    "already_stored": r.already_stored,
                    "corrected_rows": sum(f.corrected for f in r.files),
                    "unparsed": sum(f.unparsed for f in r.files),
                    "answers_added": dict(r.answers_added),
                }
                for r in imports
            },
            exit_status=0,
        )
    for result in imports:
        for line in result.describe():
            info(line)
    return 0


def run_import_fastchat(args) -> int:
    from arena.interop.fastchat_import import import_fastchat, read_fastchat_source

    store = ResultsStore(args.results)
    check_import_set(args.benchmark, store)
    source = read_fastchat_source(args.directory, args.benchmark)  # every file checked before the run
    config = {"source": str(args.directory), "judge": args.judge, "benchmark": args.benchmark}
    with store.run("import-fastchat", config) as manifest:
        lines = import_fastchat(store, source, args.benchmark, args.judge)
        manifest.update(summary=lines, exit_status=0)
    for line in lines:
        info(line)
    return 0


def run_import_alpaca_eval(args) -> int:
    from arena.interop.alpaca_eval import read_alpaca_eval, store_alpaca_eval, stored_instructions, write_instructions
    from arena.prompts.registry import user_set_file

    prompt_path = user_set_file(args.benchmark)
    known = stored_instructions(prompt_path)
    result = read_alpaca_eval(args.path, args.benchmark, args.judge, known)  # every file checked first
    store = ResultsStore(args.results)
    config = {"source": str(args.path), "judge": args.judge, "benchmark": args.benchmark}
    with store.run("import-alpaca-eval", config) as manifest:
        store_alpaca_eval(store, result)
        write_instructions(prompt_path, known, result)
        manifest.update(
            counts={
                "files": len(result.files),
                "added": result.added,
                "already_stored": result.already_stored,
                "without_preference": result.without_preference,
                "answers_added": result.answers_added,
                "instructions_added": result.instructions_added,
            },
            exit_status=0,
        )
    for line in result.describe():
        info(line)
    return 0


def run_export_alpaca_eval(args) -> int:
    from arena.interop.alpaca_eval import export_alpaca_eval

    counts = export_alpaca_eval(ResultsStore(args.results), args.benchmark, args.out, args.baseline, args.judge)
    for (model, judge), count in counts.items():
        info(f"{model} ({judge}): {count} rows")
    info(f"wrote AlpacaEval layout to {args.out}")
    return 0


def run_export_fastchat(args) -> int:
    from arena.interop.fastchat_export import export_answers
    from arena.prompts import load_prompt_set

    counts = export_answers(ResultsStore(args.results), load_prompt_set(args.benchmark), args.out, args.model)
    for model, count in counts.items():
        info(f"{model}: {count} answers")
    info(f"wrote FastChat layout to {args.out}")
    return 0
