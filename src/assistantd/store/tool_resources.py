"""The effective tool resources of a run: the one place that says where a run's vector stores
and code_interpreter files come from.

A run uses its own tool_resources (set by create-and-run) or else its assistant's, and in both
cases the thread's too; file_search also searches the thread's attachment store, and
code_interpreter also gets the files messages attached for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import RowMapping, select

from assistantd.store import files as file_store
from assistantd.store import threads as thread_store
from assistantd.store.database import Conn
from assistantd.store.tables import assistants, messages, vector_stores

CODE_INTERPRETER = "code_interpreter"


async def _assistant_resources(conn: Conn, assistant_id: str) -> dict[str, Any] | None:
    query = select(assistants.c.tool_resources).where(assistants.c.id == assistant_id)
    resources: dict[str, Any] | None = (await conn.execute(query)).scalar()
    return resources


async def _sources(conn: Conn, run: Mapping[Any, Any]) -> list[dict[str, Any] | None]:
    """The run's (or else its assistant's) tool_resources, then the thread's."""
    own = run["tool_resources"] or await _assistant_resources(conn, run["assistant_id"])
    return [own, await thread_store.tool_resources(conn, run["thread_id"])]


async def vector_store_ids(conn: Conn, run: Mapping[Any, Any], now: int) -> list[str]:
    """The stores the run's file_search searches, each once, in this order: those of the run
    (or else its assistant), those of the thread, then the thread's attachment store (even
    when the thread names another store). Stores of another project, missing ones and ones
    expired at `now` are left out."""
    ids: list[str] = []
    for source in await _sources(conn, run):
        for store_id in ((source or {}).get("file_search") or {}).get("vector_store_ids", []):
            if store_id not in ids:
                ids.append(store_id)
    owned = (
        select(vector_stores.c.id)
        .where(
            vector_stores.c.thread_id == run["thread_id"],
            vector_stores.c.project_id == run["project_id"],
        )
        .order_by(vector_stores.c.seq)
    )
    for (store_id,) in (await conn.execute(owned)).all():
        if store_id not in ids:
            ids.append(store_id)
    if not ids:
        return []
    known = select(vector_stores.c.id, vector_stores.c.expires_at).where(
        vector_stores.c.id.in_(ids), vector_stores.c.project_id == run["project_id"]
    )
    rows = (await conn.execute(known)).all()
    live = {row.id for row in rows if row.expires_at is None or row.expires_at > now}
    return [store_id for store_id in ids if store_id in live]


async def _code_interpreter_file_ids(conn: Conn, run: Mapping[Any, Any]) -> list[str]:
    wanted: list[str] = []
    for source in await _sources(conn, run):
        wanted += ((source or {}).get(CODE_INTERPRETER) or {}).get("file_ids", [])
    attached = (
        select(messages.c.attachments)
        .where(messages.c.thread_id == run["thread_id"])
        .order_by(messages.c.seq)
    )
    for (items,) in await conn.execute(attached):
        wanted += [
            a["file_id"] for a in items if any(t["type"] == CODE_INTERPRETER for t in a["tools"])
        ]
    return list(dict.fromkeys(wanted))


async def code_interpreter_files(conn: Conn, run: Mapping[Any, Any]) -> list[RowMapping]:
    """The files the run's code_interpreter gets, each once, in this order: the file_ids of
    the run (or else its assistant), those of the thread, then files attached to the thread's
    messages for code_interpreter (oldest message first). Rows have `id`, `filename`, `bytes`
    and `blob_key`; files deleted since (or of another project) are left out."""
    wanted = await _code_interpreter_file_ids(conn, run)
    by_id = {row["id"]: row for row in await file_store.blob_files(conn, run["project_id"], wanted)}
    return [by_id[file_id] for file_id in wanted if file_id in by_id]
