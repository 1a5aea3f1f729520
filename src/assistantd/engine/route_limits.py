"""The limits of model routes: how many runs of a route execute at once (over every process on
the database) and how many requests and tokens a route's upstream gets per minute (per process).

A run of a full route is never claimed: it waits `queued`, holding no lease or connection, and
the claim takes the oldest run of a route that has room (`RouteGate.full_routes`), so runs of
one route start in order and a full route never holds back another. The per-minute budgets are
token buckets: a run is not started while its route's budget is spent, and a turn of a running
run waits for the budget before its request goes upstream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from assistantd.providers.routing import RouteLimits
from assistantd.store import jobs as job_store
from assistantd.store.database import Conn

MINUTE = 60.0


class _Bucket:
    """`per_minute` units, refilled continuously; spending may run it into debt (a request's
    tokens are known only once it is answered), and it is empty until the debt is repaid."""

    def __init__(self, per_minute: int, now: float) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / MINUTE
        self._level = float(per_minute)
        self._at = now

    def level(self, now: float) -> float:
        self._level = min(self._capacity, self._level + (now - self._at) * self._rate)
        self._at = now
        return self._level

    def spend(self, amount: float, now: float) -> None:
        self._level = self.level(now) - amount

    def seconds_until(self, level: float, now: float) -> float:
        """How long until the bucket holds `level` (0 if it does)."""
        return max(0.0, (level - self.level(now)) / self._rate)


class RouteBudget:
    """One route's per-minute budgets (requests and tokens), kept by this process."""

    def __init__(self, limits: RouteLimits, monotonic: Callable[[], float]) -> None:
        now = monotonic()
        self._monotonic = monotonic
        rpm, tpm = limits.requests_per_minute, limits.tokens_per_minute
        self._requests = _Bucket(rpm, now) if rpm else None
        self._tokens = _Bucket(tpm, now) if tpm else None

    def wait_seconds(self) -> float:
        """How long until one more request may go upstream (0: now)."""
        now = self._monotonic()
        waits = [0.0]
        if self._requests is not None:
            waits.append(self._requests.seconds_until(1.0, now))
        if self._tokens is not None:
            # Any positive level admits a request: its size is paid as it becomes known.
            waits.append(self._tokens.seconds_until(1e-9, now))
        return max(waits)

    def spend_request(self, tokens: int) -> None:
        now = self._monotonic()
        if self._requests is not None:
            self._requests.spend(1.0, now)
        self.charge(tokens)

    def charge(self, tokens: int) -> None:
        """Count `tokens` more against the budget (negative: a correction of an estimate)."""
        if self._tokens is not None and tokens:
            self._tokens.spend(float(tokens), self._monotonic())


class RouteGate:
    """Decides which routes may start another run, from the limits of every route group."""

    def __init__(
        self,
        limits: Mapping[str, RouteLimits],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._concurrency = {
            group: limit.max_concurrent_runs
            for group, limit in limits.items()
            if limit.max_concurrent_runs is not None
        }
        self._budgets = {
            group: RouteBudget(limit, monotonic)
            for group, limit in limits.items()
            if limit.requests_per_minute or limit.tokens_per_minute
        }

    @property
    def limited(self) -> bool:
        return bool(self._concurrency or self._budgets)

    def unlimited(self, group: str | None) -> bool:
        """Whether a run of `group` may always start at once (nothing to count or wait for)."""
        return group not in self._concurrency and group not in self._budgets

    def budget(self, group: str | None) -> RouteBudget | None:
        return self._budgets.get(group) if group is not None else None

    async def full_routes(self, conn: Conn, kind: str, now_ms: int) -> list[str]:
        """The route groups that may not start another run now. Called in the claim's write
        transaction: on PostgreSQL it takes the lock that keeps the count true until the claim
        commits, so two processes cannot both take a route's last place."""
        full = [group for group, budget in self._budgets.items() if budget.wait_seconds() > 0]
        if self._concurrency:
            await job_store.serialise_route_claims(conn)
            running = await job_store.running_by_route(conn, kind, list(self._concurrency), now_ms)
            full += [
                group
                for group, limit in self._concurrency.items()
                if running.get(group, 0) >= limit and group not in full
            ]
        return full
