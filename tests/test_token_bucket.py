"""One token bucket serves both request limits: a judge's calls (waited for) and a rater link's votes
(refused)."""

import pytest

from arena import token_bucket
from arena.token_bucket import TokenBucket
from arena.web.app import TokenBuckets


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(token_bucket.time, "monotonic", lambda: now[0])
    return now


def test_a_bucket_gives_its_burst_then_says_how_long_to_wait(clock):
    bucket = TokenBucket(per_second=2.0, capacity=3)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)  # nothing taken: the next token is half a second away
    clock[0] += 0.5
    assert bucket.take() == 0.0
    clock[0] += 60  # refills up to its capacity, no further
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]


def test_each_rater_link_has_its_own_bucket(clock):
    limits = TokenBuckets(per_minute=60, burst=2)
    assert [limits.allow("alice") for _ in range(3)] == [True, True, False]
    assert limits.allow("bob")
    clock[0] += 1
    assert limits.allow("alice") and not limits.allow("alice")
