"""Per-key request budget (token bucket, per process). Off unless configured."""

from __future__ import annotations

import time
from collections.abc import Callable

from assistantd.errors import RateLimitError


class RateLimiter:
    def __init__(self, per_minute: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self._capacity > 0

    def check(self, subject: str) -> None:
        """Spend one request of `subject`'s budget, or raise 429 saying how long to wait."""
        if not self.enabled:
            return
        now = self._monotonic()
        tokens, last = self._buckets.get(subject, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[subject] = (tokens, now)
            wait_ms = int((1.0 - tokens) / self._rate * 1000) + 1
            raise RateLimitError(
                f"Rate limit reached for requests: limit {int(self._capacity)} per minute. "
                f"Please try again in {wait_ms}ms.",
                retry_after_ms=wait_ms,
            )
        self._buckets[subject] = (tokens - 1.0, now)
