"""Queries over vector stores, their files, batches and chunks that plain object access lacks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import RowMapping, and_, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from assistantd.store.database import Conn
from assistantd.store.tables import (
    chunks,
    file_batch_files,
    files,
    vector_store_files,
    vector_stores,
)

DAY_SECONDS = 86_400


@dataclass
class StoreTotals:
    """File counts by status and bytes used, for one vector store or one batch."""

    by_status: dict[str, int] = field(default_factory=dict)
    usage_bytes: int = 0


async def store_totals(conn: Conn, store_ids: Sequence[str]) -> dict[str, StoreTotals]:
    totals: dict[str, StoreTotals] = defaultdict(StoreTotals)
    if not store_ids:
        return totals
    vsf = vector_store_files
    query = (
        select(
            vsf.c.vector_store_id,
            vsf.c.status,
            func.count().label("files"),
            func.sum(vsf.c.usage_bytes).label("usage"),
        )
        .where(vsf.c.vector_store_id.in_(store_ids))
        .group_by(vsf.c.vector_store_id, vsf.c.status)
    )
    for row in (await conn.execute(query)).mappings():
        entry = totals[row["vector_store_id"]]
        entry.by_status[row["status"]] = int(row["files"])
        entry.usage_bytes += int(row["usage"] or 0)
    return totals


async def batch_totals(conn: Conn, batch_id: str, store_id: str) -> StoreTotals:
    vsf = vector_store_files
    query = (
        select(vsf.c.status, func.count().label("files"))
        .select_from(
            vsf.join(
                file_batch_files,
                and_(
                    file_batch_files.c.file_id == vsf.c.id,
                    file_batch_files.c.batch_id == batch_id,
                ),
            )
        )
        .where(vsf.c.vector_store_id == store_id)
        .group_by(vsf.c.status)
    )
    totals = StoreTotals()
    for row in (await conn.execute(query)).mappings():
        totals.by_status[row["status"]] = int(row["files"])
    return totals


def batch_member_condition(batch_id: str) -> Any:
    """Rows of `vector_store_files` that belong to the batch."""
    return vector_store_files.c.id.in_(
        select(file_batch_files.c.file_id).where(file_batch_files.c.batch_id == batch_id)
    )


async def existing_files(conn: Conn, project_id: str, file_ids: Sequence[str]) -> set[str]:
    if not file_ids:
        return set()
    query = select(files.c.id).where(files.c.project_id == project_id, files.c.id.in_(file_ids))
    return {row[0] for row in (await conn.execute(query)).all()}


async def attached_files(conn: Conn, store_id: str, file_ids: Sequence[str]) -> set[str]:
    if not file_ids:
        return set()
    vsf = vector_store_files
    query = select(vsf.c.id).where(vsf.c.vector_store_id == store_id, vsf.c.id.in_(file_ids))
    return {row[0] for row in (await conn.execute(query)).all()}


def _insert_if_absent(dialect: Any) -> Any:
    return (
        dialect.insert(vector_store_files)
        .on_conflict_do_nothing(index_elements=["vector_store_id", "id"])
        .returning(vector_store_files.c.seq)
    )


_INSERT_STORE_FILE = {
    "sqlite": _insert_if_absent(sqlite),
    "postgresql": _insert_if_absent(postgresql),
}


async def insert_store_file(conn: Conn, row: dict[str, Any]) -> bool:
    """Insert a (store, file) record unless one exists; True if this call inserted it."""
    result = await conn.execute(_INSERT_STORE_FILE[conn.dialect.name], row)
    return result.first() is not None


async def add_to_batch(conn: Conn, batch_id: str, file_ids: Sequence[str]) -> None:
    if file_ids:
        await conn.execute(
            insert(file_batch_files), [{"batch_id": batch_id, "file_id": f} for f in file_ids]
        )


async def cancel_batch_files(conn: Conn, batch_id: str, store_id: str) -> int:
    vsf = vector_store_files
    query = (
        update(vsf)
        .where(
            vsf.c.vector_store_id == store_id,
            vsf.c.status == "in_progress",
            batch_member_condition(batch_id),
        )
        .values(status="cancelled")
    )
    return int((await conn.execute(query)).rowcount)


async def bump_index_version(conn: Conn, store_ids: Sequence[str]) -> None:
    if store_ids:
        await conn.execute(_BUMP, {"store_ids": list(store_ids)})


# Statements run for every ingested file, built once: building them costs more than running
# them on SQLite.
_BUMP = (
    update(vector_stores)
    .where(vector_stores.c.id.in_(bindparam("store_ids", expanding=True)))
    .values(index_version=vector_stores.c.index_version + 1)
)
_INGEST_TARGET = (
    select(
        vector_store_files.c.status,
        vector_store_files.c.chunking_strategy,
        files.c.blob_key,
        files.c.filename,
    )
    .select_from(vector_store_files.join(files, files.c.id == vector_store_files.c.id))
    .where(
        vector_store_files.c.vector_store_id == bindparam("store_id"),
        vector_store_files.c.id == bindparam("file_id"),
    )
)
_COMPLETE_FILE = (
    update(vector_store_files)
    .where(
        vector_store_files.c.vector_store_id == bindparam("store_id"),
        vector_store_files.c.id == bindparam("file_id"),
        vector_store_files.c.status == "in_progress",
    )
    .values(
        status="completed",
        usage_bytes=bindparam("usage_bytes"),
        last_error=None,
        title=bindparam("title"),
    )
    .returning(vector_store_files.c.project_id)
)


async def ingest_target(conn: Conn, store_id: str, file_id: str) -> RowMapping | None:
    """What ingesting a file into a store needs: its status there, chunking and blob."""
    params = {"store_id": store_id, "file_id": file_id}
    row: RowMapping | None = (await conn.execute(_INGEST_TARGET, params)).mappings().first()
    return row


async def complete_file(
    conn: Conn, store_id: str, file_id: str, *, usage_bytes: int, title: str | None
) -> str | None:
    """Mark a file being ingested `completed`; its project, or None when it is no longer
    `in_progress` there (cancelled or detached meanwhile), and nothing changed."""
    params = {"store_id": store_id, "file_id": file_id, "usage_bytes": usage_bytes, "title": title}
    project_id: str | None = (await conn.execute(_COMPLETE_FILE, params)).scalar()
    return project_id


async def touch(conn: Conn, store_ids: Sequence[str], now: int) -> None:
    """Mark stores as used now; stores that expire after inactivity move their deadline."""
    for store_id in store_ids:
        row = (
            (await conn.execute(select(vector_stores).where(vector_stores.c.id == store_id)))
            .mappings()
            .first()
        )
        if row is None:
            continue
        values: dict[str, Any] = {"last_active_at": now}
        after = row["expires_after"]
        if after:
            values["expires_at"] = now + int(after["days"]) * DAY_SECONDS
        await conn.execute(
            update(vector_stores).where(vector_stores.c.id == store_id).values(**values)
        )


async def detach_file_everywhere(conn: Conn, project_id: str, file_id: str) -> list[str]:
    """Remove a file from every vector store of the project; the stores it was in."""
    vsf = vector_store_files
    query = select(vsf.c.vector_store_id).where(vsf.c.project_id == project_id, vsf.c.id == file_id)
    store_ids = [row[0] for row in (await conn.execute(query)).all()]
    if store_ids:
        await conn.execute(delete(vsf).where(vsf.c.project_id == project_id, vsf.c.id == file_id))
        await conn.execute(
            delete(chunks).where(
                chunks.c.vector_store_id.in_(store_ids), chunks.c.file_id == file_id
            )
        )
        await bump_index_version(conn, store_ids)
    return store_ids


_DELETE_CHUNKS = delete(chunks).where(
    chunks.c.vector_store_id == bindparam("store_id"), chunks.c.file_id == bindparam("file_id")
)


async def delete_chunks(conn: Conn, store_id: str, file_id: str) -> None:
    await conn.execute(_DELETE_CHUNKS, {"store_id": store_id, "file_id": file_id})


# PostgreSQL keeps each embedding a second time as a pgvector value (migration 0004).
_PG_INSERT_CHUNK = text(
    "INSERT INTO chunks (project_id, vector_store_id, file_id, chunk_index, text, token_count, "
    "embedding, vec) VALUES (:project_id, :vector_store_id, :file_id, :chunk_index, :text, "
    ":token_count, :embedding, CAST(:vec AS vector))"
)


async def insert_chunks(conn: Conn, rows: list[dict[str, Any]], *, pgvector: bool) -> None:
    if not rows:
        return
    if pgvector:
        with_vec = [
            {**row, "vec": _vector_literal(np.frombuffer(row["embedding"], dtype=np.float32))}
            for row in rows
        ]
        await conn.execute(_PG_INSERT_CHUNK, with_vec)
    else:
        await conn.execute(insert(chunks), rows)


def _vector_literal(vector: np.ndarray[Any, Any]) -> str:
    return "[" + ",".join(f"{value:.7g}" for value in vector.tolist()) + "]"


async def chunk_texts(conn: Conn, store_id: str, file_id: str) -> list[str]:
    query = (
        select(chunks.c.text)
        .where(chunks.c.vector_store_id == store_id, chunks.c.file_id == file_id)
        .order_by(chunks.c.chunk_index)
    )
    return [row[0] for row in (await conn.execute(query)).all()]


async def completed_files(conn: Conn, store_id: str) -> list[RowMapping]:
    """The searchable files of a store, with attributes, filename and `first_seq` (the first
    chunk's seq: it changes when a file is ingested again)."""
    vsf = vector_store_files
    first_seq = (
        select(func.min(chunks.c.seq))
        .where(chunks.c.vector_store_id == store_id, chunks.c.file_id == vsf.c.id)
        .scalar_subquery()
    )
    query = (
        select(
            vsf.c.id,
            vsf.c.attributes,
            vsf.c.title,
            files.c.filename,
            first_seq.label("first_seq"),
        )
        .select_from(vsf.join(files, files.c.id == vsf.c.id))
        .where(vsf.c.vector_store_id == store_id, vsf.c.status == "completed")
    )
    return list((await conn.execute(query)).mappings().all())


async def chunks_of_files(conn: Conn, store_id: str, file_ids: Sequence[str]) -> list[RowMapping]:
    query = select(
        chunks.c.seq, chunks.c.file_id, chunks.c.chunk_index, chunks.c.text, chunks.c.embedding
    ).where(chunks.c.vector_store_id == store_id, chunks.c.file_id.in_(file_ids))
    return list((await conn.execute(query)).mappings().all())


async def chunks_by_seq(conn: Conn, seqs: Sequence[int]) -> dict[int, RowMapping]:
    if not seqs:
        return {}
    query = select(chunks.c.seq, chunks.c.file_id, chunks.c.text).where(chunks.c.seq.in_(seqs))
    return {row["seq"]: row for row in (await conn.execute(query)).mappings().all()}
