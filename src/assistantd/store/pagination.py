"""Cursor pagination over the insert sequence: stable for objects created in the same second."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, RowMapping, Table, exists, select

from assistantd.store.database import Conn


@dataclass(frozen=True)
class PageRequest:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True)
class Page:
    rows: list[RowMapping]
    has_more: bool


class CursorNotFound(LookupError):
    """`after`/`before` named an object that is not in this list."""

    def __init__(self, param: str, value: str) -> None:
        super().__init__(value)
        self.param = param
        self.value = value


async def fetch_page(
    conn: Conn,
    table: Table,
    scope: list[ColumnElement[bool]],
    page: PageRequest,
) -> Page:
    """One page of `table` rows matching `scope`, ordered by `seq` in `page.order`.

    The cursor is resolved inside the same query; only an empty page pays a second query to
    tell an exhausted list from an unknown cursor.
    """
    for param, value in (("after", page.after), ("before", page.before)):
        # No id holds a NUL, and PostgreSQL refuses one in a text parameter: unknown, unasked.
        if value is not None and "\x00" in value:
            raise CursorNotFound(param, value)
    seq = table.c.seq
    descending = page.order == "desc"
    conditions = list(scope)
    if page.after is not None:
        cursor = _cursor_seq(table, scope, page.after)
        conditions.append(seq < cursor if descending else seq > cursor)
    if page.before is not None:
        cursor = _cursor_seq(table, scope, page.before)
        conditions.append(seq > cursor if descending else seq < cursor)
    # `before` walks backwards from the cursor: read towards it, then flip into the asked order.
    walk_descending = descending if page.before is None else not descending
    query = (
        select(table)
        .where(*conditions)
        .order_by(seq.desc() if walk_descending else seq.asc())
        .limit(page.limit + 1)
    )
    rows = list((await conn.execute(query)).mappings().all())
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if page.before is not None:
        rows.reverse()
    if not rows:
        for param, value in (("after", page.after), ("before", page.before)):
            if value is not None and not await _exists(conn, table, scope, value):
                raise CursorNotFound(param, value)
    return Page(rows=rows, has_more=has_more)


def _cursor_seq(table: Table, scope: list[ColumnElement[bool]], object_id: str) -> object:
    return select(table.c.seq).where(table.c.id == object_id, *scope).scalar_subquery()


async def _exists(
    conn: Conn, table: Table, scope: list[ColumnElement[bool]], object_id: str
) -> bool:
    query = select(exists().where(table.c.id == object_id, *scope))
    return bool((await conn.execute(query)).scalar())
