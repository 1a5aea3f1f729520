"""PostgreSQL only: chunks get a tsvector for keyword search and a pgvector column for vector
search, so search runs inside the database there (SQLite keeps in-memory indexes).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PGVECTOR_MISSING = (
    "assistantd on PostgreSQL needs the pgvector extension for file_search: install it on the "
    "server (https://github.com/pgvector/pgvector) or have an administrator run "
    "'CREATE EXTENSION vector' in this database, then start assistantd again."
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
    ).scalar()
    if not available:
        raise RuntimeError(PGVECTOR_MISSING)
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        "ALTER TABLE chunks ADD COLUMN tsv tsvector "
        "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
    )
    # No fixed dimension: the embedding model is a setting, and search always compares
    # chunks of one store, which share the model the store was created with.
    op.execute("ALTER TABLE chunks ADD COLUMN vec vector")
    op.execute("CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_chunks_tsv")
    op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS vec")
    op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS tsv")
