"""Projects and API keys. Keys are stored as SHA-256 hashes; the secret is shown once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from assistantd.store.tables import api_keys, projects


async def project_by_name(conn: AsyncConnection, name: str) -> RowMapping | None:
    query = select(projects).where(projects.c.name == name)
    return (await conn.execute(query)).mappings().first()


async def insert_project(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(projects).values(**values))


async def insert_key(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(api_keys).values(**values))


async def active_key_by_hash(conn: AsyncConnection, key_hash: str) -> RowMapping | None:
    query = select(api_keys.c.id, api_keys.c.project_id).where(
        api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
    )
    return (await conn.execute(query)).mappings().first()


async def any_active_key(conn: AsyncConnection) -> bool:
    query = select(exists().where(api_keys.c.revoked_at.is_(None)))
    return bool((await conn.execute(query)).scalar())


async def list_keys(conn: AsyncConnection) -> list[RowMapping]:
    query = (
        select(api_keys, projects.c.name.label("project_name"))
        .join(projects, projects.c.id == api_keys.c.project_id)
        .order_by(api_keys.c.seq)
    )
    return list((await conn.execute(query)).mappings().all())


async def revoke_key(conn: AsyncConnection, key_id: str, now: int) -> bool:
    query = (
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool((await conn.execute(query)).rowcount)
