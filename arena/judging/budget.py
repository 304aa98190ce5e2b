"""Money and rate guards for paid judges: a price table, a cost budget that reserves before each call
(so a run stops before going over, not after), and a token-bucket request limiter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeGuard

from arena.errors import ArenaError
from arena.token_bucket import TokenBucket

logger = logging.getLogger(__name__)

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
    def for_model(cls, model_id: str, options: dict) -> Price:
        default = PRICES.get(model_id, (0.0, 0.0))
        return cls(float(options.get("price_in", default[0])), float(options.get("price_out", default[1])))

    @staticmethod
    def check_known(model_id: str, options: dict, who: str, max_cost: float | None) -> None:
        """A model priced neither by the table nor by price_in/price_out would count as free: under
        --max-cost that is refused before anything runs (the cap could never apply), else warned about."""
        if model_id in PRICES or ("price_in" in options and "price_out" in options):
            return
        advice = (
            f"set price_in and price_out (USD per million tokens) on [models.{who}] in arena.toml, e.g. "
            "price_in = 2.5 and price_out = 10.0 (0 for a free self-hosted endpoint)"
        )
        if max_cost is not None:
            raise ArenaError(
                f"'{who}' ({model_id}) has no known price, so --max-cost could not limit its spending: {advice}"
            )
        logger.warning(f"'{who}' ({model_id}) has no known price: its calls are counted as $0; {advice}")

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
        self.in_flight = 0  # reservations not settled yet
        self.cut_off = 0  # attempts that timed out or lost their connection after sending
        self.cut_off_cost = 0.0
        self.without_usage = 0  # replies whose server reported no usage: charged from their length
        self.refused = 0  # attempts the cap stopped (nothing in flight, and their worst case did not fit)
        self._waiting: list[asyncio.Future] = []  # attempts waiting for a settlement to free money

    def reserve(self, worst_case: float) -> bool:
        if self.max_cost is not None and self.spent + self.reserved + worst_case > self.max_cost + 1e-12:
            return False
        self.reserved += worst_case
        self.in_flight += 1
        return True

    def hold(self, worst_case: float) -> None:
        """Reserve whatever the cap says: money already owed (a batch submitted by an earlier run)."""
        self.reserved += worst_case
        self.in_flight += 1

    async def reserve_when_free(self, worst_case: float) -> bool:
        """Reserve, waiting while calls in flight hold the money it needs: their real usage is usually far
        below their worst case, so most of it comes back. False only when nothing is in flight and it still
        does not fit, so a capped run spends nearly all of its cap with fewer calls in flight at the end."""
        while not self.reserve(worst_case):
            if self.in_flight == 0:
                self.refused += 1
                return False
            settled = asyncio.get_running_loop().create_future()
            self._waiting.append(settled)
            await settled
        return True

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.in_flight -= 1
        if self.in_flight == 0:
            self.reserved = 0.0  # no float crumbs left from many additions and subtractions
        self.spent += actual
        waiting, self._waiting = self._waiting, []
        for settled in waiting:
            if not settled.done():
                settled.set_result(None)

    def describe(self) -> str:
        parts = []
        if self.cut_off:
            parts.append(
                f"{self.cut_off} calls were cut off (timeout or dropped connection) after sending; their "
                f"reservations (${self.cut_off_cost:.4f}) are counted as spent, since they may have been billed"
            )
        if self.without_usage:
            parts.append(
                f"{self.without_usage} replies came without a usage block; their cost was estimated from "
                "the prompt and reply lengths"
            )
        return "; ".join(parts)


class CallMeter:
    """The spending of one judge call, attempt by attempt (the shape `arena.models.http.chat_completion`
    reports to). The worst case is the whole prompt at one token per UTF-8 byte (no tokenizer makes more)
    plus a reply of `max_tokens`."""

    MESSAGE_OVERHEAD_TOKENS = 8

    def __init__(
        self, budget: CostBudget, price: Price, messages: list[str], max_tokens: int, on_first_missing_usage=None
    ):
        self.budget, self.price = budget, price
        self.prompt_estimate = sum(len(m) for m in messages) // CHARS_PER_TOKEN + 1
        worst_prompt = (
            sum(len(m.encode()) + self.MESSAGE_OVERHEAD_TOKENS for m in messages) + self.MESSAGE_OVERHEAD_TOKENS
        )
        self.worst_case = price.cost(worst_prompt, max_tokens)
        self.on_first_missing_usage = on_first_missing_usage
        self.cost = 0.0
        self.tokens = {"prompt": 0, "completion": 0}

    def before_attempt(self) -> bool:
        return self.budget.reserve(self.worst_case)

    async def admit(self) -> bool:
        """Like before_attempt, but waits for calls in flight to free money first (see reserve_when_free)."""
        return await self.budget.reserve_when_free(self.worst_case)

    def billed(self, usage: dict | None, reply_chars: int, readable: bool = True) -> None:
        """A reply came back (readable or not): the provider bills it. Only a readable reply without a usage
        block counts as one the server reported no usage for: an unreadable body says nothing of the server."""
        reported = _usage_tokens(usage)
        if reported is None:
            reported = self.prompt_estimate, reply_chars // CHARS_PER_TOKEN + 1
            if readable:
                self.budget.without_usage += 1
                if self.budget.without_usage == 1 and self.on_first_missing_usage:
                    self.on_first_missing_usage()
        prompt, completion = reported
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


# The one spending cap of the running command, for code that pays per call without being handed it (answer
# generation through a paid endpoint, called from the generation runner), so generation and judging in one
# command share one cap. Set by the command (`with spending(budget):`), None outside a capped command.
current_budget: ContextVar[CostBudget | None] = ContextVar("current_budget", default=None)


@contextmanager
def spending(budget: CostBudget) -> Iterator[CostBudget]:
    """`with spending(budget):` makes `budget` the current command's cap for the block."""
    token = current_budget.set(budget)
    try:
        yield budget
    finally:
        current_budget.reset(token)


def _usage_tokens(usage: object) -> tuple[int, int] | None:
    """(prompt, completion) tokens as the provider reported them; None when it reported no readable counts."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if _is_count(prompt) and _is_count(completion):
        return prompt, completion
    return None


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class RateLimiter:
    """At most `per_minute` requests a minute, in bursts of up to `burst`: `acquire` waits for a token."""

    def __init__(self, per_minute: float | None, burst: int = 1):
        self.bucket = TokenBucket(per_minute / 60.0, max(1, burst)) if per_minute else None
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.bucket is None:
            return
        async with self.lock:
            while wait := self.bucket.take():
                await asyncio.sleep(wait)
