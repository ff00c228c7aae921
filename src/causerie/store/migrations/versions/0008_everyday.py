"""everyday: why a reply or an ingestion job failed (code, figures), what a model left out

Revision ID: 0008_everyday
Revises: 0007_imports
Create Date: 2026-12-01 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_everyday"
down_revision = "0007_imports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("error_detail", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("out_of_view", sa.Integer(), nullable=True))
    with op.batch_alter_table("knowledge_jobs") as batch:
        batch.add_column(sa.Column("error_detail", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knowledge_jobs") as batch:
        batch.drop_column("error_detail")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("out_of_view")
        batch.drop_column("error_detail")
