"""responses: a heartbeat for responses being generated

Revision ID: 0018_responses
Revises: 0017_replicas
Create Date: 2026-12-02 01:45:00

The process generating a response refreshes `heartbeat_at`; any process that reads one
still in progress with an old heartbeat knows its writer died, and marks it failed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_responses"
down_revision = "0017_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stored_responses") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("stored_responses") as batch:
        batch.drop_column("heartbeat_at")
