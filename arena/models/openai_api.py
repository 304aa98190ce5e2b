"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Azure, a vLLM or llama.cpp server), called
concurrently with a limit."""

from __future__ import annotations

import asyncio
import time

from arena.errors import ArenaError
from arena.models.base import ChatModel, Generation, GenerationParams, GenerationRequest, register_backend
from arena.models.http import Endpoint, RequestFailed, RetryPolicy, chat_completion, run_sync
from arena.models.spec import ModelSpec

_FINISH = {"stop": "stop", "length": "length", "content_filter": "stop"}


class OpenAIChatModel(ChatModel):
    def __init__(self, spec: ModelSpec):
        self.name = spec.name
        self.model_id = spec.path or spec.name
        self.endpoint = Endpoint.from_options(spec.options)
        self.concurrency = int(spec.option("max_concurrency", 8))
        self.policy = RetryPolicy(attempts=int(spec.option("retries", 5)) + 1, timeout=float(spec.option("timeout", 120)))

    def describe(self) -> dict:
        return {"backend": "openai", "model": self.model_id, "base_url": self.endpoint.base_url}

    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Generation]:
        return run_sync(self._generate_all(requests, params))

    async def _generate_all(self, requests, params) -> list[Generation]:
        import httpx

        limit = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient() as client:
            async def one(request: GenerationRequest) -> Generation:
                payload = {"model": self.model_id, "max_tokens": params.max_new_tokens, "seed": params.seed,
                           "messages": [{"role": m.role, "content": m.content} for m in request.messages]}
                payload.update({"temperature": 0.0} if params.greedy
                               else {"temperature": params.temperature, "top_p": params.top_p})
                async with limit:
                    started = time.perf_counter()
                    try:
                        data = await chat_completion(client, self.endpoint, payload, self.policy)
                    except RequestFailed as exc:
                        raise ArenaError(f"model '{self.name}' at {self.endpoint.base_url}: {exc}") from None
                choice = data["choices"][0]
                text = (choice["message"].get("content") or "").strip()
                reason = "empty" if not text else _FINISH.get(choice.get("finish_reason"), "stop")
                tokens = (data.get("usage") or {}).get("completion_tokens")
                return Generation(text, reason, tokens=tokens, seconds=time.perf_counter() - started)

            return list(await asyncio.gather(*(one(r) for r in requests)))


@register_backend("openai", check=lambda spec: Endpoint.from_options(spec.options))
def load(spec: ModelSpec) -> ChatModel:
    return OpenAIChatModel(spec)
