"""Runs, run steps and the durable job queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _seq() -> sa.Column[int]:
    return sa.Column("seq", Seq, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column(
            "thread_id",
            sa.String(64),
            sa.ForeignKey("threads.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("assistant_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("tools", Json, nullable=False),
        sa.Column("tool_resources", Json, nullable=True),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("temperature", sa.Float, nullable=True),
        sa.Column("top_p", sa.Float, nullable=True),
        sa.Column("reasoning_effort", sa.String(16), nullable=True),
        sa.Column("max_prompt_tokens", sa.Integer, nullable=True),
        sa.Column("max_completion_tokens", sa.Integer, nullable=True),
        sa.Column("truncation_strategy", Json, nullable=False),
        sa.Column("tool_choice", Json, nullable=False),
        sa.Column("parallel_tool_calls", sa.Boolean, nullable=False),
        sa.Column("response_format", Json, nullable=False),
        sa.Column("include", Json, nullable=False),
        sa.Column("required_action", Json, nullable=True),
        sa.Column("last_error", Json, nullable=True),
        sa.Column("incomplete_details", Json, nullable=True),
        sa.Column("usage", Json, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("cancelled_at", sa.BigInteger, nullable=True),
        sa.Column("failed_at", sa.BigInteger, nullable=True),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_runs_thread_seq", "runs", ["thread_id", "seq"])
    op.create_index("ix_runs_status_expires", "runs", ["status", "expires_at"])
    op.create_table(
        "run_steps",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("assistant_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step_details", Json, nullable=False),
        sa.Column("last_error", Json, nullable=True),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("usage", Json, nullable=True),
        sa.Column("expired_at", sa.BigInteger, nullable=True),
        sa.Column("cancelled_at", sa.BigInteger, nullable=True),
        sa.Column("failed_at", sa.BigInteger, nullable=True),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_run_steps_run_seq", "run_steps", ["run_id", "seq"])
    op.create_table(
        "jobs",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_status_seq", "jobs", ["status", "seq"])
    op.create_index("ix_jobs_ref", "jobs", ["ref_id"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("run_steps")
    op.drop_table("runs")
