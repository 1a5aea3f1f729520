"""Files, vector stores, their files and batches, and the chunks that search reads.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _seq() -> sa.Column[int]:
    return sa.Column("seq", Seq, primary_key=True, autoincrement=True)


def _store_fk() -> sa.Column[str]:
    return sa.Column(
        "vector_store_id",
        sa.String(64),
        sa.ForeignKey("vector_stores.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "files",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_details", sa.Text, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("blob_key", sa.String(64), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_files_project_seq", "files", ["project_id", "seq"])
    op.create_index("ix_files_expires_at", "files", ["expires_at"])
    op.create_table(
        "vector_stores",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("expires_after", Json, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("last_active_at", sa.BigInteger, nullable=False),
        sa.Column("thread_id", sa.String(64), nullable=True),
        sa.Column("embedding_model", sa.String(128), nullable=False),
        sa.Column("index_version", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_vector_stores_project_seq", "vector_stores", ["project_id", "seq"])
    op.create_index("ix_vector_stores_expires_at", "vector_stores", ["expires_at"])
    op.create_table(
        "vector_store_files",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        _store_fk(),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", Json, nullable=True),
        sa.Column("chunking_strategy", Json, nullable=False),
        sa.Column("attributes", Json, nullable=True),
        sa.Column("usage_bytes", sa.BigInteger, nullable=False),
        sa.Column("title", sa.Text, nullable=True),
        sa.UniqueConstraint("vector_store_id", "id", name="uq_vector_store_files_store_file"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_vector_store_files_store_seq", "vector_store_files", ["vector_store_id", "seq"]
    )
    op.create_index("ix_vector_store_files_file", "vector_store_files", ["id"])
    op.create_table(
        "file_batches",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        _store_fk(),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("cancelled_at", sa.BigInteger, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "file_batch_files",
        _seq(),
        sa.Column(
            "batch_id",
            sa.String(64),
            sa.ForeignKey("file_batches.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("file_id", sa.String(64), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_file_batch_files_batch", "file_batch_files", ["batch_id", "file_id"])
    op.create_table(
        "chunks",
        _seq(),
        sa.Column("project_id", sa.String(64), nullable=False),
        _store_fk(),
        sa.Column("file_id", sa.String(64), nullable=False),
        sa.Column("chunk_index", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("token_count", sa.Integer, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_chunks_store_file", "chunks", ["vector_store_id", "file_id", "chunk_index"])
    op.create_index("ix_jobs_kind_status_seq", "jobs", ["kind", "status", "seq"])


def downgrade() -> None:
    op.drop_index("ix_jobs_kind_status_seq", "jobs")
    op.drop_table("chunks")
    op.drop_table("file_batch_files")
    op.drop_table("file_batches")
    op.drop_table("vector_store_files")
    op.drop_table("vector_stores")
    op.drop_table("files")
