"""Vector stores: create (with files), read, list, modify, delete, and search."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from assistantd.clock import Clock
from assistantd.errors import InvalidRequestError, not_found
from assistantd.ids import new_id
from assistantd.retrieval.search import Searcher, SearchHit
from assistantd.service.attach import FileToAttach, attach_files, chunking_to_row, require_files
from assistantd.service.caller import Caller
from assistantd.service.listing import cursor_errors, page_request, to_list
from assistantd.store import objects
from assistantd.store import vector_stores as vs_store
from assistantd.store.database import Conn, Database
from assistantd.wire.base import Deleted, ListPage, ListQuery
from assistantd.wire.tools import ChunkingStrategy
from assistantd.wire.vector_stores import (
    SearchRequest,
    SearchResult,
    SearchResultsPage,
    TextContent,
    VectorStore,
    VectorStoreCreate,
    VectorStoreUpdate,
    file_counts,
    vector_store_from_row,
)

stores_table = objects.vector_stores


async def load_store(conn: Conn, project_id: str, store_id: str) -> Mapping[Any, Any]:
    row = await stores_table.get(conn, project_id, store_id)
    if row is None:
        raise not_found("vector store", store_id)
    return row


class VectorStoreService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        searcher: Searcher,
        wake_ingest: Callable[[], None],
        embedding_model: str,
    ) -> None:
        self._db = db
        self._clock = clock
        self._searcher = searcher
        self._wake_ingest = wake_ingest
        self._embedding_model = embedding_model

    async def create(self, caller: Caller, body: VectorStoreCreate) -> VectorStore:
        async with self._db.write() as conn:
            store_id = await self.create_in(
                conn,
                caller.project_id,
                name=body.name,
                description=body.description,
                metadata=body.metadata or {},
                expires_after=body.expires_after.model_dump() if body.expires_after else None,
                file_ids=body.file_ids,
                chunking=body.chunking_strategy,
            )
            wire = await self._from_row(conn, await load_store(conn, caller.project_id, store_id))
        # Even without files: a new store is about to get some (this also readies the model).
        self._wake_ingest()
        return wire

    async def create_in(
        self,
        conn: Conn,
        project_id: str,
        *,
        name: str | None,
        description: str | None = None,
        metadata: dict[str, str],
        expires_after: dict[str, Any] | None,
        file_ids: list[str],
        chunking: ChunkingStrategy | None,
        thread_id: str | None = None,
        file_ids_param: str = "file_ids",
    ) -> str:
        """Create a store inside the caller's transaction (also used by the tool_resources
        helper and thread attachments); the caller wakes ingestion after commit."""
        await require_files(conn, project_id, file_ids, file_ids_param)
        now = self._clock()
        store_id = new_id("vector_store")
        expires_at = (
            now + int(expires_after["days"]) * vs_store.DAY_SECONDS if expires_after else None
        )
        await stores_table.insert(
            conn,
            {
                "id": store_id,
                "project_id": project_id,
                "created_at": now,
                "name": name,
                "description": description,
                "metadata": metadata,
                "expires_after": expires_after,
                "expires_at": expires_at,
                "last_active_at": now,
                "thread_id": thread_id,
                "embedding_model": self._embedding_model,
                "index_version": 0,
            },
        )
        strategy = chunking_to_row(chunking)
        items = [FileToAttach(file_id, strategy, None) for file_id in file_ids]
        await attach_files(conn, project_id, store_id, items, now)
        return store_id

    def wake_ingest(self) -> None:
        self._wake_ingest()

    async def get(self, caller: Caller, store_id: str) -> VectorStore:
        async with self._db.read() as conn:
            return await self._from_row(conn, await load_store(conn, caller.project_id, store_id))

    async def list(self, caller: Caller, query: ListQuery) -> ListPage[VectorStore]:
        async with cursor_errors(), self._db.read() as conn:
            page = await stores_table.page(conn, caller.project_id, page_request(query))
            totals = await vs_store.store_totals(conn, [row["id"] for row in page.rows])
        now = self._clock()

        def convert(row: Mapping[Any, Any]) -> VectorStore:
            entry = totals[row["id"]]
            return vector_store_from_row(row, file_counts(entry.by_status), entry.usage_bytes, now)

        return to_list(page, convert)

    async def update(self, caller: Caller, store_id: str, body: VectorStoreUpdate) -> VectorStore:
        given = body.model_fields_set
        values: dict[str, Any] = {}
        if "name" in given:
            values["name"] = body.name
        if "metadata" in given:
            values["metadata"] = body.metadata or {}
        async with self._db.write() as conn:
            row = await load_store(conn, caller.project_id, store_id)
            if "expires_after" in given:
                after = body.expires_after.model_dump() if body.expires_after else None
                values["expires_after"] = after
                values["expires_at"] = (
                    row["last_active_at"] + int(after["days"]) * vs_store.DAY_SECONDS
                    if after
                    else None
                )
            if values:
                updated = await stores_table.update(conn, caller.project_id, store_id, values)
                assert updated is not None
                row = updated
            return await self._from_row(conn, row)

    async def delete(self, caller: Caller, store_id: str) -> Deleted:
        async with self._db.write() as conn:
            deleted = await stores_table.delete(conn, caller.project_id, store_id)
        if not deleted:
            raise not_found("vector store", store_id)
        self._searcher.forget(store_id)
        return Deleted(id=store_id, object="vector_store.deleted")

    async def search(self, caller: Caller, store_id: str, body: SearchRequest) -> SearchResultsPage:
        queries = [body.query] if isinstance(body.query, str) else list(body.query)
        ranking = body.ranking_options
        now = self._clock()
        async with self._db.read() as conn:
            row = await load_store(conn, caller.project_id, store_id)
        if row["expires_at"] is not None and row["expires_at"] <= now:
            raise InvalidRequestError(
                f"Vector store '{store_id}' has expired and can no longer be searched.",
                param="vector_store_id",
                code="vector_store_expired",
            )
        if row["last_active_at"] < now:  # one write per second at most, not one per search
            async with self._db.write() as conn:
                await vs_store.touch(conn, [store_id], now)
        hits = await self._searcher.search(
            [store_id],
            " ".join(queries),
            limit=body.max_num_results,
            filters=body.filters,
            score_threshold=ranking.score_threshold if ranking else 0.0,
            rewrite=body.rewrite_query,
        )
        return SearchResultsPage(
            search_query=[self._searcher.shown_query(q, body.rewrite_query) for q in queries],
            data=[_result(hit) for hit in hits],
        )

    async def _from_row(self, conn: Conn, row: Mapping[Any, Any]) -> VectorStore:
        totals = (await vs_store.store_totals(conn, [row["id"]]))[row["id"]]
        return vector_store_from_row(
            row, file_counts(totals.by_status), totals.usage_bytes, self._clock()
        )


def _result(hit: SearchHit) -> SearchResult:
    return SearchResult(
        file_id=hit.file_id,
        filename=hit.filename,
        score=round(hit.score, 6),
        attributes=hit.attributes,
        content=[TextContent(text=hit.text)],
    )
