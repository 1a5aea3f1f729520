"""Workers: claim jobs of one kind from the durable queue and execute them under a lease.

Each `serve` process runs one pool per job kind (runs, file ingestion). A job is claimed with a
lease that a heartbeat renews from the moment of the claim (also while the job waits for a
slot); a process that dies stops renewing, and once the lease runs out any pool claims the job
again (`attempts` counts how often). An attempt whose job was taken over stops at once and
writes nothing: renew, finish and release are fenced by its `Claim`, and so are the handler's
own writes (`LeaseLost`). A handler that raises leaves its job to be claimed again after the
lease: that is the retry, with the lease as its back-off. A run whose model route is at its
limits is left queued (`RouteGate`).
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

from assistantd.engine.route_limits import RouteGate
from assistantd.store import jobs as job_store
from assistantd.store.database import Database
from assistantd.store.jobs import Claim, LeaseLost

log = logging.getLogger("assistantd.engine")

RUN_JOB = "run"

JobHandler = Callable[[str, Claim], Coroutine[Any, Any, None]]
"""Executes the job for `ref_id` as the attempt `Claim` (`attempt` 1 = first); its writes are
fenced by that claim (`job_store.fenced_write`)."""


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
        gate: RouteGate | None = None,
        executes: bool = True,
    ) -> None:
        """`executes` False: this process only enqueues jobs (`serve --no-workers`); other
        processes' pools execute them."""
        self.owner = "wrk_" + secrets.token_hex(6)
        self.executes = executes
        self.kind = kind
        self._db = db
        self._handler = handler
        self._slots = asyncio.Semaphore(concurrency)
        self._lease_ms = int(lease_seconds * 1000)
        self._poll_seconds = poll_seconds
        self._gate = gate if gate is not None and gate.limited else None
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
        and the claim loop's round. Otherwise it is left `queued` for the claim loop (and
        always when its route has limits: see `owner_for`). Call `dispatch` once the job is
        committed; a slot taken for a job never started is given back.
        """
        handoff = Handoff()
        if not self.executes:
            yield handoff
            return
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

    def owner_for(self, handoff: Handoff, route: str | None) -> str | None:
        """Who the job is enqueued as claimed by (None: `queued`). A job of a route with limits
        is always left to a claim, the one place that counts a route's running jobs."""
        if self._gate is not None and not self._gate.unlimited(route):
            handoff.owner = None
        return handoff.owner

    def dispatch(self, handoff: Handoff, job_id: str, ref_id: str) -> None:
        """Run the job of a committed `handoff` here, or wake the claim loop for it."""
        if handoff.owner is None:
            self.wake()
            return
        handoff.started = True
        self._spawn(job_id, ref_id, 1, False, slot_held=handoff.slot_held)

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
            followed = job["followed_by"] is not None
            self._spawn(job["id"], job["ref_id"], job["attempts"], followed, slot_held=True)

    async def _claim(self) -> Any:
        async with self._db.write() as conn:
            now = now_ms()
            full = None
            if self._gate is not None:
                full = await self._gate.full_routes(conn, self.kind, now)
            return await job_store.claim_next(
                conn,
                self.kind,
                self.owner,
                now,
                self.lease_until(),
                skip_locked=not self._db.is_sqlite,
                full_routes=full,
            )

    def _spawn(
        self, job_id: str, ref_id: str, attempts: int, followed: bool, *, slot_held: bool
    ) -> None:
        claim = Claim(job_id, self.owner, attempts, followed)
        task = asyncio.create_task(
            self._run_job(claim, ref_id, slot_held), name=f"{self.kind}-{ref_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_job(self, claim: Claim, ref_id: str, slot_held: bool) -> None:
        job = asyncio.current_task()
        assert job is not None
        lost = asyncio.Event()
        # The lease is kept alive from the claim on, including a wait for a slot (a streamed
        # run is claimed when it is created): a lease left to run out there was claimed again
        # by this very pool, and both attempts ran.
        heartbeat = asyncio.create_task(self._heartbeat(claim, job, lost))
        try:
            if not slot_held:
                await self._slots.acquire()
                slot_held = True
            await self._handler(ref_id, claim)
        except asyncio.CancelledError:
            if not lost.is_set():
                # Interrupted (shutdown): hand the job back untouched, if it is still ours.
                heartbeat.cancel()
                with contextlib.suppress(Exception):
                    async with self._db.write() as conn:
                        await job_store.release(conn, claim)
                raise
            self._log_lost(claim, ref_id)
        except LeaseLost:
            self._log_lost(claim, ref_id)
        except Exception:
            # Left claimed: it is retried once its lease runs out (the handler decides when to
            # give up, from the attempt number).
            log.exception(
                "job_id=%s %s %s failed (attempt %d)",
                claim.job_id,
                self.kind,
                ref_id,
                claim.attempt,
            )
        else:
            heartbeat.cancel()  # before finishing: a renew must not race the delete
            async with self._db.write() as conn:
                if not await job_store.finish(conn, claim):
                    self._log_lost(claim, ref_id)
                elif self._gate is not None:  # a route's place is free: tell every process
                    await job_store.announce(conn, self.kind)
        finally:
            heartbeat.cancel()
            if slot_held:
                self._slots.release()
            if self._gate is not None:
                self._wake.set()  # its route may have room again

    def _log_lost(self, claim: Claim, ref_id: str) -> None:
        log.warning(
            "job_id=%s %s %s attempt %d lost its lease; stopped without writing",
            claim.job_id,
            self.kind,
            ref_id,
            claim.attempt,
        )

    async def _heartbeat(self, claim: Claim, job: asyncio.Task[Any], lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                async with self._db.write() as conn:
                    still_ours = await job_store.renew(conn, claim, self.lease_until())
            except Exception:  # a failed renew is retried at the next beat; the lease has slack
                log.exception("job_id=%s renewing the lease failed", claim.job_id)
                continue
            if not still_ours:
                lost.set()
                job.cancel()
                return
