"""login failures: failed sign-ins per account and address, for lockouts

Revision ID: 0004_login_failures
Revises: 0003_accounts
Create Date: 2026-11-23 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_login_failures"
down_revision = "0003_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_index("ix_login_failures_subject_at", "login_failures", ["subject", "at"])
    op.create_index("ix_login_failures_at", "login_failures", ["at"])


def downgrade() -> None:
    op.drop_table("login_failures")
