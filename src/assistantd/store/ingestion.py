"""The writes of one file's ingestion into one vector store: what to ingest, and the file's
final status there (`completed` or `failed`), only while it is still `in_progress`."""

from __future__ import annotations

from sqlalchemy import RowMapping, bindparam, select, update

from assistantd.store.database import Conn
from assistantd.store.tables import files, vector_store_files

# Run for every ingested file, built once: building them costs more than running them on SQLite.
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
_FAIL_FILE = (
    update(vector_store_files)
    .where(
        vector_store_files.c.vector_store_id == bindparam("store_id"),
        vector_store_files.c.id == bindparam("file_id"),
        vector_store_files.c.status == "in_progress",
    )
    .values(status="failed", last_error=bindparam("last_error"))
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


async def fail_file(conn: Conn, store_id: str, file_id: str, code: str, message: str) -> None:
    """Mark a file being ingested `failed` with this error, unless it is no longer
    `in_progress` there (cancelled or detached meanwhile)."""
    params = {
        "store_id": store_id,
        "file_id": file_id,
        "last_error": {"code": code, "message": message},
    }
    await conn.execute(_FAIL_FILE, params)
