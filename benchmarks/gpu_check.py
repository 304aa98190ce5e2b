"""One prepared check of arena's CUDA paths: 4-bit NF4 loading, QLoRA with paged AdamW, generation with the
trained LoRA adapter, and the memory figures the QLoRA paper is known for. Prints one JSON summary and exits
non-zero if any step failed.

Steps (each through arena's own code: the `hf` backend, `arena finetune`, the generation runner):
  build      a LLaMA-architecture model from a config, random weights (~1.1B parameters; a tiny one with
             --cpu-smoke), saved as safetensors with a byte-level BPE tokenizer trained here on the shipped
             sample texts, so arena loads it like any checkpoint folder (nothing is downloaded)
  load       the model in bf16 and in 4-bit NF4 + double quantization + bf16 compute: weights memory
             (torch.cuda.memory_allocated after load) of each, and their ratio
  finetune   `arena finetune` with the guanaco recipe (LoRA on all linear layers, paged AdamW 32-bit, bf16) for a
             few dozen steps on the shipped sample data, as QLoRA (4-bit base) and as LoRA (bf16 base): loss
             falls, peak memory (max_memory_allocated) of each, the paged optimizer really used (no fallback)
  generate   the `sample` prompts, batched, with each trained adapter: tokens/s of 4-bit against bf16

On a CPU machine, `--cpu-smoke` runs the same steps on a tiny model and reports the CUDA-only figures as skipped
with the reason; the test suite runs it so the script cannot rot.

On the device machine (no network there: bitsandbytes and two small packages travel as wheels). Once, here, in
the repository's root:

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
        -d .whl bitsandbytes==0.50.2 orjson platformdirs

then one `run` of the device tool, carrying `.whl`, with this command:

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \\
    PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --out $OUT

(about 4 minutes on an H200, start included; the summary is also written to $OUT/gpu_check.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FULL = {
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "num_hidden_layers": 22,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "vocab_size": 32000,
    "max_position_embeddings": 2048,
}
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1024,
    "max_position_embeddings": 512,
}


class Check:
    """Runs the steps, keeps each one's figures or failure, and the summary."""

    def __init__(self, cpu_smoke: bool):
        import torch

        self.cuda = torch.cuda.is_available()
        self.cpu_smoke = cpu_smoke
        self.summary: dict = {
            "mode": "cpu-smoke" if cpu_smoke else "gpu",
            "cuda": self.cuda,
            "device": torch.cuda.get_device_name(0) if self.cuda else "cpu",
            "torch": torch.__version__,
            "steps": {},
        }

    def step(self, name: str, function, *args):
        started = time.perf_counter()
        try:
            result = function(*args)
            self.summary["steps"][name] = {"ok": True, "seconds": round(time.perf_counter() - started, 1), **result}
            return result
        except Exception as exc:  # a failed step is reported, and the others still run
            self.summary["steps"][name] = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc()[-2000:],
            }
            return None

    def skipped(self, reason: str) -> str:
        return f"skipped: {reason}"


def build_model(folder: Path, shape: dict) -> dict:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [line for path in (REPO / "prompts").rglob("*.jsonl") for line in path.read_text().splitlines()]
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=min(shape["vocab_size"], 2000),
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    config = LlamaConfig(
        **shape,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokenizer_vocab": len(fast),
        "folder_bytes": sum(p.stat().st_size for p in folder.iterdir()),
    }


def load_memory(check: Check, folder: Path) -> dict:
    """Weights memory after loading through arena's hf backend, bf16 and 4-bit NF4."""
    import gc

    import torch

    from arena.models.hf import load_base
    from arena.models.spec import ModelSpec

    specs = {
        "bf16": {"dtype": "bfloat16"},
        "nf4": {"quantization": "4bit", "quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"},
    }
    figures = {}
    for name, options in specs.items():
        if check.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        _, model = load_base(ModelSpec(name, "hf", str(folder), {**options, "prompt_format": "guanaco"}))
        figures[f"{name}_footprint_bytes"] = model.get_memory_footprint()
        figures[f"{name}_cuda_allocated_bytes"] = (
            (torch.cuda.memory_allocated() - before)
            if check.cuda
            else check.skipped("no CUDA device: torch.cuda.memory_allocated has nothing to measure")
        )
        figures[f"{name}_linear4bit_layers"] = sum(type(m).__name__ == "Linear4bit" for m in model.modules())
        del model
        gc.collect()
    figures["nf4_over_bf16_footprint"] = round(figures["nf4_footprint_bytes"] / figures["bf16_footprint_bytes"], 3)
    if check.cuda:
        figures["nf4_over_bf16_cuda"] = round(
            figures["nf4_cuda_allocated_bytes"] / figures["bf16_cuda_allocated_bytes"], 3
        )
    if not figures["nf4_linear4bit_layers"]:
        raise RuntimeError("the 4-bit load has no Linear4bit layer: NF4 was not applied")
    return figures


def finetune(check: Check, folder: Path, work: Path, name: str, quantization: str) -> dict:
    """`arena finetune` in its own process (its peak memory is its own); the guanaco recipe, fewer steps."""
    steps = "4" if check.cpu_smoke else "30"
    batch = (
        ["--batch-size", "2", "--micro-batch-size", "2", "--source-max-len", "64", "--target-max-len", "64"]
        if check.cpu_smoke
        else ["--batch-size", "16", "--micro-batch-size", "4"]
    )
    out = work / name
    command = [
        sys.executable,
        "-m",
        "arena",
        "finetune",
        "--base",
        f"hf:{folder}",
        "--data",
        "sample",
        "--name",
        name,
        "--preset",
        "guanaco",
        "--max-steps",
        steps,
        "--quantization",
        quantization,
        "--out",
        str(out),
        "--results",
        str(work / "results"),
        "--learning-rate",
        "1e-3",
        "--eval-every",
        steps,
        *batch,
    ]
    run = subprocess.run(command, capture_output=True, text=True, env=_env(work), cwd=REPO, timeout=1200)
    if run.returncode != 0:
        raise RuntimeError(f"arena finetune exited {run.returncode}: {run.stderr[-1500:]}")
    report = json.loads((out / "training_report.json").read_text())
    losses = report["losses"] if "losses" in report else json.loads((out / "loss.json").read_text())["train"]
    head, tail = sum(losses[:3]) / len(losses[:3]), sum(losses[-3:]) / len(losses[-3:])
    paged = not any("paged" in note for note in report.get("fallbacks", []))
    figures = {
        "steps": len(losses),
        "loss_first3": round(head, 4),
        "loss_last3": round(tail, 4),
        "loss_falls": tail < head,
        "peak_memory_bytes": report.get("peak_memory_bytes"),
        "fallbacks": report.get("fallbacks", []),
        "paged_adamw_used": paged
        if check.cuda
        else check.skipped("paged optimizers are CUDA-only; the trainer fell back to AdamW, as reported"),
    }
    if not check.cuda:
        figures["peak_memory_bytes"] = check.skipped(
            f"max_memory_allocated needs CUDA (CPU peak RSS: {report.get('peak_memory_bytes')} bytes)"
        )
    if check.cuda and not paged:
        raise RuntimeError(f"paged AdamW was not used: {report.get('fallbacks')}")
    if not figures["loss_falls"] and not check.cpu_smoke:
        raise RuntimeError(f"training loss did not fall: {losses}")
    return figures


def generate(check: Check, folder: Path, work: Path, adapters: dict) -> dict:
    from arena.generation.runner import generate_answers
    from arena.models.base import GenerationParams
    from arena.models.spec import ModelSpec
    from arena.prompts import load_prompt_set
    from arena.store import ResultsStore

    prompts = load_prompt_set("sample")
    store = ResultsStore(work / "generations")
    params = GenerationParams(max_new_tokens=8 if check.cpu_smoke else 128, greedy=True)
    figures = {}
    for name, (options, adapter) in adapters.items():
        spec = ModelSpec(
            name, "hf", str(folder), {**options, "adapter": str(adapter), "prompt_format": "guanaco", "batch_size": 12}
        )
        report = generate_answers(
            store, prompts, spec, params, limit=3 if check.cpu_smoke else None, show_progress=False
        )
        figures[f"{name}_tokens_per_second"] = round(report.tokens_per_second, 1)
        figures[f"{name}_answers"] = report.generated
    figures["nf4_over_bf16_speed"] = round(
        figures["qlora-nf4_tokens_per_second"] / max(figures["lora-bf16_tokens_per_second"], 1e-9), 3
    )
    return figures


def _env(work: Path) -> dict:
    return {
        **os.environ,
        "ARENA_HOME": str(work / "home"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        "HF_HUB_OFFLINE": "1",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny model; CUDA-only figures reported as skipped")
    parser.add_argument("--out", type=Path, default=None, help="also write the summary to OUT/gpu_check.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    check = Check(args.cpu_smoke)
    if not check.cuda and not args.cpu_smoke:
        print(json.dumps({**check.summary, "error": "no CUDA device: run with --cpu-smoke on a CPU machine"}, indent=2))
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        os.environ["ARENA_HOME"] = str(work / "home")
        model = work / "model"
        check.step("build", build_model, model, TINY if args.cpu_smoke else FULL)
        check.step("load", load_memory, check, model)
        nf4 = {"quantization": "4bit", "quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"}
        trained = {}
        for name, quantization, options in (("qlora-nf4", "4bit", nf4), ("lora-bf16", "none", {"dtype": "bfloat16"})):
            if check.step(f"finetune_{name}", finetune, check, model, work, name, quantization) is not None:
                trained[name] = (options, work / name / "adapter")
        steps = check.summary["steps"]
        if (
            {"finetune_qlora-nf4", "finetune_lora-bf16"} <= steps.keys()
            and all(steps[s]["ok"] for s in ("finetune_qlora-nf4", "finetune_lora-bf16"))
            and check.cuda
        ):
            steps["finetune_memory"] = {
                "ok": True,
                "qlora_over_lora_peak": round(
                    steps["finetune_qlora-nf4"]["peak_memory_bytes"] / steps["finetune_lora-bf16"]["peak_memory_bytes"],
                    3,
                ),
            }
        if len(trained) == 2:
            check.step("generate", generate, check, model, work, trained)
        else:
            steps["generate"] = {"ok": False, "error": "no trained adapters to generate with"}
    check.summary["seconds"] = round(time.perf_counter() - started, 1)
    check.summary["ok"] = all(s["ok"] for s in check.summary["steps"].values())
    text = json.dumps(check.summary, indent=2, default=str)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(text)
    return 0 if check.summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
