"""Several endpoints serving one model (one vLLM server per GPU node, several provider regions): each call
goes to the healthy endpoint with the fewest calls outstanding; a failed call is retried on another.

An endpoint that fails the same way `breaker_failures` times in a row (or refuses connections: nothing is
listening there) is rested for `rest_seconds`, doubling each time it fails again after a rest, and the run goes
on with the others. When every endpoint is resting, the circuit is open: the calls left fail at once with
CircuitOpen instead of retrying a dead endpoint for minutes. Rate limiting (429) and slow replies never rest
an endpoint: they are what a busy healthy endpoint does. With `rest_seconds` 0 no endpoint is ever rested (the
Batch API's one server, which holds the batches: retried there whatever happens)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from arena.models.http import CircuitOpen, Endpoint

DEFAULT_BREAKER_FAILURES = 5
DEFAULT_REST_SECONDS = 30.0


@dataclass
class EndpointState:
    endpoint: Endpoint
    outstanding: int = 0
    served: int = 0  # calls answered here
    failures: int = 0  # failed attempts here
    streak: int = 0  # identical failures in a row, since the last success
    streak_signature: str | None = None
    last_failure: str = ""
    rested_until: float = 0.0
    rests: int = 0  # rests since the last success: each one twice as long
    times_rested: int = 0

    def resting(self, now: float) -> bool:
        return now < self.rested_until


class EndpointPool:
    def __init__(
        self,
        endpoints: list[Endpoint],
        breaker_failures: int = DEFAULT_BREAKER_FAILURES,
        rest_seconds: float = DEFAULT_REST_SECONDS,
    ):
        self.states = [EndpointState(e) for e in endpoints]
        self.breaker_failures = breaker_failures
        self.rest_seconds = rest_seconds

    @classmethod
    def from_options(cls, options: dict) -> EndpointPool:
        return cls(
            Endpoint.all_from_options(options),
            int(options.get("breaker_failures", DEFAULT_BREAKER_FAILURES)),
            float(options.get("rest_seconds", DEFAULT_REST_SECONDS)),
        )

    @property
    def base_url(self) -> str:
        """The endpoints, for messages."""
        return ", ".join(s.endpoint.base_url for s in self.states)

    def pick(self, tried: list[EndpointState]) -> EndpointState:
        """The least busy healthy endpoint, preferring those this call has not tried yet."""
        now = time.monotonic()
        healthy = [s for s in self.states if not s.resting(now)]
        if not healthy:
            worst = max(self.states, key=lambda s: s.streak)
            if all((s.streak_signature or "").startswith("Unreachable") for s in self.states):
                raise CircuitOpen(f"no endpoint accepts connections ({worst.last_failure})", None)
            raise CircuitOpen(
                f"every endpoint failed the same way {worst.streak} times in a row (circuit "
                f"breaker; last: {worst.last_failure})",
                None,
            )
        untried = [s for s in healthy if all(s is not t for t in tried)]
        return min(untried or healthy, key=lambda s: s.outstanding)

    def has_untried(self, tried: list[EndpointState]) -> bool:
        now = time.monotonic()
        return any(not s.resting(now) and all(s is not t for t in tried) for s in self.states)

    def succeeded(self, state: EndpointState) -> None:
        state.served += 1
        state.streak, state.streak_signature, state.rests = 0, None, 0

    def failed(self, state: EndpointState, signature: str | None, message: str) -> None:
        """Count a failed attempt; rest the endpoint after enough identical ones (`signature` None: a
        failure that says nothing about the endpoint's health)."""
        state.failures += 1
        state.last_failure = message
        if signature is None:
            return
        state.streak = state.streak + 1 if signature == state.streak_signature else 1
        state.streak_signature = signature
        if self.rest_seconds <= 0:
            return
        refused = signature.startswith("Unreachable")
        if (refused or state.streak >= self.breaker_failures) and not state.resting(time.monotonic()):
            state.rested_until = time.monotonic() + self.rest_seconds * 2**state.rests
            state.rests += 1
            state.times_rested += 1

    def summary(self) -> str:
        """How many calls each endpoint served (empty with one endpoint: nothing to tell apart)."""
        if len(self.states) < 2:
            return ""
        parts = []
        for s in self.states:
            text = f"{s.endpoint.base_url} served {s.served}"
            if s.failures:
                text += (
                    f" ({s.failures} failed attempts" + (f", rested {s.times_rested}x" if s.times_rested else "") + ")"
                )
            parts.append(text)
        return "endpoints: " + "; ".join(parts)
