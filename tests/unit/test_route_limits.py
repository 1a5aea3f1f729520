"""Route limits without a server: the per-minute budgets on a clock of the test's own, and the
claim that skips full routes (oldest first per route, a full route never holding back another)
on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import delete

from assistantd.engine.route_limits import RouteBudget, RouteGate
from assistantd.providers.routing import RouteLimits
from assistantd.settings import ModelRoute
from assistantd.store import jobs as job_store
from assistantd.store.database import Database
from assistantd.store.migrate import upgrade
from assistantd.store.tables import jobs

KIND = "run"
NOW = 1_000_000
LEASE = NOW + 60_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_is_a_bucket_of_a_minutes_requests_refilled_evenly() -> None:
    clock = FakeClock()
    budget = RouteBudget(RouteLimits(requests_per_minute=2), clock)
    for _ in range(2):
        assert budget.wait_seconds() == 0
        budget.spend_request(0)
    assert budget.wait_seconds() == pytest.approx(30.0)
    clock.now += 29.0
    assert budget.wait_seconds() == pytest.approx(1.0)
    clock.now += 1.0
    assert budget.wait_seconds() == 0


def test_tokens_per_minute_admits_a_request_while_any_budget_is_left_then_waits_off_the_debt() -> (
    None
):
    clock = FakeClock()
    budget = RouteBudget(RouteLimits(tokens_per_minute=600), clock)  # 10 a second
    budget.spend_request(500)
    assert budget.wait_seconds() == 0  # 100 left
    budget.charge(300)  # the answer's tokens: 200 in debt
    assert budget.wait_seconds() == pytest.approx(20.0, abs=1e-6)
    clock.now += 20.0
    assert budget.wait_seconds() == pytest.approx(0.0, abs=1e-6)
    budget.charge(-100)  # the request's real prompt was smaller than its estimate
    assert budget.wait_seconds() == 0


def test_a_route_without_per_minute_limits_never_waits() -> None:
    gate = RouteGate({"a": RouteLimits(max_concurrent_runs=1), "b": RouteLimits()})
    assert gate.budget("a") is None
    assert gate.budget("b") is None
    assert gate.limited
    assert not gate.unlimited("a")
    assert gate.unlimited("b")
    assert gate.unlimited(None)
    assert not RouteGate({"b": RouteLimits()}).limited


def test_embedded_routes_take_no_limits_of_their_own() -> None:
    with pytest.raises(ValidationError, match="embedded_max_concurrent_runs"):
        ModelRoute(provider="embedded", max_concurrent_runs=2)
    assert ModelRoute(provider="openai", max_concurrent_runs=2).max_concurrent_runs == 2


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'routes.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").new_database()
    upgrade(url)
    database = Database(url)
    yield database
    asyncio.run(database.close())


async def _claim_all(db: Database, gate: RouteGate) -> list[str]:
    """Claim until nothing is claimable; the ref ids in claim order."""
    claimed = []
    while True:
        async with db.write() as conn:
            full = await gate.full_routes(conn, KIND, NOW)
            row = await job_store.claim_next(
                conn, KIND, "w", NOW, LEASE, skip_locked=not db.is_sqlite, full_routes=full
            )
        if row is None:
            return claimed
        claimed.append(row["ref_id"])


def test_claims_skip_full_routes_and_keep_each_routes_order(db: Database) -> None:
    gate = RouteGate({"two": RouteLimits(max_concurrent_runs=2), "free": RouteLimits()})

    async def scenario() -> tuple[list[str], list[str]]:
        async with db.write() as conn:
            for ref, route in [
                ("t1", "two"),
                ("t2", "two"),
                ("t3", "two"),
                ("f1", "free"),
                ("t4", "two"),
                ("f2", "free"),
                ("ingest", None),
            ]:
                await job_store.enqueue(conn, KIND, ref, NOW, route=route)
        first = await _claim_all(db, gate)
        async with db.write() as conn:  # t1 ends: the route has one place again
            assert await job_store.running_by_route(conn, KIND, ["two"], NOW) == {"two": 2}
            await conn.execute(delete(jobs).where(jobs.c.ref_id == "t1"))
        return first, await _claim_all(db, gate)

    first, then = asyncio.run(scenario())
    assert first == ["t1", "t2", "f1", "f2", "ingest"]
    assert then == ["t3"]


def test_a_run_whose_lease_ran_out_holds_no_place(db: Database) -> None:
    gate = RouteGate({"one": RouteLimits(max_concurrent_runs=1)})

    async def scenario() -> list[str]:
        async with db.write() as conn:
            await job_store.enqueue(
                conn, KIND, "dead", NOW, owner="gone", lease_until_ms=NOW - 1, route="one"
            )
            await job_store.enqueue(conn, KIND, "next", NOW, route="one")
        return await _claim_all(db, gate)

    # The dead worker's run is taken over first (it is older), and then the route is full.
    assert asyncio.run(scenario()) == ["dead"]
