"""Attaching files to a vector store: the one place that creates vector-store-file records and
queues their ingestion (used by store create, files create, batches and thread attachments)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistantd.errors import InvalidRequestError
from assistantd.retrieval.ingest import INGEST_JOB, ingest_ref
from assistantd.store import jobs as job_store
from assistantd.store import vector_stores as vs_store
from assistantd.store.database import Conn
from assistantd.store.objects import ObjectTable
from assistantd.store.tables import vector_store_files
from assistantd.wire.tools import AutoChunkingStrategy, StaticChunkingStrategy

AUTO_CHUNK_TOKENS = 800
AUTO_CHUNK_OVERLAP = 400

vs_files_table = ObjectTable(vector_store_files, parent="vector_store_id")


def chunking_to_wire(
    strategy: AutoChunkingStrategy | StaticChunkingStrategy | None,
) -> dict[str, Any]:
    """The resolved form stored and returned on a vector store file (auto is 800/400)."""
    if isinstance(strategy, StaticChunkingStrategy):
        size, overlap = strategy.static.max_chunk_size_tokens, strategy.static.chunk_overlap_tokens
    else:
        size, overlap = AUTO_CHUNK_TOKENS, AUTO_CHUNK_OVERLAP
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
    }


@dataclass(frozen=True)
class FileToAttach:
    file_id: str
    chunking_strategy: dict[str, Any]
    attributes: dict[str, Any] | None


async def require_files(
    conn: Conn, project_id: str, file_ids: Sequence[str], param: str, *, indexed: bool = True
) -> None:
    """Every id names a file of the project, else a 400 naming the first unknown one
    (`param[i]`, or `param` itself for a single-id parameter)."""
    known = await vs_store.existing_files(conn, project_id, list(dict.fromkeys(file_ids)))
    for index, file_id in enumerate(file_ids):
        if file_id not in known:
            where = f"{param}[{index}]" if indexed else param
            raise InvalidRequestError(
                f"Invalid '{where}': no file found with id '{file_id}'.", param=where
            )


async def attach_files(
    conn: Conn, project_id: str, store_id: str, items: Sequence[FileToAttach], now: int
) -> list[str]:
    """Create the records (an already attached file is kept as it is) and queue ingestion.
    Returns the ids that were newly attached. Concurrent attaches of the same file are safe:
    the insert skips an existing (store, file) row and only the inserting one queues a job."""
    wanted = list({item.file_id: item for item in items}.values())
    present = await vs_store.attached_files(conn, store_id, [item.file_id for item in wanted])
    fresh: list[str] = []
    for item in wanted:
        if item.file_id in present:
            continue
        inserted = await vs_store.insert_store_file(
            conn,
            {
                "id": item.file_id,
                "project_id": project_id,
                "vector_store_id": store_id,
                "created_at": now,
                "status": "in_progress",
                "last_error": None,
                "chunking_strategy": item.chunking_strategy,
                "attributes": item.attributes,
                "usage_bytes": 0,
                "title": None,
            },
        )
        if inserted:
            fresh.append(item.file_id)
            await job_store.enqueue(conn, INGEST_JOB, ingest_ref(store_id, item.file_id), now)
    return fresh
