"""Cursor pagination over the insert sequence, on a real in-memory SQLite database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from assistantd.store.pagination import CursorNotFound, PageRequest, fetch_page

meta = MetaData()
items = Table(
    "items",
    meta,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, unique=True),
    Column("created_at", Integer),
    Column("owner", String),
)
IDS = [f"it_{i}" for i in range(10)]


@pytest.fixture
def engine() -> Iterator[AsyncEngine]:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")

    async def fill() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
            # Every row in the same second: only the insert sequence can order them.
            await conn.execute(
                insert(items), [{"id": i, "created_at": 1, "owner": "a"} for i in IDS]
            )
            await conn.execute(insert(items), [{"id": "other", "created_at": 1, "owner": "b"}])

    asyncio.run(fill())
    yield engine
    asyncio.run(engine.dispose())


def page(engine: AsyncEngine, request: PageRequest) -> tuple[list[str], bool]:
    async def run() -> tuple[list[str], bool]:
        async with engine.connect() as conn:
            result = await fetch_page(conn, items, [items.c.owner == "a"], request)
        return [row["id"] for row in result.rows], result.has_more

    return asyncio.run(run())


def test_desc_then_after(engine: AsyncEngine) -> None:
    assert page(engine, PageRequest(limit=3)) == (IDS[::-1][:3], True)
    assert page(engine, PageRequest(limit=3, after="it_7")) == (["it_6", "it_5", "it_4"], True)
    assert page(engine, PageRequest(limit=3, after="it_2")) == (["it_1", "it_0"], False)


def test_asc_and_before(engine: AsyncEngine) -> None:
    assert page(engine, PageRequest(limit=4, order="asc", after="it_5")) == (IDS[6:], False)
    assert page(engine, PageRequest(limit=2, before="it_5")) == (["it_7", "it_6"], True)
    assert page(engine, PageRequest(limit=2, order="asc", before="it_5")) == (
        ["it_3", "it_4"],
        True,
    )
    assert page(engine, PageRequest(limit=5, order="asc", after="it_1", before="it_5")) == (
        ["it_2", "it_3", "it_4"],
        False,
    )


def test_cursor_outside_the_scope_is_unknown(engine: AsyncEngine) -> None:
    with pytest.raises(CursorNotFound) as info:
        page(engine, PageRequest(after="other"))
    assert info.value.param == "after"
    with pytest.raises(CursorNotFound):
        page(engine, PageRequest(before="missing"))
    assert page(engine, PageRequest(after="it_0")) == ([], False), "an exhausted list is fine"


class _NoQueries:
    """A connection that fails the test if any statement reaches it."""

    async def execute(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("a query was sent")


@pytest.mark.parametrize("param", ["after", "before"])
def test_a_nul_cursor_is_unknown_without_a_query(param: str) -> None:
    # PostgreSQL refuses NUL in a text parameter: such a cursor must never reach it.
    request = PageRequest(**{param: "it_\x00"})  # type: ignore[arg-type]
    with pytest.raises(CursorNotFound) as info:
        asyncio.run(fetch_page(_NoQueries(), items, [items.c.owner == "a"], request))  # type: ignore[arg-type]
    assert (info.value.param, info.value.value) == (param, "it_\x00")
