"""Threads: create (with initial messages, atomically), read, list by metadata, modify, delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from assistantd.clock import Clock
from assistantd.errors import not_found
from assistantd.ids import new_id
from assistantd.service.caller import Caller
from assistantd.service.listing import cursor_errors, page_request, to_list
from assistantd.service.messages import new_message_row
from assistantd.service.resources import ToolResourceBinder
from assistantd.store import objects
from assistantd.store import threads as thread_store
from assistantd.store.database import Database
from assistantd.wire.base import Deleted, ListPage, ListQuery
from assistantd.wire.threads import Thread, ThreadCreate, ThreadUpdate, thread_from_row


class ThreadService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        resources: ToolResourceBinder,
        close_session: Callable[[str], Awaitable[None]],
    ) -> None:
        self._db = db
        self._clock = clock
        self._resources = resources
        self._close_session = close_session  # the thread's code_interpreter session
        self._table = objects.threads
        self._messages = objects.messages

    async def create(self, caller: Caller, body: ThreadCreate) -> Thread:
        now = self._clock()
        thread_id = new_id("thread")
        row = {
            "id": thread_id,
            "project_id": caller.project_id,
            "created_at": now,
            "tool_resources": {},
            "metadata": body.metadata or {},
        }
        message_rows = [
            new_message_row(caller.project_id, thread_id, message, now) for message in body.messages
        ]
        async with self._db.write() as conn:
            resources = await self._resources.create_resources(
                conn, caller.project_id, body.tool_resources
            )
            row["tool_resources"] = resources.stored
            await self._table.insert(conn, row)
            await self._messages.insert_many(conn, message_rows)
            attached = await self._resources.index_attachments(
                conn, caller.project_id, thread_id, message_rows, "messages"
            )
            created = await self._table.get(conn, caller.project_id, thread_id)
        if resources.queued or attached:
            self._resources.wake()
        assert created is not None
        return thread_from_row(created)

    async def get(self, caller: Caller, thread_id: str) -> Thread:
        async with self._db.read() as conn:
            row = await self._table.get(conn, caller.project_id, thread_id)
        if row is None:
            raise not_found("thread", thread_id)
        return thread_from_row(row)

    async def list(
        self, caller: Caller, query: ListQuery, metadata: Mapping[str, str]
    ) -> ListPage[Thread]:
        """Threads of the project, optionally only those whose metadata has every given pair."""
        async with cursor_errors(), self._db.read() as conn:
            page = await thread_store.page_threads(
                conn, caller.project_id, page_request(query), metadata
            )
        return to_list(page, thread_from_row)

    async def update(self, caller: Caller, thread_id: str, body: ThreadUpdate) -> Thread:
        values: dict[str, Any] = {}
        if "metadata" in body.model_fields_set:
            values["metadata"] = body.metadata or {}
        async with self._db.write() as conn:
            if "tool_resources" in body.model_fields_set:
                values["tool_resources"] = await self._resources.check_resources(
                    conn, caller.project_id, body.tool_resources
                )
            if values:
                row = await self._table.update(conn, caller.project_id, thread_id, values)
            else:
                row = await self._table.get(conn, caller.project_id, thread_id)
        if row is None:
            raise not_found("thread", thread_id)
        return thread_from_row(row)

    async def delete(self, caller: Caller, thread_id: str) -> Deleted:
        """Delete the thread; its messages go with it (foreign key ON DELETE CASCADE), and so
        does the vector store its attachments made."""
        async with self._db.write() as conn:
            deleted = await self._table.delete(conn, caller.project_id, thread_id)
            if deleted:
                await thread_store.delete_attachment_stores(conn, caller.project_id, thread_id)
        if not deleted:
            raise not_found("thread", thread_id)
        await self._close_session(thread_id)
        return Deleted(id=thread_id, object="thread.deleted")
