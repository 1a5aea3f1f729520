"""Search over vector stores: applies attribute filters, searches each store, merges stores.

On SQLite each store has an in-memory hybrid index kept in step with the database by the
store's `index_version`; on PostgreSQL the search runs in the database (`pg_search`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistantd.retrieval.embedding import Embedder
from assistantd.retrieval.filters import matches
from assistantd.retrieval.index import Hit, HybridIndex, IndexedChunk
from assistantd.retrieval.pg_search import PgHit, PostgresSearch
from assistantd.retrieval.query import rewrite_query
from assistantd.retrieval.vectors import DEFAULT_APPROXIMATE_FROM
from assistantd.store import chunks as chunk_store
from assistantd.store import vector_stores as vs_store
from assistantd.store.database import Database
from assistantd.wire.vector_stores import ComparisonFilter, CompoundFilter

log = logging.getLogger("assistantd.retrieval")

_BUILD_WAIT_SECONDS = 300.0


@dataclass(frozen=True)
class SearchHit:
    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, Any] | None
    vector_store_id: str


@dataclass
class _StoreIndex:
    version: int = -1
    index: HybridIndex | None = None  # made with the first chunks (their vectors' size)
    files: dict[str, Any] = field(default_factory=dict)  # file_id -> row (attributes, filename)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Searcher:
    def __init__(self, db: Database, embedder: Embedder, *, max_stores: int = 64) -> None:
        self._db = db
        self._embedder = embedder
        self._in_database = None if db.is_sqlite else PostgresSearch(db)
        self._max_stores = max_stores
        self._stores: OrderedDict[str, _StoreIndex] = OrderedDict()

    def forget(self, store_id: str) -> None:
        self._stores.pop(store_id, None)

    @staticmethod
    def shown_query(query: str, rewrite: bool) -> str:
        return rewrite_query(query) if rewrite else query

    async def search(
        self,
        store_ids: list[str],
        query: str,
        *,
        limit: int,
        filters: ComparisonFilter | CompoundFilter | None = None,
        score_threshold: float = 0.0,
        rewrite: bool = False,
    ) -> list[SearchHit]:
        """The best chunks across the stores, best first, scores in 0..1."""
        started = time.perf_counter()
        text_query = rewrite_query(query) if rewrite else query
        # The query is embedded while the stores' indexes are brought up to date.
        embedding = asyncio.ensure_future(asyncio.to_thread(self._embedder.embed_query, query))
        try:
            entries = [await self._synced(store_id) for store_id in store_ids]
        except BaseException:
            embedding.cancel()
            raise
        vector = await embedding
        found: list[tuple[float, str, int, _StoreIndex]] = []
        for store_id, entry in zip(store_ids, entries, strict=True):
            allowed = {
                file_id
                for file_id, row in entry.files.items()
                if filters is None or matches(filters, row["attributes"])
            }
            if not allowed:
                continue
            if self._in_database is not None:
                hits: list[Hit] | list[PgHit] = await self._in_database.search(
                    store_id,
                    sorted(allowed),
                    text_query,
                    vector,
                    k=limit,
                    score_threshold=score_threshold,
                )
            elif entry.index is not None:
                hits = entry.index.search(
                    text_query,
                    vector,
                    k=limit,
                    allowed_files=allowed if len(allowed) < len(entry.files) else None,
                    score_threshold=score_threshold,
                )
            else:
                continue
            found.extend((hit.score, store_id, int(hit.chunk_id), entry) for hit in hits)
        found.sort(key=lambda item: -item[0])
        found = found[:limit]
        async with self._db.read() as conn:
            texts = await chunk_store.chunks_by_seq(conn, [seq for _, _, seq, _ in found])
        results = []
        for score, store_id, seq, entry in found:
            row = texts.get(seq)
            if row is None:  # deleted since the index was read
                continue
            meta = entry.files.get(row["file_id"])
            results.append(
                SearchHit(
                    file_id=row["file_id"],
                    filename=meta["filename"] if meta else "",
                    score=float(min(max(score, 0.0), 1.0)),
                    text=row["text"],
                    attributes=meta["attributes"] if meta else None,
                    vector_store_id=store_id,
                )
            )
        log.debug(
            "search stores=%s hits=%d in %.1f ms",
            store_ids,
            len(results),
            (time.perf_counter() - started) * 1000,
        )
        return results

    async def _synced(self, store_id: str) -> _StoreIndex:
        entry = self._stores.get(store_id)
        if entry is None:
            entry = self._stores[store_id] = _StoreIndex()
            while len(self._stores) > self._max_stores:
                self._stores.popitem(last=False)
        self._stores.move_to_end(store_id)
        async with entry.lock:
            async with self._db.read() as conn:
                version = await vs_store.index_version(conn, store_id)
                if version is None or version == entry.version:
                    return entry
                rows = await vs_store.completed_files(conn, store_id)
                current = {row["id"]: row for row in rows}
                stale = {
                    file_id
                    for file_id, row in entry.files.items()
                    if file_id not in current or current[file_id]["first_seq"] != row["first_seq"]
                }
                new_ids = [f for f in current if f not in entry.files or f in stale]
                chunk_rows = (
                    await chunk_store.chunks_of_files(conn, store_id, new_ids)
                    if self._in_database is None
                    else []
                )
            for gone in stale:
                if entry.index is not None:
                    entry.index.remove_file(gone)
            if chunk_rows:
                chunks = [
                    IndexedChunk(
                        chunk_id=str(row["seq"]),
                        file_id=row["file_id"],
                        text=row["text"],
                        vector=np.frombuffer(row["embedding"], dtype=np.float32),
                        title=_title(current[row["file_id"]]),
                    )
                    for row in chunk_rows
                ]
                if entry.index is None:
                    entry.index = HybridIndex(len(chunks[0].vector))
                await asyncio.to_thread(entry.index.add, chunks)
                if len(chunks) >= DEFAULT_APPROXIMATE_FROM:
                    # A store loaded whole (first search after a start) is searched once its
                    # clustered vector index exists, rather than beside the build for seconds.
                    await asyncio.to_thread(entry.index.wait_until_built, _BUILD_WAIT_SECONDS)
            entry.files = current
            entry.version = version
            log.info(
                "vector_store_id=%s index at version %d: %d files, %d new chunks",
                store_id,
                entry.version,
                len(current),
                len(chunk_rows),
            )
        return entry


def _title(file_row: Any) -> str:
    """The keyword index's title field: the file name and the document's title line."""
    return " ".join(part for part in (file_row["filename"], file_row["title"]) if part)
