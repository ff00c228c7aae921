"""job leases: the process owning an active ingestion job, and until when

Revision ID: 0005_job_leases
Revises: 0004_login_failures
Create Date: 2026-12-01 23:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_job_leases"
down_revision = "0004_login_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_jobs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(32), nullable=True))
        batch.add_column(sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knowledge_jobs") as batch:
        batch.drop_column("lease_expires")
        batch.drop_column("lease_owner")
