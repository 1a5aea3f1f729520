"""Per-key request budget (token bucket, per process). Off unless configured."""

from __future__ import annotations

import time
from collections.abc import Callable

from assistantd.errors import RateLimitError

# Buckets kept before refilled ones are looked for (a refilled bucket is the same as none).
_PRUNE_FROM = 10_000


class RateLimiter:
    def __init__(self, per_minute: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # subject -> (tokens, at)
        self._prune_at = _PRUNE_FROM

    @property
    def tracked_subjects(self) -> int:
        """Subjects with a bucket in memory (those that used some budget lately)."""
        return len(self._buckets)

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
        if len(self._buckets) >= self._prune_at:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget the buckets that have refilled. Keys are revoked and projects come and go:
        without this every subject ever seen would keep a bucket. The next pass waits until the
        map has doubled, so the passes cost O(1) per request."""
        capacity, rate = self._capacity, self._rate
        self._buckets = {
            subject: (tokens, at)
            for subject, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * rate < capacity
        }
        self._prune_at = max(_PRUNE_FROM, 2 * len(self._buckets))
