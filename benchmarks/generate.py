"""Generation speed and memory of the offline test model (SmolLM2-135M-Instruct) on the `sample` prompts,
with every comparison measured in the same run:

- tokens/s at batch 1 vs batch 8 (goal: batched >= 3x), greedy, fixed max_new_tokens;
- fp32 (the GGUF dequantized) vs bitsandbytes 4-bit NF4 with double quantization;
- model memory footprint fp32 vs NF4.

    python benchmarks/generate.py [--max-new-tokens 48] [--prompts 12]
"""

from __future__ import annotations

import argparse
import time

from arena.generation.runner import next_request
from arena.models.base import GenerationParams, backend_factory
from arena.models.spec import PRESETS, ModelSpec
from arena.prompts import load_prompt_set


def throughput(model, requests, params) -> tuple[float, int, float]:
    started = time.perf_counter()
    generations = model.generate(requests, params)
    seconds = time.perf_counter() - started
    tokens = sum(g.tokens for g in generations)
    return tokens / seconds, tokens, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--prompts", type=int, default=12)
    args = parser.parse_args()

    prompts = load_prompt_set("sample").prompts[: args.prompts]
    requests = [next_request(p, []) for p in prompts]
    params = GenerationParams(greedy=True, max_new_tokens=args.max_new_tokens)
    base = PRESETS["smollm2-135m-q4"]
    nf4 = ModelSpec(
        "smollm2-nf4",
        "hf",
        base.path,
        {**base.options, "quantization": "4bit", "quant_type": "nf4", "double_quant": True, "compute_dtype": "float32"},
    )
    results = {}
    for label, spec in (("fp32", base), ("nf4", nf4)):
        model = backend_factory("hf")(spec)
        footprint = model.model.get_memory_footprint()
        model.generate(requests[:1], GenerationParams(greedy=True, max_new_tokens=4))  # warm-up
        for batch in (1, 8):
            model.batch_size = batch
            rate, tokens, seconds = throughput(model, requests, params)
            results[(label, batch)] = rate
            print(f"{label:5s} batch {batch}: {rate:7.1f} tokens/s ({tokens} tokens in {seconds:.1f} s)")
        results[(label, "footprint")] = footprint
        print(f"{label:5s} model footprint: {footprint / 2**20:.0f} MiB")
        del model

    for label in ("fp32", "nf4"):
        ratio = results[(label, 8)] / results[(label, 1)]
        print(f"{label}: batch 8 / batch 1 = {ratio:.2f}x (goal >= 3x) {'PASS' if ratio >= 3 else 'BELOW GOAL'}")
    print(f"batch 8 tokens/s, nf4 / fp32 = {results[('nf4', 8)] / results[('fp32', 8)]:.2f}x")
    print(
        f"footprint nf4 / fp32 = {results[('nf4', 'footprint')] / results[('fp32', 'footprint')]:.2f} "
        f"({results[('fp32', 'footprint')] / results[('nf4', 'footprint')]:.1f}x smaller)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
