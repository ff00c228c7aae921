"""hostile: per-occurrence view of the full-text index, to rank with the searcher's statistics

Revision ID: 0016_hostile
Revises: 0015_web_search
Create Date: 2026-12-02 01:30:00

FTS5's bm25() counts documents and lengths over the whole table, every user's chunks
together; knowledge/bm25.py ranks with the statistics of the collections searched, and
reads term frequencies from this view. SQLite only (PostgreSQL ranks in pgsearch.py).
"""

from alembic import op

revision = "0016_hostile"
down_revision = "0015_web_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_fts_instance USING fts5vocab(knowledge_fts, 'instance')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS knowledge_fts_instance")
