"""Queries about uploaded files beyond plain object access: listing the live ones, finding
expired ones, and the blobs of a set of files."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, select

from assistantd.store.database import Conn
from assistantd.store.pagination import Page, PageRequest, fetch_page
from assistantd.store.tables import files


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
