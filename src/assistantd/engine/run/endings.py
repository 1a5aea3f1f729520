"""Where a run ends: completed, incomplete, failed, cancelled or expired, with its open steps
and messages closed in the same transaction, then published.

The executor ends the runs it executes here; the sweeper expires idle runs here; and a cancel
of a run no worker holds (queued, waiting for outputs) closes it here, in the cancel's own
transaction (`close`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.run.fencing import attempt_write
from assistantd.engine.run.publisher import RunPublisher
from assistantd.engine.run.turn import awaits_outputs, message_of
from assistantd.store import runs as run_store
from assistantd.store.database import Conn, Database
from assistantd.store.jobs import Claim
from assistantd.wire.messages import text_part
from assistantd.wire.run_status import IDLE, TERMINAL, IllegalTransition, RunStatus, allowed

log = logging.getLogger("assistantd.engine")

S = RunStatus
# A run's ending -> its open steps' status and stamp, and why its open message is incomplete.
_STEP_ENDINGS: dict[RunStatus, tuple[str, str, str | None]] = {
    S.COMPLETED: ("completed", "completed_at", None),
    S.INCOMPLETE: ("completed", "completed_at", "max_tokens"),
    S.CANCELLED: ("cancelled", "cancelled_at", "run_cancelled"),
    S.FAILED: ("failed", "failed_at", "run_failed"),
    S.EXPIRED: ("expired", "expired_at", "run_expired"),
}
_RUN_STAMPS: dict[RunStatus, str | None] = {
    S.COMPLETED: "completed_at",
    S.INCOMPLETE: None,
    S.CANCELLED: "cancelled_at",
    S.FAILED: "failed_at",
    S.EXPIRED: None,
}
del S


@dataclass(frozen=True)
class Ending:
    """How a run ends: its terminal status, and `last_error` or `incomplete_details`."""

    status: RunStatus
    error: dict[str, str] | None = None
    incomplete: str | None = None


def failure(code: str, message: str) -> Ending:
    return Ending(RunStatus.FAILED, error={"code": code, "message": message})


def server_error(message: str) -> Ending:
    return failure("server_error", message)


@dataclass
class Closed:
    """What ending a run wrote, to publish once it is committed."""

    run: Mapping[Any, Any] | None = None
    steps: list[Mapping[Any, Any]] = field(default_factory=list)
    messages: list[Mapping[Any, Any]] = field(default_factory=list)


class RunEndings:
    def __init__(self, db: Database, publisher: RunPublisher, clock: Clock) -> None:
        self._db = db
        self._publisher = publisher
        self._clock = clock

    async def end(
        self,
        claim: Claim | None,
        run_id: str,
        ending: Ending,
        *,
        partial: Mapping[str, str] | None = None,
        only_from: frozenset[RunStatus] | None = None,
    ) -> None:
        """End the run as `ending` says, unless it has ended already (or, with `only_from`,
        is in none of those statuses). `partial`: text streamed into open messages so far."""
        async with attempt_write(self._db, claim) as conn:
            current = await run_store.get_run(conn, run_id)
            if current is None or current["status"] in TERMINAL:
                return
            if only_from is not None and current["status"] not in only_from:
                return
            closed = await self.close(conn, current, ending, partial or {})
        self.publish(closed, everywhere=claim is None)

    async def close(
        self,
        conn: Conn,
        current: Mapping[Any, Any],
        ending: Ending,
        partial: Mapping[str, str] | None = None,
    ) -> Closed:
        """End the active run `current` (read in this transaction) with its open steps and
        messages. A cancel that came first wins over any other ending but expiry."""
        source = RunStatus(current["status"])
        target = ending.status
        if not allowed(source, target):
            if source is not RunStatus.CANCELLING:
                raise IllegalTransition(source, target)
            target = RunStatus.CANCELLED
        now = self._clock()
        step_status, step_stamp, message_reason = _STEP_ENDINGS[target]
        closed = Closed()
        texts = partial or {}
        for step in await run_store.steps_of(conn, current["id"]):
            if step["status"] != "in_progress":
                continue
            values: dict[str, Any] = {"status": step_status, step_stamp: now}
            if target is RunStatus.FAILED and ending.error is not None:
                values["last_error"] = ending.error
            row = await run_store.set_step(conn, step["id"], values)
            if row is not None:
                closed.steps.append(row)
            message_id = message_of(step)
            if message_id is not None and message_reason is not None:
                message = await run_store.set_message(
                    conn,
                    message_id,
                    _incomplete_message(texts.get(message_id, ""), now, message_reason),
                )
                if message is not None:
                    closed.messages.append(message)
        run_values: dict[str, Any] = {"required_action": None}
        stamp = _RUN_STAMPS[target]
        if stamp:
            run_values[stamp] = now
        if ending.error is not None and target is ending.status:
            run_values["last_error"] = ending.error
        if ending.incomplete is not None and target is ending.status:
            run_values["incomplete_details"] = {"reason": ending.incomplete}
        if current["usage"] is None:
            run_values["usage"] = {"prompt_tokens": 0, "completion_tokens": 0}
        closed.run = await run_store.move_run(conn, current["id"], target, (source,), run_values)
        return closed

    def publish(self, closed: Closed, *, everywhere: bool = False) -> None:
        """`everywhere`: the run was ended outside its worker (a cancel, expiry): streams in
        every process hear of it."""
        for message in closed.messages:
            self._publisher.message(message, "incomplete", everywhere=everywhere)
        for step in closed.steps:
            self._publisher.step(step, step["status"], everywhere=everywhere)
        if closed.run is not None:
            self._publisher.run(closed.run, closed.run["status"], everywhere=everywhere)
            log.info("run_id=%s ended %s", closed.run["id"], closed.run["status"])

    async def expire(self, run_id: str) -> None:
        """End a run nobody is executing (queued, or waiting for outputs) at its deadline."""
        # No claim to fence with: the status condition keeps it off a run a worker has started.
        await self.end(None, run_id, Ending(RunStatus.EXPIRED), only_from=IDLE)

    async def expire_idle_runs(self) -> None:
        """The sweeper's pass: expire every idle run whose deadline has passed."""
        async with self._db.read() as conn:
            candidates = await run_store.expired_idle_runs(conn, self._clock())
        for run in candidates:
            await self.expire(run["id"])

    async def discard_unfinished(self, claim: Claim, run_id: str) -> None:
        """A resumed run starts its current turn again: drop what the lost attempt left open
        (a tool step waiting for the client's outputs is kept)."""
        async with attempt_write(self._db, claim) as conn:
            for step in await run_store.steps_of(conn, run_id):
                if step["status"] != "in_progress":
                    continue
                if step["type"] == "tool_calls" and awaits_outputs(step):
                    continue
                message_id = message_of(step)
                if message_id is not None:
                    await run_store.delete_message(conn, message_id)
                await run_store.delete_step(conn, step["id"])


def _incomplete_message(text: str, now: int, reason: str) -> dict[str, Any]:
    return {
        "status": "incomplete",
        "incomplete_at": now,
        "incomplete_details": {"reason": reason},
        "content": [text_part(text)] if text else [],
    }
