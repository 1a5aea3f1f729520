"""Ingestion of one file into one vector store, as a durable job: extract -> chunk -> embed ->
write the chunks and mark the file `completed` in one transaction (or `failed`, with a reason).

Nothing is half-written: chunks appear together with the `completed` status, and a file that
was cancelled or detached meanwhile is left alone. Unexpected errors are retried by the job
queue; after `max_attempts` the file fails with `server_error`. Every write is fenced by the
job's claim: an attempt whose job was taken over writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from assistantd.clock import Clock
from assistantd.retrieval.chunking import ChunkingSpec, TextChunk, chunk_text
from assistantd.retrieval.embed_batcher import EmbeddingBatcher
from assistantd.retrieval.embedding import Embedder
from assistantd.retrieval.extract import ExtractionError, InvalidFileError, extract_text
from assistantd.store import chunks as chunk_store
from assistantd.store import ingestion
from assistantd.store import vector_stores as vs_store
from assistantd.store.blobs import BlobStore
from assistantd.store.database import Database
from assistantd.store.jobs import Claim, LeaseLost, fenced_write
from assistantd.store.text import storable

log = logging.getLogger("assistantd.retrieval")

INGEST_JOB = "ingest"  # the job kind; its ref names the store and the file
EMBED_BATCH = 64  # chunks per embedding request; the batcher adds other files' chunks
PROGRESS_EVERY_SECONDS = 10.0
MAX_TITLE_CHARS = 200


def ingest_ref(store_id: str, file_id: str) -> str:
    return f"{store_id}/{file_id}"


def parse_ingest_ref(ref: str) -> tuple[str, str]:
    store_id, _, file_id = ref.partition("/")
    return store_id, file_id


def title_line(text: str) -> str | None:
    """The document's first non-empty line when it is short enough to be a title (a heading,
    a paper's title line); searched as a field of its own."""
    for line in text.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped if len(stripped) <= MAX_TITLE_CHARS else None
    return None


class Ingestor:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        embedder: Embedder,
        clock: Clock,
        *,
        max_attempts: int = 3,
        parallel_batches: int = 1,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._clock = clock
        self._max_attempts = max_attempts
        # Chunks of files ingested at once are embedded together, one batch at a time.
        self._batcher = EmbeddingBatcher(embedder, parallel=parallel_batches)

    async def __call__(self, ref: str, claim: Claim) -> None:
        store_id, file_id = parse_ingest_ref(ref)
        target = await self._target(store_id, file_id)
        if target is None:
            return  # detached, cancelled or already done
        try:
            await self._ingest(claim, store_id, file_id, target)
        except ExtractionError as exc:
            code = "invalid_file" if isinstance(exc, InvalidFileError) else "unsupported_file"
            await self._fail(claim, store_id, file_id, code, str(exc))
        except LeaseLost:
            raise  # another attempt has the job: stop, writing nothing
        except Exception:
            if claim.attempt < self._max_attempts:
                raise  # the queue retries after the lease runs out
            log.exception("vector_store_id=%s file_id=%s ingestion failed", store_id, file_id)
            await self._fail(
                claim,
                store_id,
                file_id,
                "server_error",
                "The file could not be processed; try again.",
            )

    async def _target(self, store_id: str, file_id: str) -> Mapping[Any, Any] | None:
        async with self._db.read() as conn:
            row = await ingestion.ingest_target(conn, store_id, file_id)
        if row is None or row["status"] != "in_progress":
            return None
        return row

    async def _ingest(
        self, claim: Claim, store_id: str, file_id: str, target: Mapping[Any, Any]
    ) -> None:
        started = time.monotonic()
        static = target["chunking_strategy"]["static"]
        spec = ChunkingSpec(static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
        path = self._blobs.path_of(target["blob_key"])
        text = await asyncio.to_thread(extract_text, path, target["filename"])
        # A NUL the extraction let through (a late one in a text file, a PDF's) is stored as
        # U+FFFD on both databases: PostgreSQL cannot store it.
        text = storable(text)
        pieces = await asyncio.to_thread(chunk_text, text, spec)
        if not pieces:
            raise InvalidFileError("The file contains no text to index.")
        vectors = await self._embed(store_id, file_id, pieces, started)
        rows: list[dict[str, Any]] = [
            {
                "project_id": None,  # filled below
                "vector_store_id": store_id,
                "file_id": file_id,
                "chunk_index": piece.index,
                "text": piece.text,
                "token_count": piece.token_count,
                "embedding": vector.astype(np.float32).tobytes(),
            }
            for piece, vector in zip(pieces, vectors, strict=True)
        ]
        usage = sum(len(row["text"].encode()) + len(row["embedding"]) for row in rows)
        async with fenced_write(self._db, claim) as conn:
            project_id = await ingestion.complete_file(
                conn, store_id, file_id, usage_bytes=usage, title=title_line(text)
            )
            if project_id is None:
                return  # cancelled or detached while we worked: keep nothing
            for row in rows:
                row["project_id"] = project_id
            await chunk_store.delete_chunks(conn, store_id, file_id)
            await chunk_store.insert_chunks(conn, rows, pgvector=not self._db.is_sqlite)
            await vs_store.bump_index_version(conn, [store_id])
        log.info(
            "vector_store_id=%s file_id=%s ingested: %d chunks, %d characters in %.1f s",
            store_id,
            file_id,
            len(rows),
            len(text),
            time.monotonic() - started,
        )

    async def _embed(
        self, store_id: str, file_id: str, pieces: list[TextChunk], started: float
    ) -> list[np.ndarray[Any, Any]]:
        vectors: list[np.ndarray[Any, Any]] = []
        last_report = time.monotonic()
        for start in range(0, len(pieces), EMBED_BATCH):
            batch = [piece.text for piece in pieces[start : start + EMBED_BATCH]]
            vectors.extend(await self._batcher.embed(batch))
            if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                last_report = time.monotonic()
                log.info(
                    "vector_store_id=%s file_id=%s embedding: %d/%d chunks after %.0f s",
                    store_id,
                    file_id,
                    len(vectors),
                    len(pieces),
                    last_report - started,
                )
        return vectors

    async def _fail(
        self, claim: Claim, store_id: str, file_id: str, code: str, message: str
    ) -> None:
        async with fenced_write(self._db, claim) as conn:
            await ingestion.fail_file(conn, store_id, file_id, code, message)
        log.info("vector_store_id=%s file_id=%s failed: %s: %s", store_id, file_id, code, message)
