"""Queries shared by every project-owned object table (columns `seq`, `id`, `project_id`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from assistantd.store.database import Conn
from assistantd.store.pagination import Page, PageRequest, fetch_page


class ObjectTable:
    """Insert, fetch, update, delete and page rows of one table, always within one project."""

    def __init__(self, table: Table, parent: str | None = None) -> None:
        """`parent` names the column of the owning object (e.g. a message's `thread_id`), for
        the prepared lookup `get(..., parent_id=...)`."""
        self.table = table
        self.parent = parent
        # Built once: constructing a statement costs more than running it on SQLite.
        owned = (
            table.c.id == bindparam("object_id"),
            table.c.project_id == bindparam("project_id"),
        )
        self._get = select(table).where(*owned)
        self._insert = insert(table)
        self._get_in_parent = (
            self._get.where(table.c[parent] == bindparam("parent_id")) if parent else None
        )

    def _owned(self, project_id: str, object_id: str) -> list[ColumnElement[bool]]:
        return [self.table.c.id == object_id, self.table.c.project_id == project_id]

    async def insert(self, conn: Conn, values: dict[str, Any]) -> None:
        await conn.execute(self._insert, values)

    async def insert_many(self, conn: Conn, rows: list[dict[str, Any]]) -> None:
        if rows:
            await conn.execute(self._insert, rows)

    async def get(
        self,
        conn: Conn,
        project_id: str,
        object_id: str,
        *extra: ColumnElement[bool],
        parent_id: str | None = None,
    ) -> RowMapping | None:
        """The object if it belongs to the project (and to `parent_id`, when given)."""
        params = {"object_id": object_id, "project_id": project_id}
        if parent_id is not None:
            assert self._get_in_parent is not None, "no parent column for this table"
            query = self._get_in_parent
            params["parent_id"] = parent_id
        else:
            query = self._get
        if extra:
            query = query.where(*extra)
        return (await conn.execute(query, params)).mappings().first()

    async def update(
        self,
        conn: Conn,
        project_id: str,
        object_id: str,
        values: dict[str, Any],
        *extra: ColumnElement[bool],
    ) -> RowMapping | None:
        """Apply `values` and return the updated row, or None if there is no such object."""
        query = (
            update(self.table)
            .where(*self._owned(project_id, object_id), *extra)
            .values(**values)
            .returning(*self.table.c)
        )
        return (await conn.execute(query)).mappings().first()

    async def delete(
        self,
        conn: Conn,
        project_id: str,
        object_id: str,
        *extra: ColumnElement[bool],
    ) -> bool:
        query = delete(self.table).where(*self._owned(project_id, object_id), *extra)
        result = await conn.execute(query)
        return bool(result.rowcount)

    async def page(
        self,
        conn: Conn,
        project_id: str,
        page: PageRequest,
        *scope: ColumnElement[bool],
    ) -> Page:
        conditions = [self.table.c.project_id == project_id, *scope]
        return await fetch_page(conn, self.table, conditions, page)
