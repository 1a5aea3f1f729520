"""Queries shared by every project-owned object table (columns `seq`, `id`, `project_id`), and
one `ObjectTable` per API object for the services to use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from assistantd.store import tables
from assistantd.store.database import Conn
from assistantd.store.pagination import Page, PageRequest, fetch_page

Where = Mapping[str, Any]
"""Column name -> value (not None): only objects with these values (besides id and project)."""


class ObjectTable:
    """Insert, fetch, update, delete and page rows of one table, always within one project.

    `where` narrows every call to rows with the given column values (e.g. a message's
    `{"thread_id": ...}`); `*extra` conditions are for queries inside the store only."""

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
        self._gets: dict[tuple[str, ...], Select[Any]] = {(): self._get}

    def _owned(self, project_id: str, object_id: str) -> list[ColumnElement[bool]]:
        return [self.table.c.id == object_id, self.table.c.project_id == project_id]

    def _equal(self, where: Where | None) -> list[ColumnElement[bool]]:
        return [self.table.c[name] == value for name, value in (where or {}).items()]

    def _prepared_get(self, names: tuple[str, ...]) -> Select[Any]:
        """`get` narrowed by these columns (as `where_<name>` parameters), built once."""
        query = self._gets.get(names)
        if query is None:
            query = self._get.where(
                *(self.table.c[name] == bindparam(f"where_{name}") for name in names)
            )
            self._gets[names] = query
        return query

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
        where: Where | None = None,
    ) -> RowMapping | None:
        """The object if it belongs to the project (and to `parent_id`, when given, and has
        the `where` values)."""
        narrowed = dict(where or {})
        if parent_id is not None:
            assert self.parent is not None, "no parent column for this table"
            narrowed[self.parent] = parent_id
        names = tuple(sorted(narrowed))
        query = self._prepared_get(names)
        params = {"object_id": object_id, "project_id": project_id}
        params.update({f"where_{name}": narrowed[name] for name in names})
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
        where: Where | None = None,
    ) -> RowMapping | None:
        """Apply `values` and return the updated row, or None if there is no such object."""
        query = (
            update(self.table)
            .where(*self._owned(project_id, object_id), *self._equal(where), *extra)
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
        where: Where | None = None,
    ) -> bool:
        query = delete(self.table).where(
            *self._owned(project_id, object_id), *self._equal(where), *extra
        )
        result = await conn.execute(query)
        return bool(result.rowcount)

    async def page(
        self,
        conn: Conn,
        project_id: str,
        page: PageRequest,
        *scope: ColumnElement[bool],
        where: Where | None = None,
    ) -> Page:
        """One page of the project's objects with the `where` values (and `scope`)."""
        conditions = [self.table.c.project_id == project_id, *self._equal(where), *scope]
        return await fetch_page(conn, self.table, conditions, page)


# The API's objects. A service narrows them with `where=`/`parent_id=`, never with SQL.
assistants = ObjectTable(tables.assistants)
threads = ObjectTable(tables.threads)
messages = ObjectTable(tables.messages, parent="thread_id")
runs = ObjectTable(tables.runs, parent="thread_id")
run_steps = ObjectTable(tables.run_steps, parent="run_id")
files = ObjectTable(tables.files)
vector_stores = ObjectTable(tables.vector_stores)
vector_store_files = ObjectTable(tables.vector_store_files, parent="vector_store_id")
file_batches = ObjectTable(tables.file_batches, parent="vector_store_id")
