"""Messages of a thread: create, read, list (with a run filter), modify metadata, delete."""

from __future__ import annotations

from typing import Any

from assistantd.clock import Clock
from assistantd.errors import InvalidRequestError, not_found
from assistantd.ids import new_id
from assistantd.service.caller import Caller
from assistantd.service.listing import cursor_errors, page_request, to_list
from assistantd.service.resources import ToolResourceBinder
from assistantd.store import objects
from assistantd.store import runs as run_store
from assistantd.store.database import Conn, Database
from assistantd.store.pagination import CursorNotFound
from assistantd.store.threads import thread_exists
from assistantd.wire.base import Deleted, ListPage, ListQuery
from assistantd.wire.messages import (
    Message,
    MessageCreate,
    MessageUpdate,
    attachments_to_row,
    content_to_row,
    message_from_row,
)


def new_message_row(
    project_id: str, thread_id: str, body: MessageCreate, now: int
) -> dict[str, Any]:
    """A message created through the API: complete at birth, owned by no run."""
    return {
        "id": new_id("message"),
        "project_id": project_id,
        "thread_id": thread_id,
        "created_at": now,
        "role": body.role,
        "status": "completed",
        "content": content_to_row(body.content),
        "attachments": attachments_to_row(body.attachments),
        "metadata": body.metadata or {},
        "assistant_id": None,
        "run_id": None,
        "completed_at": now,
        "incomplete_at": None,
        "incomplete_details": None,
    }


async def _require_thread(conn: Conn, caller: Caller, thread_id: str) -> None:
    if not await thread_exists(conn, caller.project_id, thread_id):
        raise not_found("thread", thread_id)


class MessageService:
    def __init__(self, db: Database, clock: Clock, resources: ToolResourceBinder) -> None:
        self._db = db
        self._clock = clock
        self._resources = resources
        self._table = objects.messages

    async def create(self, caller: Caller, thread_id: str, body: MessageCreate) -> Message:
        row = new_message_row(caller.project_id, thread_id, body, self._clock())
        async with self._db.write() as conn:
            if not await run_store.lock_thread(conn, caller.project_id, thread_id):
                raise not_found("thread", thread_id)
            active = await run_store.active_run_id(conn, thread_id)
            if active is not None:
                raise InvalidRequestError(
                    f"Can't add messages to {thread_id} while a run {active} is active."
                )
            await self._table.insert(conn, row)
            queued = await self._resources.index_attachments(
                conn, caller.project_id, thread_id, [row]
            )
        if queued:
            self._resources.wake()
        return message_from_row(row)

    async def get(self, caller: Caller, thread_id: str, message_id: str) -> Message:
        async with self._db.read() as conn:
            row = await self._table.get(conn, caller.project_id, message_id, parent_id=thread_id)
            if row is None:
                raise await self._missing(conn, caller, thread_id, message_id)
        return message_from_row(row)

    async def list(
        self, caller: Caller, thread_id: str, query: ListQuery, run_id: str | None = None
    ) -> ListPage[Message]:
        where = {"thread_id": thread_id}
        if run_id is not None:
            where["run_id"] = run_id
        async with cursor_errors(), self._db.read() as conn:
            try:
                page = await self._table.page(
                    conn, caller.project_id, page_request(query), where=where
                )
            except CursorNotFound:
                await _require_thread(conn, caller, thread_id)
                raise
            # An empty page may mean the thread itself is unknown; only empty pages pay to check.
            if not page.rows:
                await _require_thread(conn, caller, thread_id)
        return to_list(page, message_from_row)

    async def update(
        self, caller: Caller, thread_id: str, message_id: str, body: MessageUpdate
    ) -> Message:
        async with self._db.write() as conn:
            if "metadata" in body.model_fields_set:
                row = await self._table.update(
                    conn,
                    caller.project_id,
                    message_id,
                    {"metadata": body.metadata or {}},
                    where={"thread_id": thread_id},
                )
            else:
                row = await self._table.get(
                    conn, caller.project_id, message_id, parent_id=thread_id
                )
            if row is None:
                raise await self._missing(conn, caller, thread_id, message_id)
        return message_from_row(row)

    async def delete(self, caller: Caller, thread_id: str, message_id: str) -> Deleted:
        async with self._db.write() as conn:
            deleted = await self._table.delete(
                conn, caller.project_id, message_id, where={"thread_id": thread_id}
            )
            if not deleted:
                raise await self._missing(conn, caller, thread_id, message_id)
        return Deleted(id=message_id, object="thread.message.deleted")

    @staticmethod
    async def _missing(conn: Conn, caller: Caller, thread_id: str, message_id: str) -> Exception:
        if not await thread_exists(conn, caller.project_id, thread_id):
            return not_found("thread", thread_id)
        return not_found("message", message_id)
