"""a generation counter of the full-text index, bumped by every write to the chunks

Revision ID: 0020_chunk_writes
Revises: 0019_exports
Create Date: 2026-12-02 04:50:00

Search caches statistics of the chunks (their lengths, term counts). Another process on
the same SQLite file may change the chunks; a cache keyed on (count, largest id) missed an
in-place update or rows written again under the same ids. This counter moves on every
insert, delete and text update, in the writing transaction. SQLite only (PostgreSQL
caches nothing: pgsearch.py counts in the database).
"""

from alembic import op

revision = "0020_chunk_writes"
down_revision = "0019_exports"
branch_labels = None
depends_on = None

_BUMP = "UPDATE knowledge_fts_generation SET n = n + 1"
_TRIGGERS = {
    "knowledge_chunks_gen_ai": "AFTER INSERT ON knowledge_chunks",
    "knowledge_chunks_gen_ad": "AFTER DELETE ON knowledge_chunks",
    "knowledge_chunks_gen_au": "AFTER UPDATE OF text ON knowledge_chunks",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE knowledge_fts_generation (n INTEGER NOT NULL)")
    op.execute("INSERT INTO knowledge_fts_generation (n) VALUES (0)")
    for name, when in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS knowledge_fts_generation")
