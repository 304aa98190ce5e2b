"""Calls to OpenAI-compatible endpoints, with one retry policy object shared by every caller (generation
and judging): exponential backoff with jitter on 429, 5xx, timeouts and dropped connections, honouring
Retry-After. Failures are exceptions, never sentinel strings."""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass
from typing import Protocol

from arena.errors import ArenaError

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 120.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_delay)
            except ValueError:
                pass
        return min(self.max_delay, self.base_delay * 2 ** attempt) * random.uniform(0.5, 1.0)


def run_sync(coroutine):
    """Run a coroutine to completion from synchronous code, also when this thread already runs an event
    loop (Jupyter, or a host application): then it runs on a worker thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class RequestFailed(Exception):
    """An endpoint call that failed for good (after retries, or with a non-retryable answer): no reply to
    store. `status` is the HTTP status of the last answer, if there was one."""

    def __init__(self, message: str, status: int | None = None, unreachable: bool = False):
        super().__init__(message)
        self.status = status
        self.unreachable = unreachable  # the last attempt could not even connect (DNS, refused)

    @property
    def fatal(self) -> bool:
        """Wrong key, no permission or unknown model: every other call would fail the same way."""
        return self.status in (401, 403, 404)


class NotSent(Exception):
    """The attempt's meter refused it (the spending cap could be crossed); nothing was sent."""


class AttemptMeter(Protocol):
    """What a caller that pays per call learns about each attempt (see arena.judging.budget.CallMeter)."""

    def before_attempt(self) -> bool: ...
    def billed(self, usage: dict | None, reply_chars: int) -> None: ...
    def unbilled(self) -> None: ...
    def cut_off(self) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str | None

    @classmethod
    def from_options(cls, options: dict, default_base: str = "https://api.openai.com/v1") -> "Endpoint":
        """Key from the named environment variable; a missing key fails before any work starts."""
        base_url = options.get("base_url") or os.environ.get("OPENAI_BASE_URL") or default_base
        key_env = options.get("api_key_env", "OPENAI_API_KEY")
        key = os.environ.get(key_env)
        if not key and options.get("require_key", "api.openai.com" in base_url):
            raise ArenaError(f"no API key: set the environment variable {key_env} (endpoint {base_url})")
        return cls(base_url.rstrip("/"), key)


async def chat_completion(client, endpoint: Endpoint, payload: dict, policy: RetryPolicy,
                          meter: AttemptMeter | None = None) -> dict:
    """POST /chat/completions and return the parsed JSON, retrying what is worth retrying. Each attempt is
    reported to `meter`: a reply that came back is billed whatever its body, an error status is not, and one
    cut off after sending may have been."""
    import httpx

    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    last_problem, last_status, unreachable = "no attempt made", None, False
    for attempt in range(policy.attempts):
        if meter is not None and not meter.before_attempt():
            raise NotSent("the spending cap could be crossed by this call")
        retry_after, unreachable = None, False
        try:
            response = await client.post(f"{endpoint.base_url}/chat/completions", json=payload, headers=headers,
                                         timeout=policy.timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if meter is not None:
                meter.unbilled()
            last_problem, last_status = f"cannot connect to {endpoint.base_url}: {exc or type(exc).__name__}", None
            unreachable = True
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            if meter is not None:
                meter.cut_off()
            last_problem, last_status = f"{type(exc).__name__}: {exc}", None
        else:
            last_status = response.status_code
            if response.status_code == 200:
                data = _json_or_none(response)
                if meter is not None:
                    meter.billed(data.get("usage") if isinstance(data, dict) else None, len(response.content))
                if _has_message(data):
                    return data
                last_problem = f"malformed response: {response.text[:200]!r}"
            else:
                if meter is not None:
                    meter.unbilled()
                if response.status_code not in RETRYABLE_STATUS:
                    raise RequestFailed(f"HTTP {response.status_code} from {endpoint.base_url}: {response.text[:300]}",
                                        response.status_code)
                last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
                retry_after = response.headers.get("retry-after")
        if attempt + 1 < policy.attempts:
            await asyncio.sleep(policy.delay(attempt, retry_after))
    raise RequestFailed(f"gave up after {policy.attempts} attempts: {last_problem}", last_status, unreachable)


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def _has_message(data) -> bool:
    try:
        return isinstance(data["choices"][0]["message"], dict)
    except (KeyError, IndexError, TypeError):
        return False
