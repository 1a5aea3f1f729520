"""The chunks of ingested files: written with their embeddings, deleted, and read back for
the in-memory indexes, for search results and for a file's content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import RowMapping, bindparam, delete, insert, select, text

from assistantd.store.database import Conn
from assistantd.store.pg_vectors import vector_literal
from assistantd.store.tables import chunks

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
            {**row, "vec": vector_literal(np.frombuffer(row["embedding"], dtype=np.float32))}
            for row in rows
        ]
        await conn.execute(_PG_INSERT_CHUNK, with_vec)
    else:
        await conn.execute(insert(chunks), rows)


async def chunk_texts(conn: Conn, store_id: str, file_id: str) -> list[str]:
    query = (
        select(chunks.c.text)
        .where(chunks.c.vector_store_id == store_id, chunks.c.file_id == file_id)
        .order_by(chunks.c.chunk_index)
    )
    return [row[0] for row in (await conn.execute(query)).all()]


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
