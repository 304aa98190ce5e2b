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
    """One spending cap for a whole command (every protocol and judge in it). Each attempt of a call
    reserves its worst case before it is sent and is settled with what the server reported afterwards, so
    the money counted from every usage block received (plus the reservations of calls cut off, which may
    have been billed) never passes `max_cost`."""

    def __init__(self, max_cost: float | None):
        self.max_cost = max_cost
        self.spent = 0.0
        self.reserved = 0.0
        self.cut_off = 0  # attempts that timed out or lost their connection after sending
        self.cut_off_cost = 0.0
        self.without_usage = 0  # replies whose server reported no usage: charged from their length

    def reserve(self, worst_case: float) -> bool:
        if self.max_cost is not None and self.spent + self.reserved + worst_case > self.max_cost + 1e-12:
            return False
        self.reserved += worst_case
        return True

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.spent += actual

    def describe(self) -> str:
        parts = []
        if self.cut_off:
            parts.append(f"{self.cut_off} calls were cut off (timeout or dropped connection) after sending; their "
                         f"reservations (${self.cut_off_cost:.4f}) are counted as spent, since they may have been billed")
        if self.without_usage:
            parts.append(f"{self.without_usage} replies came without a usage block; their cost was estimated from "
                         "the prompt and reply lengths")
        return "; ".join(parts)


class CallMeter:
    """The spending of one judge call, attempt by attempt (the shape `arena.models.http.chat_completion`
    reports to). The worst case is the whole prompt at one token per UTF-8 byte (no tokenizer makes more)
    plus a reply of `max_tokens`."""

    MESSAGE_OVERHEAD_TOKENS = 8

    def __init__(self, budget: CostBudget, price: Price, messages: list[str], max_tokens: int, on_first_missing_usage=None):
        self.budget, self.price = budget, price
        self.prompt_estimate = sum(len(m) for m in messages) // CHARS_PER_TOKEN + 1
        worst_prompt = sum(len(m.encode()) + self.MESSAGE_OVERHEAD_TOKENS for m in messages) + self.MESSAGE_OVERHEAD_TOKENS
        self.worst_case = price.cost(worst_prompt, max_tokens)
        self.on_first_missing_usage = on_first_missing_usage
        self.cost = 0.0
        self.tokens = {"prompt": 0, "completion": 0}

    def before_attempt(self) -> bool:
        return self.budget.reserve(self.worst_case)

    def billed(self, usage: dict | None, reply_chars: int) -> None:
        """A reply came back (readable or not): the provider bills it."""
        prompt, completion = _usage_tokens(usage)
        if prompt is None:
            prompt, completion = self.prompt_estimate, reply_chars // CHARS_PER_TOKEN + 1
            self.budget.without_usage += 1
            if self.budget.without_usage == 1 and self.on_first_missing_usage:
                self.on_first_missing_usage()
        self.tokens = {"prompt": self.tokens["prompt"] + prompt, "completion": self.tokens["completion"] + completion}
        self._settle(self.price.cost(prompt, completion))

    def unbilled(self) -> None:
        """An error status or a connection never made: nothing was generated."""
        self._settle(0.0)

    def cut_off(self) -> None:
        """Sent, but no reply was read: it may have been billed, so its whole reservation counts."""
        self.budget.cut_off += 1
        self.budget.cut_off_cost += self.worst_case
        self._settle(self.worst_case)

    def _settle(self, cost: float) -> None:
        self.budget.settle(self.worst_case, cost)
        self.cost += cost


def _usage_tokens(usage) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (prompt, completion)):
        return None, None
    return prompt, completion


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
