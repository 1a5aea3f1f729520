"""Files in the store: the one way a file enters it (row and bytes written together, for uploads
and for files the server makes itself), listing the live ones, finding expired ones, and the
blobs of a set of files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, insert, select

from assistantd.ids import new_id
from assistantd.store.blobs import Blob, BlobStore
from assistantd.store.database import Conn, Database
from assistantd.store.pagination import Page, PageRequest, fetch_page
from assistantd.store.tables import files

_INSERT = insert(files)


def file_row(
    project_id: str,
    blob: Blob,
    filename: str,
    purpose: str,
    now: int,
    expires_at: int | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id("file"),
        "project_id": project_id,
        "created_at": now,
        "filename": filename,
        "purpose": purpose,
        "bytes": blob.size,
        "status": "processed",
        "status_details": None,
        "expires_at": expires_at,
        "blob_key": blob.key,
    }


async def insert_file(db: Database, blobs: BlobStore, row: dict[str, Any]) -> None:
    """Record a committed blob as a File; the blob is deleted if the row cannot be written,
    so no bytes outlive a failed insert."""
    try:
        async with db.write() as conn:
            await conn.execute(_INSERT, row)
    except BaseException:
        blobs.delete(row["blob_key"])
        raise


async def save_bytes(
    db: Database,
    blobs: BlobStore,
    *,
    project_id: str,
    data: bytes,
    filename: str,
    purpose: str,
    now: int,
    limit: int,
) -> str:
    """Store bytes the server produced as a File of the project; its id."""
    writer = blobs.writer(limit)
    try:
        writer.write(data)
    except BaseException:
        writer.abort()
        raise
    row = file_row(project_id, writer.commit(), filename, purpose, now)
    await insert_file(db, blobs, row)
    return str(row["id"])


async def page_live_files(
    conn: Conn, project_id: str, page: PageRequest, *, purpose: str | None, now: int
) -> Page:
    """Files of the project not expired at `now`, only those of `purpose` when given."""
    scope = [files.c.project_id == project_id]
    if purpose is not None:
        scope.append(files.c.purpose == purpose)
    scope.append((files.c.expires_at.is_(None)) | (files.c.expires_at > now))
    return await fetch_page(conn, files, scope, page)


async def expired_files(conn: Conn, now: int) -> list[RowMapping]:
    """`id` and `project_id` of every file whose `expires_at` has come (any project)."""
    query = select(files.c.id, files.c.project_id).where(
        files.c.expires_at.is_not(None), files.c.expires_at <= now
    )
    return list((await conn.execute(query)).mappings().all())


async def blob_files(conn: Conn, project_id: str, file_ids: Sequence[str]) -> list[RowMapping]:
    """`id`, `filename`, `bytes` and `blob_key` of those of the files that exist in the
    project, in no particular order."""
    if not file_ids:
        return []
    query = select(files.c.id, files.c.filename, files.c.bytes, files.c.blob_key).where(
        files.c.project_id == project_id, files.c.id.in_(file_ids)
    )
    return list((await conn.execute(query)).mappings().all())
