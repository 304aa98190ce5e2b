"""`arena generate` and `arena models`."""

from __future__ import annotations

from arena.console import info, print_records, print_table
from arena.models.base import GenerationParams, check_loadable
from arena.models.spec import available_models, resolve_model


def run_generate(args) -> int:
    from arena.generation.runner import generate_answers
    from arena.prompts import load_prompt_set
    from arena.store import ResultsStore

    spec = resolve_model(args.model, args.models_file)
    if args.batch_size:
        spec = type(spec)(**{**spec.__dict__, "options": {**spec.options, "batch_size": args.batch_size}})
    prompt_set = load_prompt_set(args.benchmark)
    params, explicit = GenerationParams.from_args(args)
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
    if report.missing:
        info(
            f"{len(report.missing)} prompts have no published answer: {', '.join(report.missing[:10])}"
            + (" ..." if len(report.missing) > 10 else "")
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
