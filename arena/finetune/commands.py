"""`arena finetune`."""

from __future__ import annotations

from pathlib import Path

from arena.console import info
from arena.finetune.config import build_config
from arena.models.spec import resolve_model

_OVERRIDES = (
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "learning_rate",
    "batch_size",
    "micro_batch_size",
    "source_max_len",
    "target_max_len",
    "quantization",
    "seed",
    "max_steps",
    "epochs",
    "save_every",
    "eval_every",
)


def run_finetune(args) -> int:
    from arena.inputs import require_plain_name

    require_plain_name(args.name, "--name (the adapter's name, its folder under adapters/)")
    from arena.finetune.trainer import finetune

    overrides = {name: getattr(args, name) for name in _OVERRIDES}
    config = build_config(args.preset, **overrides)
    base = resolve_model(args.base, args.models_file)
    out_dir = args.out or Path("adapters") / args.name
    from dataclasses import asdict

    from arena.store import ResultsStore

    record = {
        "base": {"name": base.name, "backend": base.backend, "path": base.path, "options": base.options},
        "data": args.data,
        "name": args.name,
        "preset": args.preset,
        "recipe": asdict(config),
        "out": str(out_dir),
        "resume": args.resume,
    }
    with ResultsStore(args.results).run("finetune", record, seeds={"training": config.seed}) as manifest:
        result = finetune(
            base,
            args.data,
            args.name,
            config,
            out_dir,
            resume=args.resume,
            overwrite=args.overwrite,
            merge=args.merge,
            overridden={k for k, v in overrides.items() if v is not None},
        )
        manifest.update(
            counts={"steps": result.steps},
            first_loss=result.first_loss,
            last_loss=result.last_loss,
            fallbacks=result.fallbacks,
            report=str(result.report_path),
            exit_status=0,
        )
    for note in result.fallbacks:
        info(f"recipe fallback: {note}")
    held_out = f", held-out loss {result.eval_losses[-1][1]:.3f}" if result.eval_losses else ""
    info(
        f"{args.name}: {result.steps} steps, training loss {result.first_loss:.3f} -> {result.last_loss:.3f}{held_out}"
    )
    info(f"adapter in {result.adapter_dir}, report in {result.report_path}")
    info(f"registered: use --model {args.name} with arena generate / evaluate / tournament")
    return 0
