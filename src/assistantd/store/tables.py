"""SQLAlchemy Core tables. `seq` is the insert sequence that orders every list (created_at ties)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

Json = JSON().with_variant(JSONB(), "postgresql")
Seq = BigInteger().with_variant(Integer(), "sqlite")


def _seq() -> Column[int]:
    return Column("seq", Seq, primary_key=True, autoincrement=True)


projects = Table(
    "projects",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

api_keys = Table(
    "api_keys",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("name", String(256), nullable=True),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("key_hint", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    sqlite_autoincrement=True,
)

assistants = Table(
    "assistants",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("name", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("model", Text, nullable=False),
    Column("instructions", Text, nullable=True),
    Column("reasoning_effort", String(16), nullable=True),
    Column("tools", Json, nullable=False),
    Column("tool_resources", Json, nullable=True),
    Column("metadata", Json, nullable=False),
    Column("temperature", Float, nullable=True),
    Column("top_p", Float, nullable=True),
    Column("response_format", Json, nullable=True),
    Index("ix_assistants_project_seq", "project_id", "seq"),
    sqlite_autoincrement=True,
)

threads = Table(
    "threads",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("tool_resources", Json, nullable=True),
    Column("metadata", Json, nullable=False),
    Index("ix_threads_project_seq", "project_id", "seq"),
    sqlite_autoincrement=True,
)

messages = Table(
    "messages",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column(
        "thread_id",
        String(64),
        ForeignKey("threads.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", BigInteger, nullable=False),
    Column("role", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("content", Json, nullable=False),
    Column("attachments", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("assistant_id", String(64), nullable=True),
    Column("run_id", String(64), nullable=True),
    Column("completed_at", BigInteger, nullable=True),
    Column("incomplete_at", BigInteger, nullable=True),
    Column("incomplete_details", Json, nullable=True),
    Index("ix_messages_thread_seq", "thread_id", "seq"),
    Index("ix_messages_thread_run", "thread_id", "run_id"),
    sqlite_autoincrement=True,
)
