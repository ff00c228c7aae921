"""web search: a per-conversation toggle, web searches in usage, a per-user daily limit

Revision ID: 0015_web_search
Revises: 0013_postgresql
Create Date: 2026-12-02 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_web_search"
down_revision = "0013_postgresql"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("web_search", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("usage") as batch:
        batch.add_column(
            sa.Column("web_searches", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("web_searches_per_day", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("web_searches_per_day")
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("web_searches")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("web_search")
