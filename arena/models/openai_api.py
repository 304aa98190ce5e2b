"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Azure, a vLLM or llama.cpp server), called
concurrently with a limit."""

from __future__ import annotations

import asyncio
import time

from arena.errors import ArenaError, CallsFailed
from arena.judging.budget import CallMeter, Price, current_budget
from arena.models.base import ChatModel, Generation, GenerationParams, GenerationRequest, register_backend
from arena.models.endpoints import EndpointPool
from arena.models.http import Endpoint, NotSent, RequestFailed, RetryPolicy, chat_completion, open_session, run_sync
from arena.models.options import DEFAULT_ANSWER_CONCURRENCY
from arena.models.spec import ModelSpec

_FINISH = {"stop": "stop", "length": "length", "content_filter": "stop"}


class OpenAIChatModel(ChatModel):
    """Answers through one endpoint or several (a list of base URLs). Under a capped command (`--max-cost`)
    every call reserves its worst case in the command's one budget, so generation and judging share the cap;
    calls the cap refuses come back as "missing" answers (nothing stored) and the command exits 3."""

    def __init__(self, spec: ModelSpec):
        self.name = spec.name
        self.model_id = spec.path or spec.name
        self.endpoints = EndpointPool.from_options(spec.options)
        self.endpoint = self.endpoints.states[0].endpoint
        self.concurrency = int(spec.option("max_concurrency", DEFAULT_ANSWER_CONCURRENCY))
        self.policy = RetryPolicy(
            attempts=int(spec.option("retries", 5)) + 1,
            timeout=float(spec.option("timeout", 120)),
            base_delay=float(spec.option("retry_base_delay", 1.0)),
        )
        self.price = Price.for_model(self.model_id, spec.options)

    def describe(self) -> dict:
        facts = {"backend": "openai", "model": self.model_id, "base_url": self.endpoints.base_url}
        if self.endpoints.summary():  # several endpoints: how many calls each served so far
            facts["endpoints"] = self.endpoints.summary()
        return facts

    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Generation]:
        return run_sync(self._generate_all(requests, params))

    async def _generate_all(self, requests, params) -> list[Generation]:
        limit = asyncio.Semaphore(self.concurrency)
        budget = current_budget.get()
        async with open_session(self.concurrency) as session:

            async def one(request: GenerationRequest) -> Generation:
                payload = {
                    "model": self.model_id,
                    "max_tokens": params.max_new_tokens,
                    "seed": params.seed,
                    "messages": [{"role": m.role, "content": m.content} for m in request.messages],
                }
                payload.update(
                    {"temperature": 0.0}
                    if params.greedy
                    else {"temperature": params.temperature, "top_p": params.top_p}
                )
                meter = (
                    None
                    if budget is None
                    else CallMeter(budget, self.price, [m.content for m in request.messages], params.max_new_tokens)
                )
                async with limit:
                    started = time.perf_counter()
                    try:
                        data = await chat_completion(session, self.endpoints, payload, self.policy, meter)
                    except NotSent:
                        return Generation("", "missing")
                    except RequestFailed as exc:
                        error = ArenaError if exc.fatal else CallsFailed
                        raise error(f"model '{self.name}' at {self.endpoints.base_url}: {exc}") from None
                choice = data["choices"][0]
                text = (choice["message"].get("content") or "").strip()
                reason = "empty" if not text else _FINISH.get(choice.get("finish_reason"), "stop")
                tokens = (data.get("usage") or {}).get("completion_tokens")
                return Generation(text, reason, tokens=tokens, seconds=time.perf_counter() - started)

            return list(await asyncio.gather(*(one(r) for r in requests)))


@register_backend("openai", check=lambda spec: Endpoint.from_options(spec.options))
def load(spec: ModelSpec) -> ChatModel:
    return OpenAIChatModel(spec)
