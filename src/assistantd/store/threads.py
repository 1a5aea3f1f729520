"""Queries about threads beyond plain object access: existence, listing by metadata, their
tool_resources, and the vector store their message attachments feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, exists, select, update

from assistantd.store.database import Conn
from assistantd.store.pagination import Page, PageRequest, fetch_page
from assistantd.store.tables import threads, vector_stores


async def thread_exists(conn: Conn, project_id: str, thread_id: str) -> bool:
    query = select(exists().where(threads.c.id == thread_id, threads.c.project_id == project_id))
    return bool((await conn.execute(query)).scalar())


async def page_threads(
    conn: Conn, project_id: str, page: PageRequest, metadata: Mapping[str, str]
) -> Page:
    """Threads of the project whose metadata has every given (key, value) pair."""
    scope = [threads.c.project_id == project_id]
    scope += [threads.c.metadata[key].as_string() == value for key, value in metadata.items()]
    return await fetch_page(conn, threads, scope, page)


async def tool_resources(conn: Conn, thread_id: str) -> dict[str, Any] | None:
    """The thread's stored tool_resources (None for no thread, or none stored)."""
    query = select(threads.c.tool_resources).where(threads.c.id == thread_id)
    resources: dict[str, Any] | None = (await conn.execute(query)).scalar()
    return resources


async def set_tool_resources(conn: Conn, thread_id: str, resources: dict[str, Any]) -> None:
    query = update(threads).where(threads.c.id == thread_id).values(tool_resources=resources)
    await conn.execute(query)


async def attachment_store_id(conn: Conn, thread_id: str) -> str | None:
    """The vector store the thread's `file_search` attachments go into, once made."""
    query = select(vector_stores.c.id).where(vector_stores.c.thread_id == thread_id)
    store_id = (await conn.execute(query)).scalar()
    return None if store_id is None else str(store_id)


async def delete_attachment_stores(conn: Conn, project_id: str, thread_id: str) -> None:
    """Delete the thread's attachment store (with its files and chunks: ON DELETE CASCADE)."""
    await conn.execute(
        delete(vector_stores).where(
            vector_stores.c.thread_id == thread_id, vector_stores.c.project_id == project_id
        )
    )
