"""stored responses: Responses API objects and stored chat completions, owned by their user

Revision ID: 0006_stored_responses
Revises: 0005_job_leases
Create Date: 2026-12-01 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_stored_responses"
down_revision = "0005_job_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_responses",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "owner_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous_response_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("input_items", sa.JSON(), nullable=False),
        sa.Column("transcript", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_stored_responses_owner_created", "stored_responses", ["owner_id", "created_at"]
    )
    op.create_table(
        "stored_chat_completions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "owner_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("stored_at", sa.BigInteger(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("completion", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_stored_chat_completions_owner_stored",
        "stored_chat_completions",
        ["owner_id", "stored_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("stored_chat_completions")
    op.drop_table("stored_responses")
