"""replicas: ingestion jobs any server can run (the upload in the database, attempts);
limits and token counts as 64-bit integers (PostgreSQL's INTEGER stops at 2**31 - 1,
where SQLite's does not: a quota of 10**12 tokens was a 500 on PostgreSQL)

Revision ID: 0017_replicas
Revises: 0016_hostile
Create Date: 2026-12-02 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_replicas"
down_revision = "0016_hostile"
branch_labels = None
depends_on = None


# Columns that count tokens or hold limits, by table.
_WIDE = {
    "users": ("requests_per_minute", "tokens_per_day"),
    "api_keys": ("requests_per_minute", "tokens_per_day"),
    "usage": ("prompt_tokens", "completion_tokens"),
}


def _widen(to: type[sa.types.TypeEngine], existing: type[sa.types.TypeEngine]) -> None:
    for table, columns in _WIDE.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=to(), existing_type=existing())


def upgrade() -> None:
    _widen(sa.BigInteger, sa.Integer)
    with op.batch_alter_table("knowledge_jobs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("media_type", sa.String(200), nullable=True))
    op.create_table(
        "knowledge_job_uploads",
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("knowledge_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("knowledge_job_uploads")
    with op.batch_alter_table("knowledge_jobs") as batch:
        batch.drop_column("media_type")
        batch.drop_column("attempts")
    _widen(sa.Integer, sa.BigInteger)
