"""`ObjectTable`'s `where=` narrowing (what services use instead of SQL conditions): get,
update, delete and page touch only objects of the project with the given column values."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from assistantd.store import objects
from assistantd.store.database import Conn, Database
from assistantd.store.migrate import upgrade
from assistantd.store.pagination import PageRequest

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'objects.sqlite3'}"
        return
    yield request.getfixturevalue("postgres").new_database()


@pytest.fixture
def db_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def on_db(db_url: str, scenario: Callable[[Conn], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(db_url)
        try:
            async with db.write() as conn:
                return await scenario(conn)
        finally:
            await db.close()

    return asyncio.run(main())


def message(message_id: str, thread_id: str, run_id: str | None) -> dict[str, Any]:
    return {
        "id": message_id,
        "project_id": "proj_a",
        "thread_id": thread_id,
        "created_at": 0,
        "role": "user",
        "status": "completed",
        "content": [],
        "attachments": [],
        "metadata": {},
        "run_id": run_id,
    }


async def two_threads(conn: Conn) -> None:
    for thread_id in ("thread_1", "thread_2"):
        await objects.threads.insert(
            conn,
            {"id": thread_id, "project_id": "proj_a", "created_at": 0, "metadata": {}},
        )
    await objects.messages.insert_many(
        conn,
        [
            message("msg_1", "thread_1", None),
            message("msg_2", "thread_1", "run_1"),
            message("msg_3", "thread_2", "run_1"),
            message("msg_4", "thread_1", "run_1"),
        ],
    )


def field(row: Mapping[Any, Any] | None, name: str) -> Any:
    return None if row is None else row[name]


def test_get_update_and_delete_only_touch_an_object_with_the_where_values(db_url: str) -> None:
    async def scenario(conn: Conn) -> list[Any]:
        await two_threads(conn)
        table = objects.messages
        wrong = {"thread_id": "thread_2"}
        right = {"thread_id": "thread_1", "run_id": "run_1"}
        values = {"metadata": {"k": "v"}}
        return [
            field(await table.get(conn, "proj_a", "msg_2", where=wrong), "id"),
            field(await table.get(conn, "proj_a", "msg_2", where=right), "id"),
            field(await table.get(conn, "proj_a", "msg_2", parent_id="thread_1"), "id"),
            field(await table.get(conn, "proj_b", "msg_2", where=right), "id"),
            field(await table.update(conn, "proj_a", "msg_2", values, where=wrong), "metadata"),
            field(await table.update(conn, "proj_a", "msg_2", values, where=right), "metadata"),
            await table.delete(conn, "proj_a", "msg_2", where=wrong),
            await table.delete(conn, "proj_a", "msg_2", where=right),
            field(await table.get(conn, "proj_a", "msg_2"), "id"),
        ]

    assert on_db(db_url, scenario) == [
        None,
        "msg_2",
        "msg_2",
        None,
        None,
        {"k": "v"},
        False,
        True,
        None,
    ]


def test_a_page_holds_only_objects_with_the_where_values(db_url: str) -> None:
    async def scenario(conn: Conn) -> list[list[str]]:
        await two_threads(conn)
        request = PageRequest(limit=10, order="asc")
        pages = [
            await objects.messages.page(conn, "proj_a", request, where={"thread_id": "thread_1"}),
            await objects.messages.page(
                conn, "proj_a", request, where={"thread_id": "thread_1", "run_id": "run_1"}
            ),
            await objects.messages.page(conn, "proj_b", request, where={"thread_id": "thread_1"}),
        ]
        return [[row["id"] for row in page.rows] for page in pages]

    assert on_db(db_url, scenario) == [["msg_1", "msg_2", "msg_4"], ["msg_2", "msg_4"], []]
