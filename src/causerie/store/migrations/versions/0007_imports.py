"""imports: which conversations and messages came from which export entry

Revision ID: 0007_imports
Revises: 0006_stored_responses
Create Date: 2026-12-01 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_imports"
down_revision = "0006_stored_responses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "owner_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(300), nullable=False),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("local_id", sa.String(32), nullable=False),
        sa.UniqueConstraint("owner_id", "source", "source_id", name="uq_imported_items_source"),
    )
    op.create_index("ix_imported_items_conversation", "imported_items", ["conversation_id"])


def downgrade() -> None:
    op.drop_table("imported_items")
