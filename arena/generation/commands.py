"""`arena generate` and `arena models`."""

from __future__ import annotations

from argparse import Namespace

from arena.console import info, print_records, print_table
from arena.models.base import GenerationParams, check_loadable
from arena.models.spec import available_models, resolve_model

GENERATION_FLAGS = ("temperature", "top_p", "max_new_tokens", "greedy")


def generation_params(args: Namespace) -> tuple[GenerationParams, dict[str, object]]:
    """The defaults with the command's seed, and the generation flags the user gave explicitly: those beat a
    model's own settings, which beat the defaults. Built here, in the command handlers, so that the models
    package only ever sees the typed record."""
    given = {name: getattr(args, name, None) for name in GENERATION_FLAGS}
    return GenerationParams(seed=args.seed), {name: value for name, value in given.items() if value is not None}


def run_generate(args: Namespace) -> int:
    from arena.generation.runner import generate_answers
    from arena.prompts import load_prompt_set
    from arena.store import ResultsStore

    spec = resolve_model(args.model, args.models_file)
    if args.batch_size:
        spec = type(spec)(**{**spec.__dict__, "options": {**spec.options, "batch_size": args.batch_size}})
    prompt_set = load_prompt_set(args.benchmark)
    params, explicit = generation_params(args)
    check_loadable(spec)  # a missing key, GPU or adapter stops here, before anything is written
    store = ResultsStore(args.results)
    config = {
        "model": {"name": spec.name, "backend": spec.backend, "path": spec.path, "options": spec.options},
        "benchmark": prompt_set.name,
        "prompt_set_sha256": prompt_set.sha256,
        "limit": args.limit,
        "overwrite": args.overwrite,
    }
    with store.run("generate", config, seeds={"generation": args.seed}) as manifest:
        report = generate_answers(
            store, prompt_set, spec, params, limit=args.limit, overwrite=args.overwrite, explicit=explicit
        )
        manifest.update(
            counts={
                "prompts": report.requested,
                "generated": report.generated,
                "already_stored": report.already_done,
                "empty": report.empty,
                "missing": len(report.missing),
                "tokens": report.tokens,
            },
            params=report.params,
            model_facts=report.model_facts,
            exit_status=0,
        )
    speed = f", {report.tokens} tokens at {report.tokens_per_second:.1f} tok/s" if report.tokens else ""  # none: read
    info(
        f"{report.model} on {report.benchmark}: {report.generated} answers generated, "
        f"{report.already_done} already stored, {report.empty} empty{speed}"
    )
    info(f"answers in {args.results}/{prompt_set.name}/answers/")
    return 0


def run_models(args) -> int:
    if args.action == "list":
        specs = sorted(available_models(args.models_file).values(), key=lambda s: s.name)
        if args.format == "json":
            print_records(
                [
                    {
                        "name": s.name,
                        "backend": s.backend,
                        "path": s.path,
                        "from": s.origin,
                        "description": s.description,
                        "options": s.options,
                    }
                    for s in specs
                ],
                "json",
            )
            return 0
        rows = [[s.name, s.backend, s.path or "-", s.origin, s.description] for s in specs]
        print_table("Models", ["name", "backend", "path", "from", "description"], rows)
        return 0
    spec = resolve_model(args.name, args.models_file)
    rows = [
        ["name", spec.name],
        ["backend", spec.backend],
        ["path", spec.path or "-"],
        ["from", spec.origin],
        *([k, str(v)] for k, v in sorted(spec.options.items())),
    ]
    print_table(spec.description or spec.name, ["field", "value"], rows)
    return 0
