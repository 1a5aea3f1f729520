"""The effective tool resources of a run (store.tool_resources): which vector stores its
file_search searches and which files its code_interpreter gets, in which order, on SQLite and
PostgreSQL. Rows are made directly, so every source can be set independently."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import insert

from assistantd.store import tool_resources
from assistantd.store.database import Conn, Database
from assistantd.store.migrate import upgrade
from assistantd.store.tables import assistants, files, messages, threads, vector_stores

NOW = 1_000_000
PROJECT = "proj_a"
OTHER = "proj_b"
T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'resources.sqlite3'}"
        return
    yield request.getfixturevalue("postgres").new_database()


@pytest.fixture
def db_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def on_db(db_url: str, scenario: Callable[[Conn], Awaitable[T]]) -> T:
    """Run `scenario` in one write transaction of the test's fresh database."""

    async def main() -> T:
        db = Database(db_url)
        try:
            async with db.write() as conn:
                return await scenario(conn)
        finally:
            await db.close()

    return asyncio.run(main())


async def add_assistant(conn: Conn, assistant_id: str, resources: dict[str, Any] | None) -> None:
    await conn.execute(
        insert(assistants),
        {
            "id": assistant_id,
            "project_id": PROJECT,
            "created_at": 0,
            "model": "m",
            "tools": [],
            "tool_resources": resources,
            "metadata": {},
        },
    )


async def add_thread(conn: Conn, thread_id: str, resources: dict[str, Any] | None) -> None:
    await conn.execute(
        insert(threads),
        {
            "id": thread_id,
            "project_id": PROJECT,
            "created_at": 0,
            "tool_resources": resources,
            "metadata": {},
        },
    )


async def add_store(
    conn: Conn,
    store_id: str,
    *,
    project_id: str = PROJECT,
    expires_at: int | None = None,
    thread_id: str | None = None,
) -> None:
    await conn.execute(
        insert(vector_stores),
        {
            "id": store_id,
            "project_id": project_id,
            "created_at": 0,
            "metadata": {},
            "expires_at": expires_at,
            "last_active_at": 0,
            "thread_id": thread_id,
            "embedding_model": "e",
            "index_version": 0,
        },
    )


async def add_file(conn: Conn, file_id: str, filename: str, project_id: str = PROJECT) -> None:
    await conn.execute(
        insert(files),
        {
            "id": file_id,
            "project_id": project_id,
            "created_at": 0,
            "filename": filename,
            "purpose": "assistants",
            "bytes": len(file_id),
            "status": "processed",
            "blob_key": f"blob-{file_id}",
        },
    )


async def add_message(
    conn: Conn, message_id: str, thread_id: str, attachments: list[dict[str, Any]]
) -> None:
    await conn.execute(
        insert(messages),
        {
            "id": message_id,
            "project_id": PROJECT,
            "thread_id": thread_id,
            "created_at": 0,
            "role": "user",
            "status": "completed",
            "content": [],
            "attachments": attachments,
            "metadata": {},
        },
    )


def search(*store_ids: str) -> dict[str, Any]:
    return {"file_search": {"vector_store_ids": list(store_ids)}}


def code(*file_ids: str) -> dict[str, Any]:
    return {"code_interpreter": {"file_ids": list(file_ids)}}


def attached(file_id: str, *tools: str) -> dict[str, Any]:
    return {"file_id": file_id, "tools": [{"type": tool} for tool in tools]}


def run(resources: dict[str, Any] | None = None, thread_id: str = "thread_1") -> dict[str, Any]:
    return {
        "id": "run_1",
        "project_id": PROJECT,
        "thread_id": thread_id,
        "assistant_id": "asst_1",
        "tool_resources": resources,
    }


# --- file_search ------------------------------------------------------------------------------


async def search_world(conn: Conn) -> None:
    """Stores named by the assistant, the thread, and the thread's attachment store, with one
    expired, one of another project and one missing among the named ones."""
    for store_id in ("vs_a", "vs_shared", "vs_t", "vs_run"):
        await add_store(conn, store_id)
    await add_store(conn, "vs_expired", expires_at=NOW)
    await add_store(conn, "vs_later", expires_at=NOW + 1)
    await add_store(conn, "vs_foreign", project_id=OTHER)
    await add_assistant(conn, "asst_1", search("vs_a", "vs_expired", "vs_missing", "vs_shared"))
    await add_thread(conn, "thread_1", search("vs_t", "vs_shared", "vs_foreign", "vs_later"))
    await add_store(conn, "vs_attach", thread_id="thread_1")


@pytest.mark.parametrize("own", [None, {}])
def test_a_run_without_its_own_resources_searches_the_assistants_then_the_threads(
    db_url: str, own: dict[str, Any] | None
) -> None:
    async def scenario(conn: Conn) -> list[str]:
        await search_world(conn)
        return await tool_resources.vector_store_ids(conn, run(own), NOW)

    assert on_db(db_url, scenario) == ["vs_a", "vs_shared", "vs_t", "vs_later", "vs_attach"]


def test_a_runs_own_resources_replace_the_assistants_not_the_threads(db_url: str) -> None:
    async def scenario(conn: Conn) -> list[str]:
        await search_world(conn)
        return await tool_resources.vector_store_ids(conn, run(search("vs_run", "vs_t")), NOW)

    assert on_db(db_url, scenario) == ["vs_run", "vs_t", "vs_shared", "vs_later", "vs_attach"]


def test_a_store_expires_at_its_expires_at(db_url: str) -> None:
    async def scenario(conn: Conn) -> tuple[list[str], list[str]]:
        await search_world(conn)
        before = await tool_resources.vector_store_ids(conn, run(), NOW - 1)
        later = await tool_resources.vector_store_ids(conn, run(), NOW + 1)
        return before, later

    before, later = on_db(db_url, scenario)
    assert before == ["vs_a", "vs_expired", "vs_shared", "vs_t", "vs_later", "vs_attach"]
    assert later == ["vs_a", "vs_shared", "vs_t", "vs_attach"]


def test_the_attachment_store_counts_once_even_when_the_thread_names_it(db_url: str) -> None:
    async def scenario(conn: Conn) -> list[str]:
        await add_store(conn, "vs_a")
        await add_assistant(conn, "asst_1", None)
        await add_thread(conn, "thread_1", search("vs_attach", "vs_a"))
        await add_store(conn, "vs_attach", thread_id="thread_1")
        await add_store(conn, "vs_elsewhere", thread_id="thread_1", project_id=OTHER)
        return await tool_resources.vector_store_ids(conn, run(), NOW)

    assert on_db(db_url, scenario) == ["vs_attach", "vs_a"]


def test_a_run_with_no_stores_anywhere_searches_none(db_url: str) -> None:
    async def scenario(conn: Conn) -> list[str]:
        await add_assistant(conn, "asst_1", code("file_x"))
        await add_thread(conn, "thread_1", None)
        return await tool_resources.vector_store_ids(conn, run(), NOW)

    assert on_db(db_url, scenario) == []


# --- code_interpreter -------------------------------------------------------------------------


async def code_world(conn: Conn) -> None:
    """Files from the assistant, the thread and two messages (the older one has the larger
    id, so id order is not message order), with a deleted file and another project's file."""
    for file_id, name in [
        ("file_1", "a.csv"),
        ("file_2", "b.csv"),
        ("file_3", "a.csv"),
        ("file_4", "d.csv"),
        ("file_5", "e.csv"),
        ("file_7", "g.csv"),
    ]:
        await add_file(conn, file_id, name)
    await add_file(conn, "file_foreign", "f.csv", project_id=OTHER)
    await add_assistant(conn, "asst_1", code("file_1", "file_2"))
    await add_thread(conn, "thread_1", code("file_2", "file_foreign", "file_3"))
    await add_message(
        conn,
        "msg_z_older",
        "thread_1",
        [attached("file_4", "code_interpreter"), attached("file_5", "file_search")],
    )
    await add_message(
        conn,
        "msg_a_newer",
        "thread_1",
        [
            attached("file_deleted", "code_interpreter"),
            attached("file_1", "file_search", "code_interpreter"),
            attached("file_7", "file_search", "code_interpreter"),
        ],
    )
    await add_thread(conn, "thread_2", None)
    await add_message(conn, "msg_other", "thread_2", [attached("file_5", "code_interpreter")])


def rows_of(found: list[Any]) -> list[tuple[str, str, int, str]]:
    return [(r["id"], r["filename"], r["bytes"], r["blob_key"]) for r in found]


@pytest.mark.parametrize("own", [None, {}])
def test_code_interpreter_gets_the_assistants_the_threads_then_attached_files(
    db_url: str, own: dict[str, Any] | None
) -> None:
    async def scenario(conn: Conn) -> list[Any]:
        await code_world(conn)
        return await tool_resources.code_interpreter_files(conn, run(own))

    assert rows_of(on_db(db_url, scenario)) == [
        ("file_1", "a.csv", 6, "blob-file_1"),
        ("file_2", "b.csv", 6, "blob-file_2"),
        ("file_3", "a.csv", 6, "blob-file_3"),
        ("file_4", "d.csv", 6, "blob-file_4"),
        ("file_7", "g.csv", 6, "blob-file_7"),
    ]


def test_a_runs_own_code_files_replace_the_assistants(db_url: str) -> None:
    async def scenario(conn: Conn) -> list[Any]:
        await code_world(conn)
        return await tool_resources.code_interpreter_files(conn, run(code("file_7", "file_3")))

    found = on_db(db_url, scenario)
    assert [row["id"] for row in found] == ["file_7", "file_3", "file_2", "file_4", "file_1"]


def test_a_run_with_no_code_files_gets_none(db_url: str) -> None:
    async def scenario(conn: Conn) -> list[Any]:
        await code_world(conn)
        await add_thread(conn, "thread_3", search("vs_x"))
        await add_message(conn, "msg_3", "thread_3", [attached("file_1", "file_search")])
        return await tool_resources.code_interpreter_files(
            conn, run(search("vs_x"), thread_id="thread_3")
        )

    assert on_db(db_url, scenario) == []
