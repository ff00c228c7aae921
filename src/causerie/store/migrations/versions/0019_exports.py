"""exports: import jobs share the leased job table (kind, report, no collection)

Revision ID: 0019_exports
Revises: 0018_responses
Create Date: 2026-12-02 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_exports"
down_revision = "0018_responses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite changes a column's nullability only by copying the table.
    with op.batch_alter_table("knowledge_jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="ingest"))
        batch.add_column(sa.Column("report", sa.JSON(), nullable=True))
        batch.alter_column("collection_id", existing_type=sa.String(32), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM knowledge_jobs WHERE kind <> 'ingest'")
    with op.batch_alter_table("knowledge_jobs") as batch:
        batch.alter_column("collection_id", existing_type=sa.String(32), nullable=False)
        batch.drop_column("report")
        batch.drop_column("kind")
