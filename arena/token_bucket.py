"""The token-bucket arithmetic behind both request limits: a judge's calls a minute (judging.budget.RateLimiter,
which waits) and a rater link's votes a minute (web.app.TokenBuckets, which refuses)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """Holds up to `capacity` tokens (the burst), refilled at `per_second`; each request takes one. Not locked:
    each user holds its own lock around `take`."""

    per_second: float
    capacity: float
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.updated = float(self.capacity), time.monotonic()  # a new bucket starts full

    def take(self) -> float:
        """Take a token if there is one and return 0.0; else take nothing and return the seconds until there is."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second
