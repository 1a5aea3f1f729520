"""Queries over vector stores, their files and batches that plain object access lacks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from assistantd.store.database import Conn
from assistantd.store.pagination import Page, PageRequest, fetch_page
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


def _in_batch(batch_id: str) -> ColumnElement[bool]:
    """Rows of `vector_store_files` that belong to the batch."""
    return vector_store_files.c.id.in_(
        select(file_batch_files.c.file_id).where(file_batch_files.c.batch_id == batch_id)
    )


async def page_store_files(
    conn: Conn,
    project_id: str,
    store_id: str,
    page: PageRequest,
    *,
    status: str | None = None,
    batch_id: str | None = None,
) -> Page:
    """The files of a store (only those of the batch, and with the status, when given)."""
    vsf = vector_store_files
    scope = [vsf.c.project_id == project_id, vsf.c.vector_store_id == store_id]
    if batch_id is not None:
        scope.append(_in_batch(batch_id))
    if status is not None:
        scope.append(vsf.c.status == status)
    return await fetch_page(conn, vsf, scope, page)


async def existing_stores(conn: Conn, project_id: str, store_ids: Sequence[str]) -> set[str]:
    if not store_ids:
        return set()
    query = select(vector_stores.c.id).where(
        vector_stores.c.project_id == project_id, vector_stores.c.id.in_(store_ids)
    )
    return {row[0] for row in (await conn.execute(query)).all()}


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
            _in_batch(batch_id),
        )
        .values(status="cancelled")
    )
    return int((await conn.execute(query)).rowcount)


async def bump_index_version(conn: Conn, store_ids: Sequence[str]) -> None:
    if store_ids:
        await conn.execute(_BUMP, {"store_ids": list(store_ids)})


# Statements run for every ingested file or search, built once: building them costs more than
# running them on SQLite.
_BUMP = (
    update(vector_stores)
    .where(vector_stores.c.id.in_(bindparam("store_ids", expanding=True)))
    .values(index_version=vector_stores.c.index_version + 1)
)
_INDEX_VERSION = select(vector_stores.c.index_version).where(
    vector_stores.c.id == bindparam("store_id")
)


async def index_version(conn: Conn, store_id: str) -> int | None:
    """The store's `index_version` (bumped whenever its chunks change); None for no store."""
    version = (await conn.execute(_INDEX_VERSION, {"store_id": store_id})).scalar()
    return None if version is None else int(version)


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
