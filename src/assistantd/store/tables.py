"""SQLAlchemy Core tables. `seq` is the insert sequence that orders every list (created_at ties)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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

runs = Table(
    "runs",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column("thread_id", String(64), ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("assistant_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("model", Text, nullable=False),
    Column("instructions", Text, nullable=False),
    Column("tools", Json, nullable=False),
    Column("tool_resources", Json, nullable=True),
    Column("metadata", Json, nullable=False),
    Column("temperature", Float, nullable=True),
    Column("top_p", Float, nullable=True),
    Column("reasoning_effort", String(16), nullable=True),
    Column("max_prompt_tokens", Integer, nullable=True),
    Column("max_completion_tokens", Integer, nullable=True),
    Column("truncation_strategy", Json, nullable=False),
    Column("tool_choice", Json, nullable=False),
    Column("parallel_tool_calls", Boolean, nullable=False),
    Column("response_format", Json, nullable=False),
    Column("include", Json, nullable=False),
    Column("required_action", Json, nullable=True),
    Column("last_error", Json, nullable=True),
    Column("incomplete_details", Json, nullable=True),
    Column("usage", Json, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("started_at", BigInteger, nullable=True),
    Column("cancelled_at", BigInteger, nullable=True),
    Column("failed_at", BigInteger, nullable=True),
    Column("completed_at", BigInteger, nullable=True),
    Index("ix_runs_thread_seq", "thread_id", "seq"),
    Index("ix_runs_status_expires", "status", "expires_at"),
    sqlite_autoincrement=True,
)

run_steps = Table(
    "run_steps",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("thread_id", String(64), nullable=False),
    Column("assistant_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("step_details", Json, nullable=False),
    Column("last_error", Json, nullable=True),
    Column("metadata", Json, nullable=False),
    Column("usage", Json, nullable=True),
    Column("expired_at", BigInteger, nullable=True),
    Column("cancelled_at", BigInteger, nullable=True),
    Column("failed_at", BigInteger, nullable=True),
    Column("completed_at", BigInteger, nullable=True),
    Index("ix_run_steps_run_seq", "run_id", "seq"),
    sqlite_autoincrement=True,
)

jobs = Table(
    "jobs",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("ref_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | done
    Column("owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # A run's model route group (whose limits it counts against); NULL for ingestion.
    Column("route", String(200), nullable=True),
    # The pool whose process streams the run: its events are relayed there (PostgreSQL), or
    # only that pool claims it (SQLite, which has no relay) until a lease's time has passed.
    Column("followed_by", String(64), nullable=True),
    Index("ix_jobs_status_seq", "status", "seq"),
    Index("ix_jobs_ref", "ref_id"),
    Index("ix_jobs_kind_status_seq", "kind", "status", "seq"),
    Index("ix_jobs_kind_status_route", "kind", "status", "route"),
    sqlite_autoincrement=True,
)

files = Table(
    "files",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_details", Text, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("blob_key", String(64), nullable=False),
    Index("ix_files_project_seq", "project_id", "seq"),
    Index("ix_files_expires_at", "expires_at"),
    sqlite_autoincrement=True,
)

vector_stores = Table(
    "vector_stores",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("name", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("metadata", Json, nullable=False),
    Column("expires_after", Json, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("last_active_at", BigInteger, nullable=False),
    Column("thread_id", String(64), nullable=True),  # set for a thread's attachment store
    Column("embedding_model", String(128), nullable=False),
    # Bumped whenever the store's chunks change, so in-memory indexes know they are stale.
    Column("index_version", Integer, nullable=False),
    Index("ix_vector_stores_project_seq", "project_id", "seq"),
    Index("ix_vector_stores_expires_at", "expires_at"),
    sqlite_autoincrement=True,
)

vector_store_files = Table(
    "vector_store_files",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False),  # the File's id
    Column("project_id", String(64), nullable=False),
    Column(
        "vector_store_id",
        String(64),
        ForeignKey("vector_stores.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_error", Json, nullable=True),
    Column("chunking_strategy", Json, nullable=False),
    Column("attributes", Json, nullable=True),
    Column("usage_bytes", BigInteger, nullable=False),
    Column("title", Text, nullable=True),  # the document's title line, a search field
    UniqueConstraint("vector_store_id", "id", name="uq_vector_store_files_store_file"),
    Index("ix_vector_store_files_store_seq", "vector_store_id", "seq"),
    Index("ix_vector_store_files_file", "id"),
    sqlite_autoincrement=True,
)

file_batches = Table(
    "file_batches",
    metadata,
    _seq(),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column(
        "vector_store_id",
        String(64),
        ForeignKey("vector_stores.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", BigInteger, nullable=False),
    Column("cancelled_at", BigInteger, nullable=True),
    sqlite_autoincrement=True,
)

file_batch_files = Table(
    "file_batch_files",
    metadata,
    _seq(),
    Column(
        "batch_id", String(64), ForeignKey("file_batches.id", ondelete="CASCADE"), nullable=False
    ),
    Column("file_id", String(64), nullable=False),
    Index("ix_file_batch_files_batch", "batch_id", "file_id"),
    sqlite_autoincrement=True,
)

chunks = Table(
    "chunks",
    metadata,
    _seq(),
    Column("project_id", String(64), nullable=False),
    Column(
        "vector_store_id",
        String(64),
        ForeignKey("vector_stores.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("file_id", String(64), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("token_count", Integer, nullable=False),
    Column("embedding", LargeBinary, nullable=False),  # float32, L2-normalised
    Index("ix_chunks_store_file", "vector_store_id", "file_id", "chunk_index"),
    sqlite_autoincrement=True,
)
