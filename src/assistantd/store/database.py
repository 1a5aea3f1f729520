"""The database handle: connections for reads and for write transactions, on SQLite or PostgreSQL.

PostgreSQL is used through SQLAlchemy's asyncio engine (psycopg 3). SQLite is used through the
synchronous driver, called directly on the event loop: a statement on a local WAL database takes
microseconds, far less than handing it to a worker thread and back (what aiosqlite does for every
cursor call). Writes are serialised in-process by an asyncio lock, so a write transaction never
blocks the loop waiting for another coroutine; waiting for another *process* happens in short
async retries, never in a long blocking busy-wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from assistantd.errors import ServiceUnavailableError

_IMMEDIATE = "assistantd_immediate"
_NO_BEGIN = "assistantd_no_begin"
_LOCK_WAIT_SECONDS = 10.0


class Conn(Protocol):
    """What the store's queries need from a connection (both backends provide it)."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]: ...


def async_url(url: str) -> str:
    """Pick the async driver for a URL the user may have written without one."""
    for bare in ("postgres://", "postgresql://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def libpq_url(url: str) -> str:
    """A PostgreSQL URL as libpq (psycopg's own connections) takes it: no driver name."""
    return async_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (Alembic; SQLite serving)."""
    url = async_url(url)
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url[len("sqlite+aiosqlite://") :]
    if url.startswith("postgresql+asyncpg://"):
        return "postgresql+psycopg://" + url[len("postgresql+asyncpg://") :]
    return url


class _SyncConn:
    """A synchronous SQLite connection behind the async `Conn` interface."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)


class Database:
    """Owns the engine. `read()` gives a connection for lookups, `write()` a transaction that
    commits on exit (and rolls back on an exception)."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        """`pool_size` and `max_overflow`: PostgreSQL connections kept open, and opened on
        top of them at busy moments (SQLite uses one writer connection and short reads)."""
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock = asyncio.Lock()
        self._sqlite: Engine | None = None
        self._writer: Connection | None = None  # SQLite: every write goes through it
        self._async: AsyncEngine | None = None
        if self.is_sqlite:
            self._sqlite = create_engine(
                sync_url(self.url), connect_args={"check_same_thread": False}
            )
            _tune_sqlite(self._sqlite)
        else:
            self._async = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
            )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        if self._sqlite is not None:
            # No BEGIN: each statement reads a consistent state on its own, and no read path
            # needs several statements to agree (an explicit BEGIN doubles a lookup's cost).
            with self._sqlite.connect().execution_options(**{_NO_BEGIN: True}) as conn:
                yield _SyncConn(conn)
            return
        assert self._async is not None
        async with self._async.connect() as aconn:
            yield aconn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        if self._sqlite is not None:
            async with self._write_lock, self._sqlite_transaction(self._sqlite) as conn:
                yield _SyncConn(conn)
            return
        assert self._async is not None
        async with self._async.connect() as aconn, aconn.begin():
            yield aconn

    @asynccontextmanager
    async def _sqlite_transaction(self, engine: Engine) -> AsyncIterator[Connection]:
        """A transaction holding SQLite's write lock (`BEGIN IMMEDIATE`), committed on exit.

        Writes take turns (the write lock), so they share one connection, kept open: checking
        one out of the pool and back for every transaction cost as much as a small write.
        Another process may hold SQLite's lock: wait for it in short async pauses, not in a
        long blocking busy-wait, and give up with a retryable 503 after a while.
        """
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        pause = 0.002
        while True:
            if self._writer is None or self._writer.invalidated or self._writer.closed:
                self._writer = engine.connect().execution_options(**{_IMMEDIATE: True})
            conn = self._writer
            try:
                transaction = conn.begin()
                break
            except OperationalError as exc:
                self._drop_writer()  # its state after a failed BEGIN is not worth trusting
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise ServiceUnavailableError(
                        "The database is busy; please retry shortly.", retry_after_ms=1000
                    ) from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.1)
        try:
            yield conn
        except BaseException:
            try:
                transaction.rollback()
            except SQLAlchemyError:  # a connection that cannot roll back is not used again
                self._drop_writer()
            raise
        else:
            try:
                transaction.commit()
            except BaseException:
                self._drop_writer()
                raise

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()

    async def close(self) -> None:
        self._drop_writer()
        if self._sqlite is not None:
            self._sqlite.dispose()
        if self._async is not None:
            await self._async.dispose()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the "begin" hook below issue BEGIN itself (the sqlite3 module's implicit
        # transactions do not cover SELECTs, so reads would not be snapshots).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Short: the loop must not block long. Longer waits happen in async retries (write()).
        cursor.execute("PRAGMA busy_timeout=20")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(_NO_BEGIN, False):
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE, False) else "BEGIN")
