"""accounts: users with passwords and roles, API keys, web sessions, usage, rate windows

Revision ID: 0003_accounts
Revises: 0002_knowledge
Create Date: 2026-11-23 02:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_accounts"
down_revision = "0002_knowledge"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _user() -> sa.Column:
    return sa.Column(
        "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    # Plain ADD COLUMN and unique indexes, not batch mode: rebuilding `users` would drop
    # the old table, and with foreign keys on that cascades into every conversation.
    op.add_column("users", sa.Column("email", sa.String(320), nullable=True))
    op.add_column("users", sa.Column("password_hash", sa.String(200), nullable=True))
    op.add_column("users", sa.Column("role", sa.String(16), nullable=False, server_default="user"))
    op.add_column("users", sa.Column("disabled", sa.Boolean(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("requests_per_minute", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("tokens_per_day", sa.Integer(), nullable=True))
    op.create_index("ix_users_name", "users", ["name"], unique=True)
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        _user(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_day", sa.Integer(), nullable=True),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        _user(),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "usage",
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
    )
    op.create_table(
        "rate_windows",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("minute", sa.Integer(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for table in ("rate_windows", "usage", "web_sessions", "api_keys"):
        op.drop_table(table)
    op.drop_index("ix_users_email", "users")
    op.drop_index("ix_users_name", "users")
    # SQLite >= 3.35 drops columns in place (no rebuild, so no cascade).
    for column in (
        "tokens_per_day",
        "requests_per_minute",
        "disabled",
        "role",
        "password_hash",
        "email",
    ):
        op.drop_column("users", column)
