"""Run jobs name their model route's limit group, so that a claim can skip the routes that are
at their `max_concurrent_runs` (the count is of running jobs per route), and the worker pool
whose process streams the run (`followed_by`), so that its events reach that stream.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("route", sa.String(200), nullable=True))
        batch.add_column(sa.Column("followed_by", sa.String(64), nullable=True))
    op.create_index("ix_jobs_kind_status_route", "jobs", ["kind", "status", "route"])


def downgrade() -> None:
    op.drop_index("ix_jobs_kind_status_route", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("followed_by")
        batch.drop_column("route")
