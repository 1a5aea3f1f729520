"""Projects and API keys. Keys are stored as SHA-256 hashes; the secret is shown once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, bindparam, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from assistantd.store.database import Conn
from assistantd.store.tables import api_keys, projects


async def project_by_name(conn: Conn, name: str) -> RowMapping | None:
    query = select(projects).where(projects.c.name == name)
    return (await conn.execute(query)).mappings().first()


class ProjectExists(Exception):
    """A project of that name (or id) exists already: made meanwhile by another process."""


async def insert_project(conn: Conn, values: dict[str, Any]) -> None:
    """Raises ProjectExists when the name (or id) is taken (PostgreSQL then aborts the
    transaction)."""
    try:
        await conn.execute(insert(projects).values(**values))
    except IntegrityError as exc:
        raise ProjectExists(values.get("name")) from exc


async def insert_key(conn: Conn, values: dict[str, Any]) -> None:
    await conn.execute(insert(api_keys).values(**values))


_ACTIVE = api_keys.c.revoked_at.is_(None)
_MATCH = (api_keys.c.key_hash == bindparam("key_hash"), _ACTIVE)

# One round trip per request: the matching key (if any) and whether any key was ever created
# (none means the server runs open; revoking every key must not open it again).
_AUTHENTICATE = select(
    select(api_keys.c.id).where(*_MATCH).scalar_subquery().label("key_id"),
    select(api_keys.c.project_id).where(*_MATCH).scalar_subquery().label("project_id"),
    exists().where(api_keys.c.seq.is_not(None)).label("any_key"),
)


async def authenticate(conn: Conn, key_hash: str) -> RowMapping:
    """`key_id` and `project_id` of the active key with this hash (or nulls), and `any_key`."""
    row = (await conn.execute(_AUTHENTICATE, {"key_hash": key_hash})).mappings().one()
    return row


async def any_key(conn: Conn) -> bool:
    """Whether a key was ever created (revoked ones count: the server stays closed)."""
    query = select(exists().where(api_keys.c.seq.is_not(None)))
    return bool((await conn.execute(query)).scalar())


async def count_active_keys(conn: Conn) -> int:
    query = select(func.count()).select_from(api_keys).where(_ACTIVE)
    return int((await conn.execute(query)).scalar_one())


async def list_keys(conn: Conn) -> list[RowMapping]:
    query = (
        select(api_keys, projects.c.name.label("project_name"))
        .join(projects, projects.c.id == api_keys.c.project_id)
        .order_by(api_keys.c.seq)
    )
    return list((await conn.execute(query)).mappings().all())


async def revoke_key(conn: Conn, key_id: str, now: int) -> bool:
    query = (
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool((await conn.execute(query)).rowcount)
