"""The per-key token bucket."""

from __future__ import annotations

import pytest

from assistantd.errors import RateLimitError
from assistantd.service.rate_limit import RateLimiter


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_disabled_never_limits() -> None:
    limiter = RateLimiter(0)
    for _ in range(10_000):
        limiter.check("k")


def test_budget_refills_with_time() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(60, monotonic=clock)  # one request per second
    for _ in range(60):
        limiter.check("k")
    with pytest.raises(RateLimitError) as info:
        limiter.check("k")
    assert info.value.status_code == 429
    assert info.value.headers["retry-after-ms"] == "1001"
    limiter.check("other"), "budgets are per key"
    clock.now += 1.0
    limiter.check("k")
    with pytest.raises(RateLimitError):
        limiter.check("k")


def test_refilled_buckets_are_forgotten() -> None:
    """A bucket per subject ever seen (revoked keys, deleted projects) used to stay forever."""
    clock = FakeMonotonic()
    limiter = RateLimiter(60, monotonic=clock)
    for n in range(10_000):
        limiter.check(f"old-{n}")
    assert limiter.tracked_subjects == 10_000, "partly spent budgets are all kept"
    clock.now += 61.0  # every one of them has refilled: the same as never seen
    for n in range(10_000):
        limiter.check(f"new-{n}")
    assert limiter.tracked_subjects == 10_000
    for _ in range(59):
        limiter.check("new-0")
    with pytest.raises(RateLimitError):
        limiter.check("new-0")  # pruning kept the budget of a subject still spending
