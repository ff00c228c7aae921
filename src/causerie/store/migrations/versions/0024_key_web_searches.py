"""web search: a daily limit per API key, beside the user's

Revision ID: 0024_key_web_searches
Revises: 0023_sqlite_term_counts
Create Date: 2026-12-02 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_key_web_searches"
down_revision = "0023_sqlite_term_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("web_searches_per_day", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("web_searches_per_day")
