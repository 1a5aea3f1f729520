"""Runs and run steps: create (with the thread lock), read, list, cancel, submit tool outputs.

Creating a run writes the run and its job in one transaction, so an accepted run is never lost;
the engine's workers take it from there (`RunLauncher`: the job, and a stream's subscription).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.bus import EventBus
from assistantd.engine.events import RunEvent, StepChanged, ThreadCreated
from assistantd.engine.run import Closed, Ending, RunEndings, with_outputs
from assistantd.errors import InvalidRequestError, not_found
from assistantd.ids import new_id
from assistantd.service.caller import Caller
from assistantd.service.listing import cursor_errors, page_request, to_list
from assistantd.service.messages import new_message_row
from assistantd.service.resources import ToolResourceBinder
from assistantd.service.run_launch import RunLauncher
from assistantd.service.run_settings import check_include, run_row
from assistantd.service.run_steps import run_not_found
from assistantd.service.run_stream import RunStream
from assistantd.store import objects
from assistantd.store import runs as run_store
from assistantd.store.database import Conn, Database
from assistantd.wire.base import ListPage, ListQuery
from assistantd.wire.run_status import IDLE, TERMINAL, RunStatus
from assistantd.wire.runs import (
    Run,
    RunCreate,
    RunUpdate,
    SubmitToolOutputs,
    ThreadAndRunCreate,
    run_from_row,
)


class RunService:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        launcher: RunLauncher,
        expires_seconds: int,
        clock: Clock,
        resources: ToolResourceBinder,
        endings: RunEndings,
    ) -> None:
        self._db = db
        self._bus = bus
        self._launch = launcher
        self._expires_seconds = expires_seconds
        self._clock = clock
        self._resources = resources
        self._endings = endings
        self._runs = objects.runs
        self._assistants = objects.assistants
        self._threads = objects.threads
        self._messages = objects.messages

    # --- create -----------------------------------------------------------------------------

    async def create(
        self, caller: Caller, thread_id: str, body: RunCreate, include: Sequence[str]
    ) -> Run | RunStream:
        check_include(include)
        now = self._clock()
        run_id = new_id("run")
        stream = bool(body.stream)
        with self._launch.following(run_id, stream) as subscription:
            async with self._launch.handoff(here=stream) as handoff:
                async with self._db.write() as conn:
                    assistant = await self._assistant(conn, caller, body.assistant_id)
                    if not await run_store.lock_thread(conn, caller.project_id, thread_id):
                        raise not_found("thread", thread_id)
                    active = await run_store.active_run_id(conn, thread_id)
                    if active is not None:
                        raise InvalidRequestError(
                            f"Thread {thread_id} already has an active run {active}."
                        )
                    row = self._new_run(caller, run_id, thread_id, assistant, body, now, include)
                    queued = False
                    if body.additional_messages:
                        added = [
                            new_message_row(caller.project_id, thread_id, message, now)
                            for message in body.additional_messages
                        ]
                        await self._messages.insert_many(conn, added)
                        queued = await self._resources.index_attachments(
                            conn, caller.project_id, thread_id, added, "additional_messages"
                        )
                    await self._runs.insert(conn, row)
                    job_id = await self._launch.enqueue(conn, row, now, handoff, stream=stream)
                if queued:
                    self._resources.wake()
                return self._launch.started(
                    row, job_id, handoff, subscription, initial=[], created=True
                )

    async def create_thread_and_run(
        self, caller: Caller, body: ThreadAndRunCreate
    ) -> Run | RunStream:
        thread_body = body.thread
        now = self._clock()
        thread_id = new_id("thread")
        run_id = new_id("run")
        thread_row = {
            "id": thread_id,
            "project_id": caller.project_id,
            "created_at": now,
            "tool_resources": {},
            "metadata": (thread_body.metadata if thread_body else None) or {},
        }
        message_rows = [
            new_message_row(caller.project_id, thread_id, message, now)
            for message in (thread_body.messages if thread_body else [])
        ]
        stream = bool(body.stream)
        with self._launch.following(run_id, stream) as subscription:
            async with self._launch.handoff(here=stream) as handoff:
                async with self._db.write() as conn:
                    assistant = await self._assistant(conn, caller, body.assistant_id)
                    row = self._new_run(caller, run_id, thread_id, assistant, body, now, [])
                    if body.tool_resources is not None:
                        row["tool_resources"] = await self._resources.check_resources(
                            conn, caller.project_id, body.tool_resources
                        )
                    resources = await self._resources.create_resources(
                        conn,
                        caller.project_id,
                        thread_body.tool_resources if thread_body else None,
                        "thread.tool_resources",
                    )
                    thread_row["tool_resources"] = resources.stored
                    await self._threads.insert(conn, thread_row)
                    await self._messages.insert_many(conn, message_rows)
                    attached = await self._resources.index_attachments(
                        conn, caller.project_id, thread_id, message_rows, "thread.messages"
                    )
                    thread_row = dict(
                        await self._threads.get(conn, caller.project_id, thread_id) or {}
                    )
                    await self._runs.insert(conn, row)
                    job_id = await self._launch.enqueue(conn, row, now, handoff, stream=stream)
                if resources.queued or attached:
                    self._resources.wake()
                created: list[RunEvent] = [ThreadCreated(thread_row)]
                return self._launch.started(
                    row, job_id, handoff, subscription, initial=created, created=True
                )

    def _new_run(
        self,
        caller: Caller,
        run_id: str,
        thread_id: str,
        assistant: Any,
        body: RunCreate | ThreadAndRunCreate,
        now: int,
        include: Sequence[str],
    ) -> dict[str, Any]:
        expires = self._expires_seconds
        return run_row(caller, run_id, thread_id, assistant, body, now, include, expires)

    async def _assistant(self, conn: Conn, caller: Caller, assistant_id: str) -> Any:
        assistant = await self._assistants.get(conn, caller.project_id, assistant_id)
        if assistant is None:
            raise not_found("assistant", assistant_id)
        return assistant

    # --- read -------------------------------------------------------------------------------

    async def get(self, caller: Caller, thread_id: str, run_id: str) -> Run:
        async with self._db.read() as conn:
            row = await self._runs.get(conn, caller.project_id, run_id, parent_id=thread_id)
            if row is None:
                raise await run_not_found(conn, caller, thread_id, run_id)
        return run_from_row(row)

    async def list(self, caller: Caller, thread_id: str, query: ListQuery) -> ListPage[Run]:
        async with cursor_errors(), self._db.read() as conn:
            page = await self._runs.page(
                conn, caller.project_id, page_request(query), where={"thread_id": thread_id}
            )
            if not page.rows and not await self._threads.get(conn, caller.project_id, thread_id):
                raise not_found("thread", thread_id)
        return to_list(page, run_from_row)

    async def update(self, caller: Caller, thread_id: str, run_id: str, body: RunUpdate) -> Run:
        async with self._db.write() as conn:
            if "metadata" in body.model_fields_set:
                row = await self._runs.update(
                    conn,
                    caller.project_id,
                    run_id,
                    {"metadata": body.metadata or {}},
                    where={"thread_id": thread_id},
                )
            else:
                row = await self._runs.get(conn, caller.project_id, run_id, parent_id=thread_id)
            if row is None:
                raise await run_not_found(conn, caller, thread_id, run_id)
        return run_from_row(row)

    # --- cancel and tool outputs ------------------------------------------------------------

    async def cancel(self, caller: Caller, thread_id: str, run_id: str) -> Run:
        """A run in progress is marked `cancelling` and its worker told to stop (it ends the
        run); a run no worker holds is ended `cancelled` here, at once."""
        closed: Closed | None = None
        async with self._db.write() as conn:
            row: Mapping[Any, Any] | None = await self._runs.get(
                conn, caller.project_id, run_id, parent_id=thread_id
            )
            if row is None:
                raise await run_not_found(conn, caller, thread_id, run_id)
            status = RunStatus(row["status"])
            if status in TERMINAL:
                raise InvalidRequestError(f"Cannot cancel run with status '{status}'.")
            if status is RunStatus.IN_PROGRESS:
                row = await run_store.move_run(
                    conn, run_id, RunStatus.CANCELLING, (RunStatus.IN_PROGRESS,)
                )
            elif status in IDLE:
                closed = await self._endings.close(conn, row, Ending(RunStatus.CANCELLED))
                row = closed.run
            if row is None:  # the run moved on meanwhile; report what it is now
                row = await run_store.get_run(conn, run_id)
        assert row is not None
        if row["status"] == RunStatus.CANCELLING:
            self._bus.request_cancel(run_id)
        elif closed is not None:
            self._endings.publish(closed, everywhere=True)
        return run_from_row(row)

    async def submit_tool_outputs(
        self, caller: Caller, thread_id: str, run_id: str, body: SubmitToolOutputs
    ) -> Run | RunStream:
        now = self._clock()
        stream = bool(body.stream)
        with self._launch.following(run_id, stream) as subscription:
            async with self._launch.handoff(here=stream) as handoff:
                async with self._db.write() as conn:
                    row = await self._runs.get(conn, caller.project_id, run_id, parent_id=thread_id)
                    if row is None:
                        raise await run_not_found(conn, caller, thread_id, run_id)
                    if row["status"] != RunStatus.REQUIRES_ACTION:
                        raise InvalidRequestError(
                            f"Runs in status '{row['status']}' do not accept tool outputs."
                        )
                    if now >= row["expires_at"]:
                        raise InvalidRequestError(
                            f"Run {run_id} has expired and no longer accepts tool outputs."
                        )
                    pending: list[str] = [
                        c["id"] for c in row["required_action"]["submit_tool_outputs"]["tool_calls"]
                    ]
                    given = [output.tool_call_id for output in body.tool_outputs]
                    if sorted(given) != sorted(pending):
                        raise InvalidRequestError(
                            f"Expected tool outputs for call ids {pending}, got {given}. Submit "
                            "every pending call's output exactly once, in one request.",
                            param="tool_outputs",
                        )
                    outputs = {o.tool_call_id: o.output for o in body.tool_outputs}
                    open_step = next(
                        s
                        for s in await run_store.steps_of(conn, run_id)
                        if s["type"] == "tool_calls" and s["status"] == "in_progress"
                    )
                    details = with_outputs(open_step["step_details"], outputs)
                    step = await run_store.set_step(
                        conn,
                        open_step["id"],
                        {"step_details": details, "status": "completed", "completed_at": now},
                    )
                    row = await run_store.move_run(
                        conn,
                        run_id,
                        RunStatus.QUEUED,
                        (RunStatus.REQUIRES_ACTION,),
                        {"required_action": None},
                    )
                    assert row is not None
                    assert step is not None
                    job_id = await self._launch.enqueue(conn, row, now, handoff, stream=stream)
                completed = StepChanged(step, "completed")
                if subscription is None:
                    self._bus.publish(run_id, completed, everywhere=True)
                initial: list[RunEvent] = [completed] if subscription is not None else []
                return self._launch.started(
                    dict(row), job_id, handoff, subscription, initial=initial, created=False
                )
