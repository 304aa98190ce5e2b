"""Calls to OpenAI-compatible endpoints, through one request loop and one retry policy object shared by every
caller (generation, judging, the Batch API): exponential backoff with jitter on 429, 5xx, timeouts and dropped
connections, honouring Retry-After. Failures are exceptions, one type per kind of failure, never sentinel strings.

The client is aiohttp: on this project's 2-core machines it keeps 90% of a 0.5 s endpoint's capacity at 256
calls in flight, where httpx's own connection pool kept 7% (measured for issue 25). A call may go to
one of several endpoints (arena.models.endpoints): the least busy healthy one, another one on a retry."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from arena.errors import ArenaError

if TYPE_CHECKING:
    from arena.models.endpoints import EndpointPool

T = TypeVar("T")

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
        return min(self.max_delay, self.base_delay * 2**attempt) * random.uniform(0.5, 1.0)


def raise_if_cancelled() -> None:
    """Stop here if this task has been cancelled (Ctrl-C: asyncio.run cancels the run) but the cancellation
    never reached us: a library can swallow one that lands at the very moment its own timer or read completes,
    and the call then returns as if nothing happened (seen once in CI: a batch run that kept polling after
    Ctrl-C). `Task.cancelling()` (Python 3.11) still counts the request, so a Ctrl-C is never lost."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def run_sync(coroutine):
    """Run a coroutine to completion from synchronous code, also when this thread already runs an event
    loop (Jupyter, Playwright's sync API, a host application): then it runs on a worker thread with its own
    loop, in a copy of the caller's context, so the spending cap (a context variable) still applies there."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, coroutine).result()


class RequestFailed(Exception):
    """An endpoint call that failed for good (after retries, or with a non-retryable answer): no reply to
    store. `status` is the HTTP status of the last answer, if there was one. Each kind of failure is its own
    subclass below; callers that only need "no reply" catch this one."""

    def __init__(self, message: str, status: int | None = None, unreachable: bool = False):
        super().__init__(message)
        self.status = status
        self.unreachable = unreachable  # the last attempt could not even connect (DNS, refused)

    @property
    def fatal(self) -> bool:
        """Wrong key, no permission or unknown model: every other call would fail the same way."""
        return self.status in (401, 403, 404)


class Unreachable(RequestFailed):
    """No endpoint accepted a connection (refused, DNS, connect timeout): nothing was sent."""

    def __init__(self, message: str):
        super().__init__(message, None, unreachable=True)


class ErrorStatus(RequestFailed):
    """The endpoint answered with an HTTP error status (a non-retryable one, or a retryable one every time)."""


class ContextTooLong(ErrorStatus):
    """HTTP 400 context_length_exceeded: the prompt does not fit the model's context window. Retrying or
    rerunning cannot help; the prompt itself has to change (or the judge)."""


class CutOff(RequestFailed):
    """Sent, but no complete reply came back (timeout, reset, a body cut short): it may have been billed."""


class Malformed(RequestFailed):
    """A complete reply whose body is not a chat completion (not JSON, no choices)."""


class Unconfirmed(RequestFailed):
    """A call that must not take effect twice (`request(once=True)`: it creates something billable) was sent,
    and its answer was lost (cut off, a 5xx as from a proxy losing it): it may have taken effect, so it is not
    sent again; the caller looks for what it would have made."""


class CircuitOpen(RequestFailed):
    """Every endpoint failed the same way several times in a row (circuit breaker): the calls left are not
    sent, since they would fail the same way. `cause` is the repeated failure."""


class NotSent(Exception):
    """The attempt's meter refused it (the spending cap could be crossed); nothing was sent."""


class AttemptMeter(Protocol):
    """What a caller that pays per call learns about each attempt (see arena.judging.budget.CallMeter).
    `admit` may wait for money held by calls in flight; False means the attempt must not be sent."""

    async def admit(self) -> bool: ...
    def billed(self, usage: dict | None, reply_chars: int, readable: bool = True) -> None: ...
    def unbilled(self) -> None: ...
    def cut_off(self) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str | None

    @classmethod
    def from_options(cls, options: dict, default_base: str = "https://api.openai.com/v1") -> Endpoint:
        """Key from the named environment variable; a missing key fails before any work starts. With several
        base URLs (a list), the first; `EndpointPool.from_options` takes them all."""
        return cls.all_from_options(options, default_base)[0]

    @classmethod
    def all_from_options(cls, options: dict, default_base: str = "https://api.openai.com/v1") -> list[Endpoint]:
        configured = options.get("base_url") or os.environ.get("OPENAI_BASE_URL") or default_base
        urls = [configured] if isinstance(configured, str) else list(configured)
        key_env = options.get("api_key_env", "OPENAI_API_KEY")
        key = os.environ.get(key_env)
        if not key and options.get("require_key", any("api.openai.com" in url for url in urls)):
            raise ArenaError(f"no API key: set the environment variable {key_env} (endpoint {urls[0]})")
        return [cls(url.rstrip("/"), key) for url in urls]


def open_session(concurrency: int):
    """An aiohttp session for up to `concurrency` calls at once (one kept-alive connection each)."""
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=0, ttl_dns_cache=300),
        skip_auto_headers=("User-Agent",),
    )


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: what it was (the exception type to raise if it is the last), whether to retry."""

    kind: type[RequestFailed]
    message: str
    status: int | None = None
    retry_after: str | None = None
    retryable: bool = True
    transient: bool = False  # rate limiting and slow replies: retried, but never a reason to rest an endpoint

    @property
    def signature(self) -> str | None:
        """Failures with the same signature are "identical" to the circuit breaker; None: not counted."""
        return None if self.transient else f"{self.kind.__name__}:{self.status}"

    @property
    def unconfirmed(self) -> bool:
        """Sent, and nothing that came back says the server did not act on it (cut off, a 5xx, an unreadable
        reply): a call that must not take effect twice is not sent again after this."""
        return self.kind in (CutOff, Malformed) or (self.status or 0) >= 500


async def _attempt(
    session,
    endpoint: Endpoint,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict,
    policy: RetryPolicy,
    meter: AttemptMeter | None,
    read: Callable[[bytes], T | None],
    per_read_timeout: bool,
) -> T | _Failure:
    """One request; what `read` makes of a 2xx reply's body, or what went wrong. The meter learns whether the
    attempt may have been billed: an error status is not, one cut off after sending may have been, and a reply
    that came back is `read`'s to bill."""
    import aiohttp

    if per_read_timeout:  # file transfers: any size, as long as they keep moving
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=policy.timeout, sock_read=policy.timeout)
    else:
        timeout = aiohttp.ClientTimeout(total=policy.timeout)
    try:
        async with session.request(
            method, f"{endpoint.base_url}{path}", data=body, headers=headers, timeout=timeout
        ) as response:
            content = await response.read()
            status = response.status
            retry_after = response.headers.get("Retry-After")
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        if meter is not None:
            meter.unbilled()
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return _Failure(Unreachable, f"cannot connect to {endpoint.base_url}: {reason}")
    except (TimeoutError, aiohttp.ClientError) as exc:  # read timeout, reset, server gone, body cut short
        if meter is not None:
            meter.cut_off()
        if isinstance(exc, TimeoutError):  # a slow reply is no sign of a broken endpoint: not a breaker count
            return _Failure(CutOff, f"no reply from {endpoint.base_url} within {policy.timeout:g} s", transient=True)
        return _Failure(CutOff, f"{type(exc).__name__} from {endpoint.base_url}" + (f": {exc}" if str(exc) else ""))
    except asyncio.CancelledError:  # Ctrl-C or a stopped run, after sending: it may have been billed
        if meter is not None:
            meter.cut_off()
        raise
    if 200 <= status < 300:
        result = read(content)
        if result is not None:
            return result
        return _Failure(Malformed, f"malformed response from {endpoint.base_url}: {content[:200]!r}", status)
    if meter is not None:
        meter.unbilled()
    text = content[:300].decode(errors="replace")
    if status == 400 and ("context_length_exceeded" in text or "maximum context length" in text):
        return _Failure(ContextTooLong, f"HTTP 400 from {endpoint.base_url}: {text}", status, retryable=False)
    return _Failure(
        ErrorStatus,
        f"HTTP {status} from {endpoint.base_url}: {text}",
        status,
        retry_after,
        retryable=status in RETRYABLE_STATUS,
        transient=status == 429,
    )


async def request(
    session,
    endpoints: Endpoint | EndpointPool,
    method: str,
    path: str,
    policy: RetryPolicy,
    read: Callable[[bytes], T | None],
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    meter: AttemptMeter | None = None,
    once: bool = False,
    per_read_timeout: bool = False,
) -> T:
    """`method` `path` under an endpoint (`session` from `open_session`), retrying what is worth retrying
    (408, 409, 429, 5xx, timeouts, dropped connections, with backoff and Retry-After), on another endpoint when
    there are several. A 2xx reply's body goes through `read`: its result is returned; None means an unreadable
    reply (Malformed, retried). `once`: the call must not take effect twice (it creates something billable), so
    after a failure that may have followed the server's action (cut off, 5xx) it raises Unconfirmed instead of
    sending again; a connection never made is still retried. `per_read_timeout`: the policy's timeout bounds
    each read rather than the whole call. Raises one RequestFailed subclass per kind of failure, or NotSent when
    the meter refuses an attempt."""
    from arena.models.endpoints import EndpointPool

    pool = endpoints if isinstance(endpoints, EndpointPool) else EndpointPool([endpoints])
    failure: _Failure | None = None
    tried: list = []
    for attempt in range(policy.attempts):
        if meter is not None and not await meter.admit():
            raise NotSent("the spending cap could be crossed by this call")
        try:
            state = pool.pick(tried)
        except CircuitOpen:
            if meter is not None:
                meter.unbilled()
            raise
        headers = {"Content-Type": content_type} if content_type else {}
        if state.endpoint.api_key:
            headers["Authorization"] = f"Bearer {state.endpoint.api_key}"
        state.outstanding += 1
        try:
            result = await _attempt(
                session, state.endpoint, method, path, body, headers, policy, meter, read, per_read_timeout
            )
        finally:
            state.outstanding -= 1
        raise_if_cancelled()
        if not isinstance(result, _Failure):
            pool.succeeded(state)
            return result
        failure = result
        pool.failed(state, failure.signature, failure.message)
        if once and failure.unconfirmed:
            raise Unconfirmed(failure.message, failure.status)
        if not failure.retryable:
            raise failure.kind(failure.message, failure.status)
        tried.append(state)
        if attempt + 1 < policy.attempts and not pool.has_untried(tried):
            # An endpoint this call has not tried yet is tried at once; the others after the backoff.
            await asyncio.sleep(policy.delay(attempt, failure.retry_after))
    assert failure is not None
    message = f"gave up after {policy.attempts} attempts: {failure.message}"
    if failure.kind is Unreachable:
        raise Unreachable(message)
    raise failure.kind(message, failure.status)


async def chat_completion(
    session, endpoints: Endpoint | EndpointPool, payload: dict, policy: RetryPolicy, meter: AttemptMeter | None = None
) -> dict:
    """POST /chat/completions and return the parsed JSON (see `request`). A reply that came back is billed
    whatever its body; one without a message is Malformed."""
    import orjson

    def read(content: bytes) -> dict | None:
        data = _json_or_none(content)
        readable = _has_message(data)
        if meter is not None:
            meter.billed(data.get("usage") if isinstance(data, dict) else None, len(content), readable)
        return data if readable else None

    return await request(
        session,
        endpoints,
        "POST",
        "/chat/completions",
        policy,
        read,
        body=orjson.dumps(payload),
        content_type="application/json",
        meter=meter,
    )


def _json_or_none(body: bytes):
    import orjson

    try:
        return orjson.loads(body)
    except ValueError:
        return None


def _has_message(data) -> bool:
    try:
        return isinstance(data["choices"][0]["message"], dict)
    except (KeyError, IndexError, TypeError):
        return False
