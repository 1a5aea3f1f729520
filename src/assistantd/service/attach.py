"""Attaching files to a vector store: the one place that creates vector-store-file records and
queues their ingestion (used by store create, files create, batches and thread attachments)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistantd.errors import InvalidRequestError
from assistantd.retrieval.ingest import INGEST_JOB, ingest_ref
from assistantd.store import jobs as job_store
from assistantd.store import objects
from assistantd.store import vector_stores as vs_store
from assistantd.store.database import Conn
from assistantd.wire.tools import AutoChunkingStrategy, StaticChunkingStrategy

AUTO_CHUNK_TOKENS = 800
AUTO_CHUNK_OVERLAP = 400

vs_files_table = objects.vector_store_files


def chunking_to_row(
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
    where = [f"{param}[{index}]" if indexed else param for index in range(len(file_ids))]
    await _require_known(conn, project_id, list(zip(where, file_ids, strict=True)))


async def _require_known(conn: Conn, project_id: str, refs: Sequence[tuple[str, str]]) -> None:
    """Each (parameter, file id) names a file of the project, else a 400 for the first that
    does not; another project's file is exactly as unknown as a missing one."""
    if not refs:
        return
    unique = list(dict.fromkeys(file_id for _, file_id in refs))
    known = await vs_store.existing_files(conn, project_id, unique)
    for where, file_id in refs:
        if file_id not in known:
            raise InvalidRequestError(
                f"Invalid '{where}': no file found with id '{file_id}'.", param=where
            )


def _message_file_refs(
    rows: Sequence[Mapping[str, Any]], messages_param: str | None
) -> list[tuple[str, str]]:
    """(parameter, file id) of every file a message row names, in request order."""
    refs: list[tuple[str, str]] = []
    for index, row in enumerate(rows):
        prefix = "" if messages_param is None else f"{messages_param}[{index}]."
        for part_index, part in enumerate(row["content"]):
            if part["type"] == "image_file":
                where = f"{prefix}content[{part_index}].image_file.file_id"
                refs.append((where, part["image_file"]["file_id"]))
        for item_index, item in enumerate(row["attachments"]):
            refs.append((f"{prefix}attachments[{item_index}].file_id", item["file_id"]))
    return refs


async def require_message_files(
    conn: Conn,
    project_id: str,
    rows: Sequence[Mapping[str, Any]],
    messages_param: str | None = None,
) -> None:
    """Every file new messages name (`image_file` parts and attachments) is a file of the
    project, checked like every other file reference. `messages_param` names the list the
    rows came from (`messages[i].` prefixes the parameter); None for one message body."""
    await _require_known(conn, project_id, _message_file_refs(rows, messages_param))


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
