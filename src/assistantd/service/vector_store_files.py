"""Files inside a vector store, and file batches: attach, list, read, update, detach, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistantd.clock import Clock
from assistantd.errors import InvalidRequestError, not_found
from assistantd.ids import new_id
from assistantd.service.attach import (
    FileToAttach,
    attach_files,
    chunking_to_row,
    require_files,
    vs_files_table,
)
from assistantd.service.caller import Caller
from assistantd.service.listing import cursor_errors, to_list
from assistantd.service.vector_stores import load_store
from assistantd.store import chunks as chunk_store
from assistantd.store import objects
from assistantd.store import vector_stores as vs_store
from assistantd.store.database import Conn, Database
from assistantd.store.pagination import PageRequest
from assistantd.wire.base import Deleted, ListPage
from assistantd.wire.vector_stores import (
    FileBatch,
    FileBatchCreate,
    FileContentPage,
    TextContent,
    VectorStoreFile,
    VectorStoreFileCreate,
    VectorStoreFileListQuery,
    VectorStoreFileUpdate,
    file_batch_from_row,
    file_counts,
    vector_store_file_from_row,
)

batches_table = objects.file_batches


def _check_batch(body: FileBatchCreate) -> None:
    if body.file_ids is None and body.files is None:
        raise InvalidRequestError(
            "Missing required parameter: 'file_ids' (or 'files').",
            param="file_ids",
            code="missing_required_parameter",
        )
    if body.file_ids is not None and body.files is not None:
        raise InvalidRequestError(
            "Invalid 'files': give either 'file_ids' or 'files', not both.", param="files"
        )
    if body.files is not None:
        for name in ("chunking_strategy", "attributes"):
            if getattr(body, name) is not None:
                raise InvalidRequestError(
                    f"Invalid '{name}': it applies to 'file_ids'; with 'files', set it on each "
                    "file.",
                    param=name,
                )


def _page(query: VectorStoreFileListQuery) -> PageRequest:
    return PageRequest(limit=query.limit, order=query.order, after=query.after, before=query.before)


class VectorStoreFileService:
    def __init__(self, db: Database, clock: Clock, wake_ingest: Callable[[], None]) -> None:
        self._db = db
        self._clock = clock
        self._wake_ingest = wake_ingest

    async def create(
        self, caller: Caller, store_id: str, body: VectorStoreFileCreate
    ) -> VectorStoreFile:
        async with self._db.write() as conn:
            await load_store(conn, caller.project_id, store_id)
            await require_files(conn, caller.project_id, [body.file_id], "file_id", indexed=False)
            item = FileToAttach(
                body.file_id, chunking_to_row(body.chunking_strategy), body.attributes
            )
            fresh = await attach_files(conn, caller.project_id, store_id, [item], self._clock())
            row = await vs_files_table.get(
                conn, caller.project_id, body.file_id, parent_id=store_id
            )
        assert row is not None
        if fresh:
            self._wake_ingest()
        return vector_store_file_from_row(row)

    async def get(self, caller: Caller, store_id: str, file_id: str) -> VectorStoreFile:
        async with self._db.read() as conn:
            row = await self._load(conn, caller, store_id, file_id)
        return vector_store_file_from_row(row)

    async def list(
        self, caller: Caller, store_id: str, query: VectorStoreFileListQuery
    ) -> ListPage[VectorStoreFile]:
        async with cursor_errors(), self._db.read() as conn:
            await load_store(conn, caller.project_id, store_id)
            page = await vs_store.page_store_files(
                conn, caller.project_id, store_id, _page(query), status=query.filter
            )
        return to_list(page, vector_store_file_from_row)

    async def update(
        self, caller: Caller, store_id: str, file_id: str, body: VectorStoreFileUpdate
    ) -> VectorStoreFile:
        async with self._db.write() as conn:
            await self._load(conn, caller, store_id, file_id)
            row = await vs_files_table.update(
                conn,
                caller.project_id,
                file_id,
                {"attributes": body.attributes},
                where={"vector_store_id": store_id},
            )
            # Attributes feed search filters, which in-memory indexes cache per version.
            await vs_store.bump_index_version(conn, [store_id])
        assert row is not None
        return vector_store_file_from_row(row)

    async def delete(self, caller: Caller, store_id: str, file_id: str) -> Deleted:
        async with self._db.write() as conn:
            await self._load(conn, caller, store_id, file_id)
            await vs_files_table.delete(
                conn, caller.project_id, file_id, where={"vector_store_id": store_id}
            )
            await chunk_store.delete_chunks(conn, store_id, file_id)
            await vs_store.bump_index_version(conn, [store_id])
        return Deleted(id=file_id, object="vector_store.file.deleted")

    async def content(self, caller: Caller, store_id: str, file_id: str) -> FileContentPage:
        async with self._db.read() as conn:
            await self._load(conn, caller, store_id, file_id)
            texts = await chunk_store.chunk_texts(conn, store_id, file_id)
        return FileContentPage(data=[TextContent(text=text) for text in texts])

    async def _load(self, conn: Conn, caller: Caller, store_id: str, file_id: str) -> Any:
        await load_store(conn, caller.project_id, store_id)
        row = await vs_files_table.get(conn, caller.project_id, file_id, parent_id=store_id)
        if row is None:
            raise not_found("vector store file", file_id)
        return row


class FileBatchService:
    def __init__(self, db: Database, clock: Clock, wake_ingest: Callable[[], None]) -> None:
        self._db = db
        self._clock = clock
        self._wake_ingest = wake_ingest

    async def create(self, caller: Caller, store_id: str, body: FileBatchCreate) -> FileBatch:
        _check_batch(body)
        if body.files is not None:
            items = [
                FileToAttach(f.file_id, chunking_to_row(f.chunking_strategy), f.attributes)
                for f in body.files
            ]
            param = "files"
        else:
            strategy = chunking_to_row(body.chunking_strategy)
            items = [FileToAttach(f, strategy, body.attributes) for f in body.file_ids or []]
            param = "file_ids"
        file_ids = [item.file_id for item in items]
        now = self._clock()
        async with self._db.write() as conn:
            await load_store(conn, caller.project_id, store_id)
            await require_files(
                conn,
                caller.project_id,
                file_ids,
                param,
            )
            batch_id = new_id("file_batch")
            row = {
                "id": batch_id,
                "project_id": caller.project_id,
                "vector_store_id": store_id,
                "created_at": now,
                "cancelled_at": None,
            }
            await batches_table.insert(conn, row)
            await vs_store.add_to_batch(conn, batch_id, list(dict.fromkeys(file_ids)))
            fresh = await attach_files(conn, caller.project_id, store_id, items, now)
            totals = await vs_store.batch_totals(conn, batch_id, store_id)
        if fresh:
            self._wake_ingest()
        return file_batch_from_row(row, file_counts(totals.by_status))

    async def get(self, caller: Caller, store_id: str, batch_id: str) -> FileBatch:
        async with self._db.read() as conn:
            row = await self._load(conn, caller, store_id, batch_id)
            totals = await vs_store.batch_totals(conn, batch_id, store_id)
        return file_batch_from_row(row, file_counts(totals.by_status))

    async def cancel(self, caller: Caller, store_id: str, batch_id: str) -> FileBatch:
        async with self._db.write() as conn:
            row = await self._load(conn, caller, store_id, batch_id)
            totals = await vs_store.batch_totals(conn, batch_id, store_id)
            if row["cancelled_at"] is None and totals.by_status.get("in_progress"):
                await vs_store.cancel_batch_files(conn, batch_id, store_id)
                updated = await batches_table.update(
                    conn, caller.project_id, batch_id, {"cancelled_at": self._clock()}
                )
                assert updated is not None
                row = updated
                totals = await vs_store.batch_totals(conn, batch_id, store_id)
            elif row["cancelled_at"] is None:
                raise InvalidRequestError(
                    f"Cannot cancel file batch '{batch_id}': it has already finished.",
                    param="batch_id",
                )
        return file_batch_from_row(row, file_counts(totals.by_status))

    async def list_files(
        self, caller: Caller, store_id: str, batch_id: str, query: VectorStoreFileListQuery
    ) -> ListPage[VectorStoreFile]:
        async with cursor_errors(), self._db.read() as conn:
            await self._load(conn, caller, store_id, batch_id)
            page = await vs_store.page_store_files(
                conn,
                caller.project_id,
                store_id,
                _page(query),
                status=query.filter,
                batch_id=batch_id,
            )
        return to_list(page, vector_store_file_from_row)

    async def _load(self, conn: Conn, caller: Caller, store_id: str, batch_id: str) -> Any:
        await load_store(conn, caller.project_id, store_id)
        row = await batches_table.get(conn, caller.project_id, batch_id, parent_id=store_id)
        if row is None:
            raise not_found("file batch", batch_id)
        return row
