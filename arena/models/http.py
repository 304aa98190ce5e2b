"""Calls to OpenAI-compatible endpoints, with one retry policy object shared by every caller (generation
and judging): exponential backoff with jitter on 429, 5xx, timeouts and dropped connections, honouring
Retry-After. Failures are exceptions, never sentinel strings."""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass

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
    """An endpoint call that failed for good (after retries, or with a non-retryable answer)."""


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


async def chat_completion(client, endpoint: Endpoint, payload: dict, policy: RetryPolicy) -> dict:
    """POST /chat/completions and return the parsed JSON, retrying what is worth retrying."""
    import httpx

    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    last_problem = "no attempt made"
    for attempt in range(policy.attempts):
        retry_after = None
        try:
            response = await client.post(f"{endpoint.base_url}/chat/completions", json=payload, headers=headers,
                                         timeout=policy.timeout)
            if response.status_code == 200:
                try:
                    data = response.json()
                    data["choices"][0]["message"]
                    return data
                except (ValueError, KeyError, IndexError, TypeError):
                    last_problem = f"malformed response: {response.text[:200]!r}"
            elif response.status_code in RETRYABLE_STATUS:
                last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
                retry_after = response.headers.get("retry-after")
            else:
                raise RequestFailed(f"HTTP {response.status_code} from {endpoint.base_url}: {response.text[:300]}")
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            last_problem = f"{type(exc).__name__}: {exc}"
        if attempt + 1 < policy.attempts:
            await asyncio.sleep(policy.delay(attempt, retry_after))
    raise RequestFailed(f"gave up after {policy.attempts} attempts: {last_problem}")
