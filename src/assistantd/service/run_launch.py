"""Handing a committed run to the workers: its job (claimed by this process's pool, or queued
and announced to every process), and for a stream, the subscription made before the commit and
the events so far."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from assistantd.engine.bus import EventBus, Subscription
from assistantd.engine.events import RunChanged, RunEvent
from assistantd.engine.worker import RUN_JOB, Handoff, WorkerPool
from assistantd.service.run_stream import RunStream
from assistantd.store import jobs as job_store
from assistantd.store import runs as run_store
from assistantd.store.database import Conn, Database
from assistantd.wire.run_status import STREAM_ENDS, RunStatus
from assistantd.wire.runs import Run, run_from_row


class RunLauncher:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        pool: WorkerPool,
        keepalive_seconds: float,
        route_of: Callable[[str], str | None],
    ) -> None:
        """`route_of`: the limit group of the route serving a model (the router's)."""
        self._db = db
        self._bus = bus
        self._pool = pool
        self._keepalive_seconds = keepalive_seconds
        self._route_of = route_of

    def handoff(self, *, here: bool) -> contextlib.AbstractAsyncContextManager[Handoff]:
        """How the job about to be enqueued reaches a worker (`WorkerPool.handoff`)."""
        return self._pool.handoff(here=here)

    async def enqueue(
        self, conn: Conn, run: Mapping[Any, Any], now: int, handoff: Handoff, *, stream: bool
    ) -> str:
        """The run's job: claimed by this process's pool when the handoff says so; else
        queued, announced to every process's workers, and (for a stream) marked as followed
        from here, so that its events are relayed to this process wherever it runs."""
        route = self._route_of(run["model"])
        owner = self._pool.owner_for(handoff, route)
        if owner is not None:
            lease_until = self._pool.lease_until()
            return await job_store.enqueue(
                conn, RUN_JOB, run["id"], now, owner=owner, lease_until_ms=lease_until, route=route
            )
        followed_by = self._pool.owner if stream else None
        job_id = await job_store.enqueue(
            conn, RUN_JOB, run["id"], now, route=route, followed_by=followed_by
        )
        await job_store.announce(conn, RUN_JOB)
        return job_id

    @contextlib.contextmanager
    def following(self, run_id: str, stream: bool) -> Iterator[Subscription | None]:
        """For a stream, the run's subscription, made before its job is committed: a worker
        in another process may start it at once, and none of its events may be missed."""
        subscription = self._bus.subscribe(run_id) if stream else None
        try:
            yield subscription
        except BaseException:
            if subscription is not None:
                subscription.close()
            raise

    def started(
        self,
        row: dict[str, Any],
        job_id: str,
        handoff: Handoff,
        subscription: Subscription | None,
        *,
        initial: list[RunEvent],
        created: bool,
    ) -> Run | RunStream:
        """Hand the run to the workers; for a stream (`subscription`), the events so far.

        `created` is False when an existing run is resumed (tool outputs): it is queued again,
        not created again."""
        if subscription is None:
            self._pool.dispatch(handoff, job_id, row["id"])
            return run_from_row(row)
        events = list(initial)
        if created:
            events.append(RunChanged(row, "created"))
        events.append(RunChanged(row, RunStatus.QUEUED))
        self._pool.dispatch(handoff, job_id, row["id"])
        return RunStream(
            events, subscription, self._keepalive_seconds, self._ended_event(row["id"])
        )

    def _ended_event(self, run_id: str) -> Callable[[], Awaitable[RunEvent | None]]:
        """The run's event for a stream if it has stopped (or needs the client), read from
        the database; None while it goes on."""

        async def ended() -> RunEvent | None:
            async with self._db.read() as conn:
                row = await run_store.get_run(conn, run_id)
            if row is None or RunStatus(row["status"]) not in STREAM_ENDS:
                return None
            return RunChanged(row, row["status"])

        return ended
