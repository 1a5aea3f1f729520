"""Queries shared by every project-owned object table (columns `seq`, `id`, `project_id`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Table, delete, insert, select, update

from assistantd.store.database import Conn
from assistantd.store.pagination import Page, PageRequest, fetch_page


class ObjectTable:
    """Insert, fetch, update, delete and page rows of one table, always within one project."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def _owned(self, project_id: str, object_id: str) -> list[ColumnElement[bool]]:
        return [self.table.c.id == object_id, self.table.c.project_id == project_id]

    async def insert(self, conn: Conn, values: dict[str, Any]) -> None:
        await conn.execute(insert(self.table).values(**values))

    async def insert_many(self, conn: Conn, rows: list[dict[str, Any]]) -> None:
        if rows:
            await conn.execute(insert(self.table), rows)

    async def get(
        self,
        conn: Conn,
        project_id: str,
        object_id: str,
        *extra: ColumnElement[bool],
    ) -> RowMapping | None:
        query = select(self.table).where(*self._owned(project_id, object_id), *extra)
        return (await conn.execute(query)).mappings().first()

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
