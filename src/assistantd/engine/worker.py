"""Workers: claim jobs of one kind from the durable queue and execute them under a lease.

Each `serve` process runs one pool per job kind (runs, file ingestion). A job is claimed with a
lease that a heartbeat renews; a process that dies stops renewing, and once the lease runs out
any pool claims the job again (`attempts` counts how often). A handler that raises leaves its
job to be claimed again after the lease: that is the retry, with the lease as its back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from assistantd.store import jobs as job_store
from assistantd.store.database import Database

log = logging.getLogger("assistantd.engine")

RUN_JOB = "run"

JobHandler = Callable[[str, int], Coroutine[Any, Any, None]]
"""Executes the job for `ref_id`; the second argument is the attempt number (1 = first)."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Handoff:
    """How a job being enqueued in this process will reach a worker (`WorkerPool.handoff`)."""

    owner: str | None = None  # set: enqueue the job already claimed by this owner
    slot_held: bool = False  # a pool slot is reserved for it
    started: bool = False


class WorkerPool:
    def __init__(
        self,
        db: Database,
        kind: str,
        handler: JobHandler,
        *,
        concurrency: int,
        lease_seconds: float,
        poll_seconds: float,
    ) -> None:
        self.owner = "wrk_" + secrets.token_hex(6)
        self.kind = kind
        self._db = db
        self._handler = handler
        self._slots = asyncio.Semaphore(concurrency)
        self._lease_ms = int(lease_seconds * 1000)
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    def lease_until(self) -> int:
        return now_ms() + self._lease_ms

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._claim_loop(), name=f"assistantd-claim-{self.kind}")

    async def stop(self) -> None:
        """Stop claiming; jobs in flight are interrupted and handed back."""
        loops = [self._loop] if self._loop is not None else []
        for task in [*loops, *self._tasks]:
            task.cancel()
        await asyncio.gather(*loops, *self._tasks, return_exceptions=True)

    def wake(self) -> None:
        """A job was enqueued in this process: look for work now rather than at the next poll."""
        self._wake.set()

    @contextlib.asynccontextmanager
    async def handoff(self, *, here: bool) -> AsyncIterator[Handoff]:
        """Decide how a job this process is about to enqueue reaches a worker.

        It is enqueued already claimed by this pool (`Handoff.owner`) when it must run here
        (`here`: a stream follows it) or when a slot is free now: that saves the claim query
        and the claim loop's round. Otherwise it is left `queued` for the claim loop. Call
        `dispatch` once the job is committed; a slot taken for a job never started is given back.
        """
        handoff = Handoff()
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: never waits
            handoff.slot_held = True
        if here or handoff.slot_held:
            handoff.owner = self.owner
        try:
            yield handoff
        finally:
            if handoff.slot_held and not handoff.started:
                self._slots.release()

    def dispatch(self, handoff: Handoff, job_id: str, ref_id: str) -> None:
        """Run the job of a committed `handoff` here, or wake the claim loop for it."""
        if handoff.owner is None:
            self.wake()
            return
        handoff.started = True
        self._spawn(job_id, ref_id, attempts=1, slot_held=handoff.slot_held)

    async def _claim_loop(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                job = await self._claim()
            except Exception:  # keep claiming whatever one bad query did
                log.exception("claiming a %s job failed", self.kind)
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
                conn,
                self.kind,
                self.owner,
                now_ms(),
                self.lease_until(),
                skip_locked=not self._db.is_sqlite,
            )

    def _spawn(self, job_id: str, ref_id: str, *, attempts: int, slot_held: bool) -> None:
        task = asyncio.create_task(
            self._run_job(job_id, ref_id, attempts, slot_held), name=f"{self.kind}-{ref_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_job(self, job_id: str, ref_id: str, attempts: int, slot_held: bool) -> None:
        if not slot_held:
            await self._slots.acquire()
        work = asyncio.create_task(self._handler(ref_id, attempts))
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
        except Exception:
            # Left claimed: it is retried once its lease runs out (the handler decides when to
            # give up, from the attempt number).
            log.exception(
                "job_id=%s %s %s failed (attempt %d)", job_id, self.kind, ref_id, attempts
            )
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
                log.warning("job_id=%s lease lost; stopping it here", job_id)
                work.cancel()
                return
