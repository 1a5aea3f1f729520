"""Projects, API keys, assistants, threads and messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _seq() -> sa.Column[int]:
    return sa.Column("seq", Seq, primary_key=True, autoincrement=True)


def upgrade() -> None:
    projects = op.create_table(
        "projects",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    # The project that owns everything while the server runs open (no API keys).
    op.bulk_insert(projects, [{"id": "proj_default", "name": "default", "created_at": 0}])
    op.create_table(
        "api_keys",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("key_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("key_hint", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "assistants",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("instructions", sa.Text, nullable=True),
        sa.Column("reasoning_effort", sa.String(16), nullable=True),
        sa.Column("tools", Json, nullable=False),
        sa.Column("tool_resources", Json, nullable=True),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("temperature", sa.Float, nullable=True),
        sa.Column("top_p", sa.Float, nullable=True),
        sa.Column("response_format", Json, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_assistants_project_seq", "assistants", ["project_id", "seq"])
    op.create_table(
        "threads",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("tool_resources", Json, nullable=True),
        sa.Column("metadata", Json, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_threads_project_seq", "threads", ["project_id", "seq"])
    op.create_table(
        "messages",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column(
            "thread_id",
            sa.String(64),
            sa.ForeignKey("threads.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content", Json, nullable=False),
        sa.Column("attachments", Json, nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("assistant_id", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
        sa.Column("incomplete_at", sa.BigInteger, nullable=True),
        sa.Column("incomplete_details", Json, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_messages_thread_seq", "messages", ["thread_id", "seq"])
    op.create_index("ix_messages_thread_run", "messages", ["thread_id", "run_id"])


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("threads")
    op.drop_table("assistants")
    op.drop_table("api_keys")
    op.drop_table("projects")
