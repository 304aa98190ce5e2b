"""vLLM on GPUs: `vllm.LLM` with optional bitsandbytes quantization and LoRA adapters (LoRARequest)."""

from __future__ import annotations

import importlib.util
import time

from arena.errors import ArenaError
from arena.models.base import ChatModel, Generation, GenerationParams, GenerationRequest, clean_answer, register_backend
from arena.models.formats import prompt_format_of, render_prompt, stop_marker
from arena.models.spec import ModelSpec


class VLLMChatModel(ChatModel):
    def __init__(self, spec: ModelSpec):
        if importlib.util.find_spec("vllm") is None:
            raise ArenaError(
                f"model '{spec.name}' uses the vllm backend, which is not installed: "
                "pip install -e '.[gpu]' on a machine with a GPU"
            )
        from vllm import LLM

        self.spec, self.name = spec, spec.name
        kwargs = {"model": spec.path, "seed": 0, "enable_lora": bool(spec.option("adapter"))}
        if spec.option("quantization") == "4bit":
            kwargs["quantization"] = "bitsandbytes"
        self.llm = LLM(**kwargs, **spec.option("vllm_args", {}))
        self.tokenizer = self.llm.get_tokenizer()
        self.prompt_format = prompt_format_of(spec, self.tokenizer)

    def describe(self) -> dict:
        return {"backend": "vllm", **self.spec.weights_record()}

    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest

        stop = stop_marker(self.prompt_format)
        sampling = SamplingParams(
            temperature=0.0 if params.greedy else params.temperature,
            top_p=1.0 if params.greedy else params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
            stop=[stop] if stop else None,
        )
        adapter = self.spec.option("adapter")
        lora = LoRARequest(self.name, 1, adapter) if adapter else None
        prompts = [render_prompt(self.prompt_format, r.messages, self.tokenizer) for r in requests]
        started = time.perf_counter()
        # arena shows its own progress; vLLM's bar divides by its elapsed time, 0 when tqdm is disabled (TQDM_DISABLE)
        outputs = self.llm.generate(prompts, sampling, lora_request=lora, use_tqdm=False)
        seconds = (time.perf_counter() - started) / max(len(prompts), 1)
        generations = []
        for output in outputs:
            completion = output.outputs[0]
            text, _ = clean_answer(completion.text, stop)
            reason = "empty" if not text else ("length" if completion.finish_reason == "length" else "stop")
            generations.append(Generation(text, reason, tokens=len(completion.token_ids), seconds=seconds))
        return generations


@register_backend("vllm")
def load(spec: ModelSpec) -> ChatModel:
    return VLLMChatModel(spec)
