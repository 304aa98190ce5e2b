"""The QLoRA stage: base in 4-bit NF4, LoRA on every linear layer, paged AdamW, constant learning rate
after warm-up, loss on the assistant tokens only. The result is an adapter folder, a training report with
its loss curve, and a model entry so `--model NAME` works in generate / evaluate / tournament.

Where a piece of the recipe has no CPU implementation (paged optimizers are CUDA-only) the fallback is
said out loud: a warning now and a line in the report."""

from __future__ import annotations

import json
import logging
import math
import random
import resource
import shutil
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from arena.console import progress_bar
from arena.errors import ArenaError
from arena.finetune.config import FinetuneConfig, adjust_for_size
from arena.finetune.data import IGNORE, read_conversations, tokenize_conversation
from arena.models.spec import PRESETS as MODEL_PRESETS
from arena.models.spec import ModelSpec, registered_models_dir
from arena.store.atomic import write_atomically

logger = logging.getLogger(__name__)


class RecipeFallback(UserWarning):
    """A part of the recipe replaced by something that runs on this machine."""


@dataclass
class FinetuneResult:
    name: str
    out_dir: Path
    adapter_dir: Path
    report_path: Path
    steps: int
    first_loss: float
    last_loss: float
    eval_losses: list = field(default_factory=list)
    fallbacks: list = field(default_factory=list)


def _check_out_dir(out_dir: Path, name: str, resume: bool, overwrite: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if overwrite:
            (registered_models_dir() / f"{name}.toml").unlink(missing_ok=True)
            shutil.rmtree(out_dir)
        elif not resume:
            raise ArenaError(
                f"output folder {out_dir} exists; pass --resume to continue it or --overwrite to replace it"
            )
    elif resume:
        raise ArenaError(f"--resume: no checkpoint in {out_dir}")


def _batches(examples, config: FinetuneConfig, rng: random.Random):
    """Endless micro-batches; with group_by_length, batches of similar lengths in a shuffled order."""
    while True:
        order = list(range(len(examples)))
        rng.shuffle(order)
        if config.group_by_length:
            window = config.micro_batch_size * 16
            order = [
                i
                for start in range(0, len(order), window)
                for i in sorted(order[start : start + window], key=lambda i: len(examples[i].input_ids))
            ]
            batches = [order[i : i + config.micro_batch_size] for i in range(0, len(order), config.micro_batch_size)]
            rng.shuffle(batches)
        else:
            batches = [order[i : i + config.micro_batch_size] for i in range(0, len(order), config.micro_batch_size)]
        yield from batches


def _collate(torch, examples, pad_id: int, device=None):
    """Right-padded batch tensors, on the model's device (a GPU when there is one)."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {
        name: tensor.to(device) if device is not None else tensor
        for name, tensor in (("input_ids", ids), ("attention_mask", mask), ("labels", labels))
    }


def _optimizer(torch, parameters, config: FinetuneConfig, fallbacks: list):
    if config.optimizer == "paged_adamw_32bit":
        if torch.cuda.is_available():
            import bitsandbytes as bnb

            return bnb.optim.PagedAdamW32bit(parameters, lr=config.learning_rate)
        note = "paged AdamW 32-bit is CUDA-only: using torch.optim.AdamW (unpaged, 32-bit) on this CPU machine"
        warnings.warn(note, RecipeFallback, stacklevel=2)
        fallbacks.append(note)
    return torch.optim.AdamW(parameters, lr=config.learning_rate)


def _prepare_model(spec: ModelSpec, config: FinetuneConfig, fallbacks: list):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from arena.models.hf import load_base

    quantized = replace(
        spec,
        options={
            **spec.options,
            "quantization": config.quantization,
            "quant_type": config.quant_type,
            "double_quant": config.double_quant,
            "compute_dtype": config.compute_dtype,
        },
    )
    tokenizer, model = load_base(quantized)
    import torch

    if config.compute_dtype == "bfloat16" and not torch.cuda.is_available():
        fallbacks.append("bf16 compute on CPU is slow; consider compute_dtype float32 here")
    if config.quantization != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    elif config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    targets = (
        config.target_modules
        if config.target_modules == "all-linear"
        else [m.strip() for m in config.target_modules.split(",") if m.strip()]
    )
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, lora)
    except ValueError as exc:
        raise ArenaError(
            f"LoRA target modules {config.target_modules!r} do not fit {spec.name}: {str(exc).splitlines()[0][:300]}"
        ) from None
    return tokenizer, model


def _peak_memory_bytes(torch) -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def _interrupt_between_steps():
    """Ctrl-C during training finishes the step under way, then the caller saves a checkpoint and stops: the
    signal only sets the event returned, which the loop reads between steps. A KeyboardInterrupt raised in
    the middle of a step could be swallowed by library code running at that moment (it was, once in CI: the
    run went on to the end); a flag cannot be. A second Ctrl-C stops at once, as it always did."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield interrupted
        return

    def on_interrupt(signum, frame):
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        logger.warning("interrupted: finishing this step, then saving a checkpoint (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _save_checkpoint(model, optimizer, state: dict, out_dir: Path, torch) -> None:
    folder = out_dir / "checkpoint"
    tmp = out_dir / "checkpoint.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _load_checkpoint(model, optimizer, out_dir: Path, torch) -> dict:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = out_dir / "checkpoint"
    if not (folder / "state.json").exists():
        raise ArenaError(f"--resume: no checkpoint in {out_dir}")
    set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    return json.loads((folder / "state.json").read_text())


def _evaluate(model, examples, config, torch, pad_id) -> float:
    if not examples:
        return float("nan")
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), config.micro_batch_size):
            chunk = examples[start : start + config.micro_batch_size]
            batch = _collate(torch, chunk, pad_id, model.device)
            targets = int((batch["labels"] != IGNORE).sum())
            total += float(model(**batch).loss) * targets
            count += targets
    model.train()
    return total / max(count, 1)


def finetune(
    base: ModelSpec,
    data: str,
    name: str,
    config: FinetuneConfig,
    out_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
    merge: bool = False,
    overridden: set[str] | None = None,
    show_progress: bool = True,
) -> FinetuneResult:
    if name in MODEL_PRESETS:
        raise ArenaError(f"'{name}' is a preset model name; choose another --name")
    from arena.models.hf import check_can_run

    check_can_run(base)  # the most fundamental requirement first: a GPU-only base on a CPU machine
    conversations, data_source = read_conversations(data)
    _check_out_dir(out_dir, name, resume, overwrite)
    import torch

    torch.manual_seed(config.seed)
    fallbacks: list[str] = []
    tokenizer, model = _prepare_model(base, config, fallbacks)
    config = adjust_for_size(config, sum(p.numel() for p in model.parameters()), overridden or set())
    torch.set_num_threads(config.torch_threads())
    examples = [
        e
        for c in conversations
        if (e := tokenize_conversation(tokenizer, c, config.source_max_len, config.target_max_len))
    ]
    rng = random.Random(config.seed)
    rng.shuffle(examples)
    held_out = max(1, round(len(examples) * config.eval_fraction)) if len(examples) > 4 else 0
    eval_examples, train_examples = examples[:held_out], examples[held_out:]
    steps = config.max_steps or math.ceil((config.epochs or 1) * len(train_examples) / config.batch_size)
    warmup = max(1, round(config.warmup_ratio * steps))
    optimizer = _optimizer(torch, [p for p in model.parameters() if p.requires_grad], config, fallbacks)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)

    state: dict[str, Any] = {"step": 0, "losses": [], "eval_losses": [], "tokens": 0, "seconds": 0.0}
    if resume:
        state = _load_checkpoint(model, optimizer, out_dir, torch)
        for _ in range(state["step"]):
            scheduler.step()
    batches = _batches(train_examples, config, random.Random(config.seed + 1))
    for _ in range(state["step"] * config.gradient_accumulation):  # the same data order as an unbroken run
        next(batches)

    progress, _ = (
        progress_bar(f"fine-tuning {name}", steps, "steps", ("loss", "rate")) if show_progress else (None, None)
    )
    model.train()
    try:
        if progress:
            progress.start()
            progress.update(progress.task_ids[0], completed=state["step"])
        with _interrupt_between_steps() as interrupted:
            while state["step"] < steps:
                if interrupted.is_set():
                    raise KeyboardInterrupt
                started = time.perf_counter()
                optimizer.zero_grad()
                step_loss, step_tokens = 0.0, 0
                for _ in range(config.gradient_accumulation):
                    batch = _collate(torch, [train_examples[i] for i in next(batches)], pad_id, model.device)
                    loss = model(**batch).loss / config.gradient_accumulation
                    loss.backward()
                    step_loss += loss.item()
                    step_tokens += int(batch["attention_mask"].sum())
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                state["step"] += 1
                state["losses"].append(round(step_loss, 5))
                state["tokens"] += step_tokens
                state["seconds"] += time.perf_counter() - started
                if eval_examples and (state["step"] % config.eval_every == 0 or state["step"] == steps):
                    state["eval_losses"].append(
                        [state["step"], round(_evaluate(model, eval_examples, config, torch, pad_id), 5)]
                    )
                if state["step"] % config.save_every == 0 and state["step"] < steps:
                    _save_checkpoint(model, optimizer, state, out_dir, torch)
                if progress:
                    progress.update(
                        progress.task_ids[0],
                        advance=1,
                        loss=f"loss {step_loss:.3f}",
                        rate=f"{state['tokens'] / state['seconds']:.0f} tok/s",
                    )
    except KeyboardInterrupt:
        _save_checkpoint(model, optimizer, state, out_dir, torch)
        raise ArenaError(
            f"interrupted at step {state['step']}; checkpoint saved in {out_dir}/checkpoint, continue with --resume"
        ) from None
    finally:
        if progress:
            progress.stop()

    adapter_dir = out_dir / "adapter"
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    report = {
        "name": name,
        "base": {"name": base.name, "path": base.path, "options": base.options},
        "data": data_source,
        "examples": {"train": len(train_examples), "eval": len(eval_examples)},
        "config": config.to_dict(),
        "steps": state["step"],
        "train_loss": state["losses"],
        "eval_loss": state["eval_losses"],
        "tokens": state["tokens"],
        "seconds": round(state["seconds"], 2),
        "tokens_per_second": round(state["tokens"] / max(state["seconds"], 1e-9), 1),
        "peak_memory_bytes": _peak_memory_bytes(torch),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "fallbacks": fallbacks,
    }
    report_path = out_dir / "training_report.json"
    report_path.write_text(json.dumps(report, indent=2))
    (out_dir / "loss.json").write_text(json.dumps({"train": state["losses"], "eval": state["eval_losses"]}))
    _plot_loss(state["losses"], state["eval_losses"], out_dir / "loss_curve.png", name)
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)
    if merge:
        _merge(base, adapter_dir, out_dir / "merged")
    register_model(name, base, adapter_dir, report)
    return FinetuneResult(
        name,
        out_dir,
        adapter_dir,
        report_path,
        state["step"],
        state["losses"][0],
        state["losses"][-1],
        state["eval_losses"],
        fallbacks,
    )


def _plot_loss(losses: list, eval_losses: list, path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    axes.plot(range(1, len(losses) + 1), losses, label="train")
    if eval_losses:
        axes.plot([s for s, _ in eval_losses], [v for _, v in eval_losses], "o-", label="held-out")
    axes.set_xlabel("step")
    axes.set_ylabel("loss (assistant tokens)")
    axes.set_title(f"QLoRA fine-tuning: {name}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _merge(base: ModelSpec, adapter_dir: Path, merged_dir: Path) -> None:
    """Merge into an unquantized copy of the base (merging into 4-bit weights would lose precision)."""
    from peft import PeftModel

    from arena.models.hf import load_base

    tokenizer, model = load_base(replace(base, options={**base.options, "quantization": "none"}))
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(merged_dir)
    tokenizer.save_pretrained(merged_dir)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def register_model(name: str, base: ModelSpec, adapter_dir: Path, report: dict) -> Path:
    """The model file the registry reads; written last, so a failed run registers nothing."""
    options = {
        k: v
        for k, v in base.options.items()
        if k not in ("adapter", "prompt_format", "requires_gpu") and isinstance(v, (str, int, float, bool))
    }
    description = f"QLoRA fine-tune of {base.name}, {report['steps']} steps on {report['data']}"
    lines = [
        f"[models.{json.dumps(name)}]",
        'backend = "hf"',
        f"path = {_toml_value(base.path)}",
        f"adapter = {_toml_value(adapter_dir.resolve())}",
        'prompt_format = "guanaco"',
        f"description = {_toml_value(description)}",
        f"base_model = {_toml_value(base.name)}",
    ]
    lines += [f"{key} = {_toml_value(value)}" for key, value in sorted(options.items())]
    path = registered_models_dir() / f"{name}.toml"
    write_atomically(path, "\n".join(lines) + "\n")
    return path
