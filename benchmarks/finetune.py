"""Peak memory and step time of 4-bit QLoRA against 16-bit and 32-bit LoRA on the same model, batch and
sequence length, each measured in its own process of one run; and the model's weight footprint in 4-bit
against 16-bit (the QLoRA paper's headline: 65B from more than 780 GB to under 48 GB).

    python benchmarks/finetune.py [--steps 4] [--batch 4] [--seq 128]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CONFIGS = {
    "qlora-nf4": {"quantization": "4bit", "quant_type": "nf4", "double_quant": True, "compute_dtype": "float32"},
    "lora-bf16": {"quantization": "none", "dtype": "bfloat16"},
    "lora-fp32": {"quantization": "none", "dtype": "float32"},
}


def child(name: str, steps: int, batch: int, seq: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from arena.models.hf import load_base
    from arena.models.spec import PRESETS, ModelSpec

    base = PRESETS["smollm2-135m-q4"]
    spec = ModelSpec(name, "hf", base.path, {**base.options, **CONFIGS[name], "threads": 2})
    _, model = load_base(spec)
    footprint = model.get_memory_footprint()
    if CONFIGS[name]["quantization"] != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    torch.manual_seed(0)
    ids = torch.randint(0, 49000, (batch, seq))
    times = []
    for _ in range(steps + 1):  # the first step warms up
        started = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    return {
        "footprint": footprint,
        "step_seconds": sorted(times[1:])[len(times[1:]) // 2],
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.batch, args.seq)))
        return 0
    results = {}
    for name in CONFIGS:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--steps",
                str(args.steps),
                "--batch",
                str(args.batch),
                "--seq",
                str(args.seq),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[name]
        print(
            f"{name:10s} weights {r['footprint'] / 2**20:6.0f} MiB  peak RSS {r['peak_rss'] / 2**20:6.0f} MiB  "
            f"step {r['step_seconds']:.2f} s  (batch {args.batch} x {args.seq} tokens, SmolLM2-135M, CPU)"
        )
    q, b16, f32 = results["qlora-nf4"], results["lora-bf16"], results["lora-fp32"]
    print(
        f"weight footprint 4-bit / 16-bit = {q['footprint'] / b16['footprint']:.2f} "
        f"({b16['footprint'] / q['footprint']:.1f}x smaller; the paper: 65B from >780 GB to <48 GB)"
    )
    print(
        f"peak RSS 4-bit / 16-bit = {q['peak_rss'] / b16['peak_rss']:.2f}, 4-bit / 32-bit = {q['peak_rss'] / f32['peak_rss']:.2f}"
    )
    print(
        f"step time 4-bit / 16-bit = {q['step_seconds'] / b16['step_seconds']:.2f}, "
        f"4-bit / 32-bit = {q['step_seconds'] / f32['step_seconds']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
