"""Fine-tuning recipes. `guanaco` is the QLoRA paper's; `cpu-smoke` is a small, fast version of the same
recipe for CPU machines and CI."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any

from arena.errors import ArenaError


@dataclass(frozen=True)
class FinetuneConfig:
    preset: str
    # base model loading
    quantization: str = "4bit"  # 4-bit NormalFloat with double quantization, as in the paper
    quant_type: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "bfloat16"
    # LoRA on every linear layer
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    target_modules: str = "all-linear"  # or a comma-separated list of module names
    # optimisation
    optimizer: str = "paged_adamw_32bit"
    learning_rate: float = 2e-4
    warmup_ratio: float = 0.03  # then constant
    max_grad_norm: float = 0.3
    batch_size: int = 16  # micro_batch_size x gradient accumulation
    micro_batch_size: int = 1
    source_max_len: int = 512
    target_max_len: int = 512
    gradient_checkpointing: bool = True
    group_by_length: bool = True
    max_steps: int | None = 1875
    epochs: float | None = None
    eval_fraction: float = 0.05
    eval_every: int = 200
    save_every: int = 250
    seed: int = 0
    threads: int = 0  # 0: every core (training runs large matmuls)

    @property
    def gradient_accumulation(self) -> int:
        return max(1, self.batch_size // self.micro_batch_size)

    def torch_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "guanaco": FinetuneConfig("guanaco"),
    "cpu-smoke": FinetuneConfig(
        "cpu-smoke",
        compute_dtype="float32",
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.05,
        learning_rate=1e-3,
        warmup_ratio=0.03,
        max_grad_norm=0.3,
        batch_size=4,
        micro_batch_size=4,
        source_max_len=96,
        target_max_len=96,
        gradient_checkpointing=False,
        max_steps=16,
        eval_fraction=0.15,
        eval_every=8,
        save_every=8,
    ),
}
LARGE_MODEL_PARAMETERS = 30e9


def build_config(preset: str, **overrides) -> FinetuneConfig:
    if preset not in PRESETS:
        raise ArenaError(f"unknown fine-tuning preset '{preset}': choose one of {', '.join(PRESETS)}")
    config = replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    if overrides.get("epochs") is not None:
        config = replace(config, max_steps=None)
    if config.batch_size % config.micro_batch_size:
        raise ArenaError(
            f"batch size {config.batch_size} is not a multiple of micro-batch size {config.micro_batch_size}"
        )
    return config


def adjust_for_size(config: FinetuneConfig, parameters: int, overridden: set[str]) -> FinetuneConfig:
    """The paper's recipe for 33B and 65B: dropout 0.05 and learning rate 1e-4."""
    if config.preset != "guanaco" or parameters < LARGE_MODEL_PARAMETERS:
        return config
    changes: dict[str, Any] = {"lora_dropout": 0.05, "learning_rate": 1e-4}
    return replace(config, **{k: v for k, v in changes.items() if k not in overridden})
