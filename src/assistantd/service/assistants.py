"""Assistants: create, read, list, modify, delete within the caller's project."""

from __future__ import annotations

from typing import Any

from assistantd.clock import Clock
from assistantd.errors import InvalidRequestError, not_found
from assistantd.ids import new_id
from assistantd.service.caller import Caller
from assistantd.service.listing import cursor_errors, page_request, to_list
from assistantd.service.resources import ToolResourceBinder
from assistantd.service.rules import check_tools
from assistantd.store import objects
from assistantd.store.database import Database
from assistantd.wire.assistants import (
    Assistant,
    AssistantCreate,
    AssistantUpdate,
    assistant_from_row,
)
from assistantd.wire.base import Deleted, ListPage, ListQuery
from assistantd.wire.tools import response_format_to_row, tool_to_row


class AssistantService:
    def __init__(self, db: Database, clock: Clock, resources: ToolResourceBinder) -> None:
        self._db = db
        self._clock = clock
        self._resources = resources
        self._table = objects.assistants

    async def create(self, caller: Caller, body: AssistantCreate) -> Assistant:
        check_tools(body.tools)
        row = {
            "id": new_id("assistant"),
            "project_id": caller.project_id,
            "created_at": self._clock(),
            "name": body.name,
            "description": body.description,
            "model": body.model,
            "instructions": body.instructions,
            "reasoning_effort": body.reasoning_effort,
            "tools": [tool_to_row(tool) for tool in body.tools],
            "tool_resources": {},
            "metadata": body.metadata or {},
            "temperature": body.temperature,
            "top_p": body.top_p,
            "response_format": response_format_to_row(body.response_format),
        }
        async with self._db.write() as conn:
            resources = await self._resources.create_resources(
                conn, caller.project_id, body.tool_resources
            )
            row["tool_resources"] = resources.stored
            await self._table.insert(conn, row)
        if resources.queued:
            self._resources.wake()
        return assistant_from_row(row)

    async def get(self, caller: Caller, assistant_id: str) -> Assistant:
        async with self._db.read() as conn:
            row = await self._table.get(conn, caller.project_id, assistant_id)
        if row is None:
            raise not_found("assistant", assistant_id)
        return assistant_from_row(row)

    async def list(self, caller: Caller, query: ListQuery) -> ListPage[Assistant]:
        async with cursor_errors(), self._db.read() as conn:
            page = await self._table.page(conn, caller.project_id, page_request(query))
        return to_list(page, assistant_from_row)

    async def update(self, caller: Caller, assistant_id: str, body: AssistantUpdate) -> Assistant:
        given = body.model_fields_set
        values: dict[str, Any] = {}
        if "model" in given:
            if body.model is None:
                raise InvalidRequestError(
                    "Invalid 'model': expected a string, but got null instead.", param="model"
                )
            values["model"] = body.model
        for field in ("name", "description", "instructions", "reasoning_effort"):
            if field in given:
                values[field] = getattr(body, field)
        for field in ("temperature", "top_p"):
            if field in given:
                values[field] = getattr(body, field)
        if "tools" in given:
            tools = body.tools or []
            check_tools(tools)
            values["tools"] = [tool_to_row(tool) for tool in tools]
        if "metadata" in given:
            values["metadata"] = body.metadata or {}
        if "response_format" in given:
            values["response_format"] = response_format_to_row(body.response_format)
        async with self._db.write() as conn:
            if "tool_resources" in given:
                values["tool_resources"] = await self._resources.check_resources(
                    conn, caller.project_id, body.tool_resources
                )
            if values:
                row = await self._table.update(conn, caller.project_id, assistant_id, values)
            else:
                row = await self._table.get(conn, caller.project_id, assistant_id)
        if row is None:
            raise not_found("assistant", assistant_id)
        return assistant_from_row(row)

    async def delete(self, caller: Caller, assistant_id: str) -> Deleted:
        async with self._db.write() as conn:
            deleted = await self._table.delete(conn, caller.project_id, assistant_id)
        if not deleted:
            raise not_found("assistant", assistant_id)
        return Deleted(id=assistant_id, object="assistant.deleted")
