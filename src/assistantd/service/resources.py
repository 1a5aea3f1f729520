"""Tool resources that point at files and vector stores: checked to exist, created from the
`vector_stores` helper, and fed by message attachments (a thread's own attachment store)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistantd.clock import Clock
from assistantd.errors import InvalidRequestError
from assistantd.service.attach import (
    FileToAttach,
    attach_files,
    chunking_to_row,
    require_files,
    require_message_files,
)
from assistantd.service.vector_stores import VectorStoreService
from assistantd.store import threads as thread_store
from assistantd.store import vector_stores as vs_store
from assistantd.store.database import Conn
from assistantd.wire.tools import ToolResources, ToolResourcesCreate, tool_resources_to_row


@dataclass(frozen=True)
class CreatedResources:
    """The stored form of create-time resources, and whether files were queued for ingestion
    (only then is the ingestion woken: waking it loads the local embedding model)."""

    stored: dict[str, Any]
    queued: bool


class ToolResourceBinder:
    def __init__(self, stores: VectorStoreService, clock: Clock, thread_store_days: int) -> None:
        self._stores = stores
        self._clock = clock
        self._thread_store_days = thread_store_days

    def wake(self) -> None:
        """Call after a commit that attached files: ingestion starts now, not at the next poll."""
        self._stores.wake_ingest()

    async def create_resources(
        self,
        conn: Conn,
        project_id: str,
        resources: ToolResourcesCreate | None,
        param: str = "tool_resources",
    ) -> CreatedResources:
        """The stored form of create-time resources; the helper's store is created here."""
        if resources is None:
            return CreatedResources({}, queued=False)
        ids_only = ToolResources.model_validate(
            resources.model_dump(exclude_none=True, exclude={"file_search": {"vector_stores"}})
        )
        stored = await self.check_resources(conn, project_id, ids_only, param)
        helpers = resources.file_search.vector_stores if resources.file_search else None
        if helpers:
            helper = helpers[0]
            store_id = await self._stores.create_in(
                conn,
                project_id,
                name=None,
                metadata=helper.metadata or {},
                expires_after=None,
                file_ids=helper.file_ids,
                chunking=helper.chunking_strategy,
                file_ids_param=f"{param}.file_search.vector_stores[0].file_ids",
            )
            stored["file_search"] = {"vector_store_ids": [store_id]}
            return CreatedResources(stored, queued=bool(helper.file_ids))
        return CreatedResources(stored, queued=False)

    async def check_resources(
        self,
        conn: Conn,
        project_id: str,
        resources: ToolResources | None,
        param: str = "tool_resources",
    ) -> dict[str, Any]:
        """The stored form of id-only resources, once every id is known to exist."""
        stored = tool_resources_to_row(resources)
        file_ids = stored.get("code_interpreter", {}).get("file_ids", [])
        await require_files(conn, project_id, file_ids, f"{param}.code_interpreter.file_ids")
        store_ids = stored.get("file_search", {}).get("vector_store_ids", [])
        if store_ids:
            known = await vs_store.existing_stores(conn, project_id, store_ids)
            for index, store_id in enumerate(store_ids):
                if store_id not in known:
                    where = f"{param}.file_search.vector_store_ids[{index}]"
                    raise InvalidRequestError(
                        f"Invalid '{where}': no vector store found with id '{store_id}'.",
                        param=where,
                    )
        return stored

    async def index_attachments(
        self,
        conn: Conn,
        project_id: str,
        thread_id: str,
        rows: Sequence[Mapping[str, Any]],
        messages_param: str | None = None,
    ) -> bool:
        """Check the files new messages name (attachments and `image_file` parts) exist in the
        project, and put `file_search` attachments into the thread's attachment store (created
        on demand). True when files were queued for ingestion. `messages_param` names the list
        the rows came from (`messages`, `additional_messages`); None for a single message body."""
        await require_message_files(conn, project_id, rows, messages_param)
        attached = [a for row in rows for a in row["attachments"]]
        searchable = [
            a["file_id"]
            for a in attached
            if any(tool["type"] == "file_search" for tool in a["tools"])
        ]
        if not searchable:
            return False
        store_id = await self._thread_store(conn, project_id, thread_id)
        strategy = chunking_to_row(None)
        items = [FileToAttach(file_id, strategy, None) for file_id in searchable]
        fresh = await attach_files(conn, project_id, store_id, items, self._clock())
        return bool(fresh)

    async def _thread_store(self, conn: Conn, project_id: str, thread_id: str) -> str:
        existing = await thread_store.attachment_store_id(conn, thread_id)
        if existing is not None:
            return existing
        store_id = await self._stores.create_in(
            conn,
            project_id,
            name=None,
            metadata={},
            expires_after={"anchor": "last_active_at", "days": self._thread_store_days},
            file_ids=[],
            chunking=None,
            thread_id=thread_id,
        )
        # Shown on the thread like the hosted API did, unless the thread names a store already.
        current = await thread_store.tool_resources(conn, thread_id) or {}
        if not (current.get("file_search") or {}).get("vector_store_ids"):
            resources = {**current, "file_search": {"vector_store_ids": [store_id]}}
            await thread_store.set_tool_resources(conn, thread_id, resources)
        return store_id
