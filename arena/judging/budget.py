"""Money and rate guards for paid judges: a price table, a cost budget that reserves before each call
(so a run stops before going over, not after), and a token-bucket request limiter."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

# USD per million tokens (input, output). Override per model with price_in / price_out options.
PRICES = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-0314": (30.0, 60.0),
    "gpt-4-0613": (30.0, 60.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-3.5-turbo": (0.5, 1.5),
}
CHARS_PER_TOKEN = 4  # rough, for estimates before any call is made


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float

    @classmethod
    def for_model(cls, model_id: str, options: dict) -> "Price":
        default = PRICES.get(model_id, (0.0, 0.0))
        return cls(float(options.get("price_in", default[0])), float(options.get("price_out", default[1])))

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6

    def estimate(self, prompt_chars: int, completion_tokens: int) -> float:
        return self.cost(prompt_chars // CHARS_PER_TOKEN + 1, completion_tokens)


class CostBudget:
    """Reserve the estimated cost of a call before making it; settle with the real cost afterwards."""

    def __init__(self, max_cost: float | None):
        self.max_cost = max_cost
        self.spent = 0.0
        self.reserved = 0.0

    def reserve(self, estimate: float) -> bool:
        if self.max_cost is not None and self.spent + self.reserved + estimate > self.max_cost:
            return False
        self.reserved += estimate
        return True

    def settle(self, estimate: float, actual: float) -> None:
        self.reserved -= estimate
        self.spent += actual


class RateLimiter:
    """Token bucket: at most `per_minute` requests a minute, in bursts of up to `burst`."""

    def __init__(self, per_minute: float | None, burst: int = 1):
        self.rate = per_minute / 60.0 if per_minute else None
        self.capacity = max(1, burst)
        self.tokens = float(self.capacity)
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate is None:
            return
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)
