"""Queries for runs and run steps beyond the generic object table ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ClauseElement,
    RowMapping,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from assistantd.store.database import Conn
from assistantd.store.tables import messages, run_steps, runs, threads
from assistantd.wire.run_status import ACTIVE, IDLE, RunStatus, check_moves

# The run path's lookups, built once (building a statement costs more than running it).
_ACTIVE_RUN = (
    select(runs.c.id)
    .where(
        runs.c.thread_id == bindparam("thread_id"),
        runs.c.status.in_(sorted(s.value for s in ACTIVE)),
    )
    .limit(1)
)
_RUN = select(runs).where(runs.c.id == bindparam("run_id"))
_STEPS = (
    select(run_steps).where(run_steps.c.run_id == bindparam("run_id")).order_by(run_steps.c.seq)
)
_INSERT_STEP = insert(run_steps)
_INSERT_MESSAGE = insert(messages)
_DELETE_STEP = delete(run_steps).where(run_steps.c.id == bindparam("step_id"))
_DELETE_MESSAGE = delete(messages).where(messages.c.id == bindparam("message_id"))
_LOCK_THREAD = (
    select(threads.c.id)
    .where(threads.c.id == bindparam("thread_id"), threads.c.project_id == bindparam("project_id"))
    .with_for_update()
)


async def active_run_id(conn: Conn, thread_id: str) -> str | None:
    """The thread's active run, if any (the thread lock)."""
    return (await conn.execute(_ACTIVE_RUN, {"thread_id": thread_id})).scalar()


async def get_run(conn: Conn, run_id: str) -> RowMapping | None:
    return (await conn.execute(_RUN, {"run_id": run_id})).mappings().first()


_TARGET = "target_id"
_updates: dict[tuple[str, tuple[str, ...]], Any] = {}


def _prepared_update(table: Table, statuses: tuple[str, ...]) -> Any:
    """`UPDATE table SET <given columns> WHERE id = :target_id [AND status IN statuses]
    RETURNING *`, built once per shape: the SET columns come from the parameters."""
    key = (table.name, statuses)
    query = _updates.get(key)
    if query is None:
        query = update(table).where(table.c.id == bindparam(_TARGET))
        if statuses:
            # Equalities, not IN: an IN list is re-rendered into the SQL at every execution.
            query = query.where(or_(*(table.c.status == status for status in statuses)))
        query = query.returning(*table.c)
        _updates[key] = query
    return query


async def _set(
    conn: Conn, table: Table, object_id: str, values: dict[str, Any], statuses: tuple[str, ...]
) -> RowMapping | None:
    if any(isinstance(value, ClauseElement) for value in values.values()):
        # SQL expressions cannot travel as parameters; build this one statement.
        query = update(table).where(table.c.id == object_id)
        if statuses:
            query = query.where(table.c.status.in_(statuses))
        statement = query.values(**values).returning(*table.c)
        return (await conn.execute(statement)).mappings().first()
    params = {_TARGET: object_id, **values}
    return (await conn.execute(_prepared_update(table, statuses), params)).mappings().first()


async def set_run(
    conn: Conn, run_id: str, values: dict[str, Any], *statuses: RunStatus
) -> RowMapping | None:
    """Update a run's other columns, only if it is (still) in one of `statuses` when given;
    the new row or None. Its status changes only through `move_run`."""
    if "status" in values:
        raise ValueError("a run's status changes only through move_run")
    return await _set(conn, runs, run_id, values, tuple(s.value for s in statuses))


async def move_run(
    conn: Conn,
    run_id: str,
    target: RunStatus,
    sources: tuple[RunStatus, ...] | frozenset[RunStatus],
    values: dict[str, Any] | None = None,
) -> RowMapping | None:
    """Move a run to `target` (with `values`) if it is still in one of `sources`: every move
    must be in the lifecycle's table (`IllegalTransition` otherwise). The guarded UPDATE makes
    it a compare-and-set: the new row, or None when the run has moved on (or is gone)."""
    expected = tuple(s.value for s in check_moves(sorted(sources), target))
    return await _set(conn, runs, run_id, {**(values or {}), "status": target.value}, expected)


_START_FROM = check_moves((RunStatus.QUEUED, RunStatus.IN_PROGRESS), RunStatus.IN_PROGRESS)
_START = (
    update(runs)
    .where(
        runs.c.id == bindparam("run_id"),
        or_(*(runs.c.status == status.value for status in _START_FROM)),
    )
    .values(
        status=RunStatus.IN_PROGRESS.value,
        started_at=func.coalesce(runs.c.started_at, bindparam("now")),
    )
    .returning(*runs.c)
)


async def start_run(conn: Conn, run_id: str, now: int) -> RowMapping | None:
    """Mark a run `in_progress` (keeping its first `started_at`) if it is queued or was
    interrupted in progress; the new row, or None when it is in any other state."""
    return (await conn.execute(_START, {"run_id": run_id, "now": now})).mappings().first()


async def steps_of(conn: Conn, run_id: str) -> list[RowMapping]:
    return list((await conn.execute(_STEPS, {"run_id": run_id})).mappings().all())


async def insert_step(conn: Conn, row: dict[str, Any]) -> None:
    await conn.execute(_INSERT_STEP, row)


async def insert_message(conn: Conn, row: dict[str, Any]) -> None:
    await conn.execute(_INSERT_MESSAGE, row)


async def delete_step(conn: Conn, step_id: str) -> None:
    await conn.execute(_DELETE_STEP, {"step_id": step_id})


async def delete_message(conn: Conn, message_id: str) -> None:
    await conn.execute(_DELETE_MESSAGE, {"message_id": message_id})


async def set_step(conn: Conn, step_id: str, values: dict[str, Any]) -> RowMapping | None:
    return await _set(conn, run_steps, step_id, values, ())


async def set_message(conn: Conn, message_id: str, values: dict[str, Any]) -> RowMapping | None:
    return await _set(conn, messages, message_id, values, ())


async def expired_idle_runs(conn: Conn, now: int) -> list[RowMapping]:
    """Runs past their deadline that no worker is executing (queued or waiting for outputs)."""
    query = select(runs).where(
        runs.c.status.in_(sorted(s.value for s in IDLE)), runs.c.expires_at < now
    )
    return list((await conn.execute(query)).mappings().all())


async def lock_thread(conn: Conn, project_id: str, thread_id: str) -> bool:
    """Lock the thread row for this transaction (PostgreSQL; SQLite's write lock already
    serialises writers) so that the active-run check and the insert cannot interleave."""
    params = {"thread_id": thread_id, "project_id": project_id}
    return (await conn.execute(_LOCK_THREAD, params)).scalar() is not None
