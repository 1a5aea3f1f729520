"""Workers: claim run jobs from the durable queue, execute them under a lease, recover the rest.

Each `serve` process runs one pool. A job is claimed with a lease that a heartbeat renews; a
process that dies stops renewing, and once the lease runs out any pool claims the job again
(`attempts` counts how often). A sweeper expires runs that nobody executes (queued too long,
or waiting for tool outputs) once their deadline has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.executor import RunExecutor
from assistantd.store import jobs as job_store
from assistantd.store import runs as run_store
from assistantd.store.database import Database

log = logging.getLogger("assistantd.engine")

RUN_JOB = "run"


def now_ms() -> int:
    return int(time.time() * 1000)


class WorkerPool:
    def __init__(
        self,
        db: Database,
        executor: RunExecutor,
        *,
        concurrency: int,
        lease_seconds: float,
        poll_seconds: float,
        clock: Clock,
    ) -> None:
        self.owner = "wrk_" + secrets.token_hex(6)
        self._db = db
        self._executor = executor
        self._slots = asyncio.Semaphore(concurrency)
        self._lease_ms = int(lease_seconds * 1000)
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    def lease_until(self) -> int:
        return now_ms() + self._lease_ms

    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="assistantd-claim"),
            asyncio.create_task(self._sweep_loop(), name="assistantd-sweep"),
        ]

    async def stop(self) -> None:
        """Stop claiming; runs in flight are interrupted and their jobs handed back."""
        for task in self._loops:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)

    def wake(self) -> None:
        """A job was enqueued in this process: look for work now rather than at the next poll."""
        self._wake.set()

    def execute_claimed(self, job_id: str, run_id: str) -> None:
        """Run a job this process enqueued already claimed (streams need their run here)."""
        self._spawn(job_id, run_id, attempts=1, slot_held=False)

    # --- loops ------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                job = await self._claim()
            except Exception:  # keep claiming whatever one bad query did
                log.exception("claiming a job failed")
                job = None
            if job is None:
                self._slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                self._wake.clear()
                continue
            self._spawn(job["id"], job["ref_id"], attempts=job["attempts"], slot_held=True)

    async def _claim(self) -> Any:
        async with self._db.write() as conn:
            return await job_store.claim_next(
                conn, self.owner, now_ms(), self.lease_until(), skip_locked=not self._db.is_sqlite
            )

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self._expire_idle_runs()
            except Exception:  # the sweeper must survive a failed pass
                log.exception("expiring runs failed")

    async def _expire_idle_runs(self) -> None:
        async with self._db.read() as conn:
            candidates = await run_store.expired_idle_runs(conn, self._clock())
        for run in candidates:
            await self._executor.expire(run["id"])

    # --- one job ----------------------------------------------------------------------------

    def _spawn(self, job_id: str, run_id: str, *, attempts: int, slot_held: bool) -> None:
        task = asyncio.create_task(
            self._run_job(job_id, run_id, attempts, slot_held), name=f"run-{run_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_job(self, job_id: str, run_id: str, attempts: int, slot_held: bool) -> None:
        if not slot_held:
            await self._slots.acquire()
        work = asyncio.create_task(self._executor.execute(run_id, attempts))
        heartbeat = asyncio.create_task(self._heartbeat(job_id, work))
        try:
            await work
        except asyncio.CancelledError:
            work.cancel()
            # Interrupted (shutdown, or the lease was lost): hand the job back untouched.
            with contextlib.suppress(Exception):
                async with self._db.write() as conn:
                    await job_store.release(conn, job_id, self.owner)
            raise
        else:
            async with self._db.write() as conn:
                await job_store.finish(conn, job_id)
        finally:
            heartbeat.cancel()
            self._slots.release()

    async def _heartbeat(self, job_id: str, work: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            async with self._db.write() as conn:
                still_ours = await job_store.renew(conn, job_id, self.owner, self.lease_until())
            if not still_ours:
                log.warning("job_id=%s lease lost; stopping its run here", job_id)
                work.cancel()
                return
