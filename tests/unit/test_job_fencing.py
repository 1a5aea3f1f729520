"""Job fencing: a job is executed by one attempt at a time. An attempt whose job was taken over
(another claim, `attempts` bumped) can renew, finish, release and write nothing, and stops; a
claimed job's lease is renewed from the claim on, also while it waits for a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from assistantd.compose import build_executor
from assistantd.engine.bus import EventBus
from assistantd.engine.route_limits import RouteGate
from assistantd.engine.run import RunExecutor
from assistantd.engine.tools import ServerTools
from assistantd.engine.worker import WorkerPool
from assistantd.providers.base import ChatDelta, ChatRequest
from assistantd.providers.routing import Route
from assistantd.settings import Settings
from assistantd.store import jobs as job_store
from assistantd.store.database import Database
from assistantd.store.jobs import Claim, LeaseLost
from assistantd.store.migrate import upgrade
from assistantd.store.tables import jobs, messages, run_steps, runs, threads
from tests.support.run_rows import run_row, thread_row

KIND = "run"
FAR_FUTURE_MS = 10**15  # a "now" at which every lease has run out


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fencing.sqlite3'}"
        return
    yield request.getfixturevalue("postgres").new_database()


@pytest.fixture
def db_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def now_ms() -> int:
    return int(time.time() * 1000)


async def take_over(db: Database, owner: str) -> dict[str, Any]:
    """What a pool does with a job whose lease ran out: claim it again, `attempts` + 1."""
    async with db.write() as conn:
        row = await job_store.claim_next(
            conn, KIND, owner, FAR_FUTURE_MS, FAR_FUTURE_MS + 60_000, skip_locked=not db.is_sqlite
        )
    assert row is not None
    return dict(row)


async def job_row(db: Database, job_id: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).mappings().first()
    return None if row is None else dict(row)


def test_a_stale_claim_can_renew_finish_release_and_write_nothing(db_url: str) -> None:
    async def scenario() -> None:
        db = Database(db_url)
        try:
            async with db.write() as conn:
                job_id = await job_store.enqueue(
                    conn, KIND, "run_x", 0, owner="wrk_a", lease_until_ms=now_ms() + 60_000
                )
            stale = Claim(job_id, "wrk_a", 1)
            # The same pool claims it again (as when its lease ran out): same owner, attempt 2.
            taken = await take_over(db, "wrk_a")
            assert (taken["owner"], taken["attempts"]) == ("wrk_a", 2)
            current = Claim(job_id, "wrk_a", 2)

            async with db.write() as conn:
                assert await job_store.renew(conn, stale, FAR_FUTURE_MS) is False
                assert await job_store.finish(conn, stale) is False
                assert await job_store.release(conn, stale) is False
                assert await job_store.holds(conn, stale) is False
                assert await job_store.holds(conn, current) is True
            with pytest.raises(LeaseLost):
                async with job_store.fenced_write(db, stale) as conn:
                    await conn.execute(insert(threads), thread_row("thread_stale"))
            async with db.read() as conn:
                found = await conn.execute(
                    select(threads.c.id).where(threads.c.id == "thread_stale")
                )
                assert found.first() is None, "the stale attempt's transaction wrote nothing"
            row = await job_row(db, job_id)
            assert row is not None
            assert (row["status"], row["owner"], row["attempts"]) == ("running", "wrk_a", 2)
            assert row["lease_until_ms"] == FAR_FUTURE_MS + 60_000, (
                "the stale renew changed nothing"
            )

            async with job_store.fenced_write(db, current) as conn:
                await conn.execute(insert(threads), thread_row("thread_current"))
            async with db.write() as conn:
                assert await job_store.renew(conn, current, FAR_FUTURE_MS + 1) is True
                assert await job_store.finish(conn, current) is True
            assert await job_row(db, job_id) is None
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_claimed_job_waiting_for_a_slot_keeps_its_lease(db_url: str) -> None:
    """A streamed run is enqueued claimed by the pool even when every slot is busy; its lease
    must not run out while it waits, or the pool claims it a second time."""

    async def scenario() -> None:
        db = Database(db_url)
        release_busy = asyncio.Event()
        calls: list[tuple[str, int]] = []

        async def handler(ref: str, claim: Any) -> None:
            calls.append((ref, claim if isinstance(claim, int) else claim.attempt))
            if ref == "busy":
                await release_busy.wait()

        pool = WorkerPool(db, KIND, handler, concurrency=1, lease_seconds=0.3, poll_seconds=0.05)
        try:
            await pool.start()
            job_ids = {}
            for ref in ("busy", "waiting"):
                async with pool.handoff(here=True) as handoff:
                    async with db.write() as conn:
                        job_ids[ref] = await job_store.enqueue(
                            conn,
                            KIND,
                            ref,
                            0,
                            owner=handoff.owner,
                            lease_until_ms=pool.lease_until(),
                        )
                    pool.dispatch(handoff, job_ids[ref], ref)
            await asyncio.sleep(1.2)  # four leases long
            waiting = await job_row(db, job_ids["waiting"])
            assert waiting is not None
            assert waiting["attempts"] == 1, "the waiting job was claimed again"
            assert waiting["lease_until_ms"] > now_ms(), "its lease was left to run out"
            release_busy.set()
            for _ in range(100):
                if await job_row(db, job_ids["waiting"]) is None:
                    break
                await asyncio.sleep(0.05)
            assert calls == [("busy", 1), ("waiting", 1)]
            assert await job_row(db, job_ids["waiting"]) is None
        finally:
            release_busy.set()
            await pool.stop()
            await db.close()

    asyncio.run(scenario())


def test_the_heartbeat_stops_an_attempt_whose_job_was_taken_over(db_url: str) -> None:
    async def scenario() -> None:
        db = Database(db_url)
        stopped = asyncio.Event()

        async def handler(ref: str, claim: Any) -> None:
            try:
                await asyncio.sleep(30)
            finally:
                stopped.set()

        pool = WorkerPool(db, KIND, handler, concurrency=2, lease_seconds=0.3, poll_seconds=30)
        try:
            async with pool.handoff(here=True) as handoff:
                async with db.write() as conn:
                    job_id = await job_store.enqueue(
                        conn, KIND, "r", 0, owner=handoff.owner, lease_until_ms=pool.lease_until()
                    )
                pool.dispatch(handoff, job_id, "r")
            await asyncio.sleep(0.05)
            taken = await take_over(db, "wrk_other")
            await asyncio.wait_for(stopped.wait(), 2)
            await asyncio.sleep(0.1)
            row = await job_row(db, job_id)
            assert row == taken, "the stopped attempt neither released nor finished the job"
        finally:
            await pool.stop()
            await db.close()

    asyncio.run(scenario())


# --- the run executor: a stale attempt writes no run state -----------------------------------


class _GatedProvider:
    """Streams "Hello" and then " world" once `gate` is set: the test takes the job over in
    between, while the turn's message is open."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.opened = asyncio.Event()
        self.calls = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        self.calls += 1
        yield ChatDelta(content="Hello")
        self.opened.set()
        await self.gate.wait()
        yield ChatDelta(content=" world")
        yield ChatDelta(finish_reason="stop")


class _Router:
    def __init__(self, provider: _GatedProvider) -> None:
        self.route = Route(
            base_url="http://unused",
            api_key="",
            upstream_model=None,
            context_length=8192,
            include_usage=False,
        )
        self.provider = provider

    def resolve(self, model: str) -> tuple[Route, _GatedProvider]:
        return self.route, self.provider


def _executor(db: Database, provider: _GatedProvider) -> RunExecutor:
    # A run without tools never reaches file_search, code_interpreter or images' blobs.
    unused: Any = None
    executor, _ = build_executor(
        Settings(),
        db,
        EventBus(),
        lambda: int(time.time()),
        _Router(provider),  # type: ignore[arg-type]
        ServerTools([]),
        unused,
        _NoImages(),  # type: ignore[arg-type]
        RouteGate({}),
    )
    return executor


class _NoImages:
    async def data_urls(self, project_id: str, file_ids: list[str]) -> dict[str, str]:
        return {}


async def _state(db: Database, run_id: str) -> tuple[Any, list[Any], list[Any]]:
    async with db.read() as conn:
        run = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().first()
        steps = (
            (await conn.execute(select(run_steps).where(run_steps.c.run_id == run_id)))
            .mappings()
            .all()
        )
        answers = (
            (await conn.execute(select(messages).where(messages.c.run_id == run_id)))
            .mappings()
            .all()
        )
    return run, [dict(s) for s in steps], [dict(m) for m in answers]


async def _seed_run(db: Database, run_id: str) -> str:
    async with db.write() as conn:
        await conn.execute(insert(threads), thread_row("thread_" + run_id))
        await conn.execute(insert(runs), run_row(run_id, "thread_" + run_id))
        return await job_store.enqueue(
            conn, KIND, run_id, 0, owner="wrk_a", lease_until_ms=now_ms() + 60_000
        )


def test_an_attempt_taken_over_mid_turn_writes_nothing_more(db_url: str) -> None:
    async def scenario() -> None:
        db = Database(db_url)
        provider = _GatedProvider()
        try:
            job_id = await _seed_run(db, "run_mid")
            attempt = asyncio.create_task(
                _executor(db, provider).execute("run_mid", Claim(job_id, "wrk_a", 1))
            )
            await asyncio.wait_for(provider.opened.wait(), 5)
            run, steps, answers = await _state(db, "run_mid")
            assert run["status"] == "in_progress"
            assert [(s["type"], s["status"]) for s in steps] == [
                ("message_creation", "in_progress")
            ]
            before = (run, steps, answers)

            await take_over(db, "wrk_a")
            provider.gate.set()
            with pytest.raises(LeaseLost):
                await asyncio.wait_for(attempt, 5)
            assert await _state(db, "run_mid") == before, "the stale attempt wrote after losing"
            assert provider.calls == 1
        finally:
            provider.gate.set()
            await db.close()

    asyncio.run(scenario())


def test_an_attempt_taken_over_before_it_starts_writes_nothing(db_url: str) -> None:
    async def scenario() -> None:
        db = Database(db_url)
        provider = _GatedProvider()
        provider.gate.set()
        try:
            job_id = await _seed_run(db, "run_early")
            await take_over(db, "wrk_b")
            with pytest.raises(LeaseLost):
                await _executor(db, provider).execute("run_early", Claim(job_id, "wrk_a", 1))
            run, steps, answers = await _state(db, "run_early")
            assert (run["status"], run["started_at"], steps, answers) == ("queued", None, [], [])
            assert provider.calls == 0, "the stale attempt never called the model"

            # The attempt that holds the job runs the turn to its end.
            await _executor(db, provider).execute("run_early", Claim(job_id, "wrk_b", 2))
            run, steps, answers = await _state(db, "run_early")
            assert run["status"] == "completed"
            assert [(s["type"], s["status"]) for s in steps] == [("message_creation", "completed")]
            assert [(m["status"], m["content"][0]["text"]["value"]) for m in answers] == [
                ("completed", "Hello world")
            ]
        finally:
            await db.close()

    asyncio.run(scenario())
