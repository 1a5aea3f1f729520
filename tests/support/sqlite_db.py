"""A migrated SQLite database for unit tests that drive the store or the engine directly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistantd.store.database import Database
from assistantd.store.migrate import upgrade


@contextmanager
def migrated_sqlite(path: Path) -> Iterator[Database]:
    """The database at `path`, migrated to the latest schema, closed at the end."""
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    database = Database(url)
    try:
        yield database
    finally:
        asyncio.run(database.close())
