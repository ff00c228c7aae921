"""knowledge: collections, documents, chunks, ingestion jobs, full-text index

Revision ID: 0002_knowledge
Revises: 0001
Create Date: 2026-11-23 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_knowledge"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)

# External-content FTS5 over knowledge_chunks, kept in step by triggers, so that
# deleting a chunk (or its document, by cascade) removes it from search at once.
# remove_diacritics 2: "élève" matches "eleve", which French queries need.
_FTS = [
    "CREATE VIRTUAL TABLE knowledge_fts USING fts5(text, content='knowledge_chunks', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    # Document frequency per term: lets a query skip words too common to be worth it.
    "CREATE VIRTUAL TABLE knowledge_fts_vocab USING fts5vocab(knowledge_fts, 'row')",
    "CREATE TRIGGER knowledge_chunks_ai AFTER INSERT ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER knowledge_chunks_ad AFTER DELETE ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_fts(knowledge_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "END",
    "CREATE TRIGGER knowledge_chunks_au AFTER UPDATE OF text ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_fts(knowledge_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO knowledge_fts(rowid, text) VALUES (new.id, new.text); END",
]


def _owner() -> sa.Column:
    return sa.Column(
        "owner_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )


def _collection() -> sa.Column:
    return sa.Column(
        "collection_id",
        sa.String(32),
        sa.ForeignKey("knowledge_collections.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "knowledge_collections",
        sa.Column("id", sa.String(32), primary_key=True),
        _owner(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("owner_id", "name", name="uq_knowledge_collection_name"),
    )
    op.create_index("ix_knowledge_collections_owner_id", "knowledge_collections", ["owner_id"])
    op.create_table(
        "knowledge_documents",
        sa.Column("id", sa.String(32), primary_key=True),
        _owner(),
        _collection(),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(1000), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedder", sa.String(64), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index(
        "ix_knowledge_documents_collection_sha", "knowledge_documents", ["collection_id", "sha256"]
    )
    op.create_index(
        "ix_knowledge_documents_collection_name", "knowledge_documents", ["collection_id", "name"]
    )
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "document_id",
            sa.String(32),
            sa.ForeignKey("knowledge_documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _collection(),
        _owner(),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("section", sa.String(1000), nullable=True),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        # Never reuse the id of a deleted chunk: ids key the in-memory vector index.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_knowledge_chunks_document", "knowledge_chunks", ["document_id", "ordinal"])
    op.create_index("ix_knowledge_chunks_collection_id", "knowledge_chunks", ["collection_id"])
    op.create_table(
        "knowledge_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        _owner(),
        _collection(),
        sa.Column("document_id", sa.String(32), nullable=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index(
        "ix_knowledge_jobs_collection", "knowledge_jobs", ["collection_id", "created_at"]
    )
    op.create_table(
        "knowledge_conversation_collections",
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "collection_id",
            sa.String(32),
            sa.ForeignKey("knowledge_collections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _owner(),
    )
    op.create_table(
        "knowledge_message_grounding",
        sa.Column(
            "message_id",
            sa.String(32),
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _owner(),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("knowledge_chunks_au", "knowledge_chunks_ad", "knowledge_chunks_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS knowledge_fts_vocab")
        op.execute("DROP TABLE IF EXISTS knowledge_fts")
    for table in (
        "knowledge_message_grounding",
        "knowledge_conversation_collections",
        "knowledge_jobs",
        "knowledge_chunks",
        "knowledge_documents",
        "knowledge_collections",
    ):
        op.drop_table(table)
