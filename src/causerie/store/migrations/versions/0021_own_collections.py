"""a chat's own collection (the files attached from its composer)

Revision ID: 0021_own_collections
Revises: 0020_chunk_writes
Create Date: 2026-12-02 04:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_own_collections"
down_revision = "0020_chunk_writes"
branch_labels = None
depends_on = None


INDEX = "ix_knowledge_collections_conversation_id"


def upgrade() -> None:
    # A plain nullable column, added in place (no batch copy: see Collection in tables.py).
    op.add_column(
        "knowledge_collections", sa.Column("conversation_id", sa.String(32), nullable=True)
    )
    op.create_index(INDEX, "knowledge_collections", ["conversation_id"])


def downgrade() -> None:
    op.drop_index(INDEX, "knowledge_collections")
    op.drop_column("knowledge_collections", "conversation_id")
