"""postgresql: pgvector and text search for knowledge chunks (PostgreSQL only)

Revision ID: 0013_postgresql
Revises: 0008_everyday
Create Date: 2026-12-01 23:30:00

SQLite keeps FTS5 and its in-memory vectors (0002); on PostgreSQL the same searches
run in the database, so that every replica sees every document at once.
"""

from alembic import op

revision = "0013_postgresql"
down_revision = "0008_everyday"
branch_labels = None
depends_on = None

# Letters causerie_fold() folds on PostgreSQL, one for one, as textmatch.fold() does in
# Python (NFKD without marks): both cases, since lower() under the C locale is ASCII-only.
PG_FOLD_FROM = "àáâãäåāçćčèéêëēėęìíîïīñńòóôõöōùúûüūýÿžźżÀÁÂÃÄÅĀÇĆČÈÉÊËĒĖĘÌÍÎÏĪÑŃÒÓÔÕÖŌÙÚÛÜŪÝŸŽŹŻ"
PG_FOLD_TO = "aaaaaaaccceeeeeeeiiiiinnoooooouuuuuyyzzzaaaaaaaccceeeeeeeiiiiinnoooooouuuuuyyzzz"

# Accent folding as an IMMUTABLE function (a generated column needs one). Not the
# unaccent extension: pgserver's PostgreSQL build (the tests' server) does not ship it,
# and translate() folds the Latin letters of French and English as queries are folded.
_FOLD = (
    "CREATE OR REPLACE FUNCTION causerie_fold(t text) RETURNS text "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS "
    f"$$ SELECT lower(translate(t, '{PG_FOLD_FROM}', '{PG_FOLD_TO}')) $$"
)

_UP = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    _FOLD,
    # 'simple': no stemmer, like SQLite's unicode61; queries match long words by prefix.
    "ALTER TABLE knowledge_chunks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
    "(to_tsvector('simple', causerie_fold(text))) STORED",
    "CREATE INDEX knowledge_chunks_search_vector ON knowledge_chunks USING gin (search_vector)",
    # Untyped vector: the dimension is the embedder's. The HNSW index is on the default
    # embedder's 384 dimensions (a cast expression); other sizes are searched exactly.
    "ALTER TABLE knowledge_chunks ADD COLUMN embedding_vector vector",
    "CREATE INDEX knowledge_chunks_embedding_hnsw ON knowledge_chunks USING hnsw "
    "((embedding_vector::vector(384)) vector_cosine_ops) WHERE vector_dims(embedding_vector) = 384",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS knowledge_chunks_embedding_hnsw")
    op.execute("ALTER TABLE knowledge_chunks DROP COLUMN IF EXISTS embedding_vector")
    op.execute("DROP INDEX IF EXISTS knowledge_chunks_search_vector")
    op.execute("ALTER TABLE knowledge_chunks DROP COLUMN IF EXISTS search_vector")
    op.execute("DROP FUNCTION IF EXISTS causerie_fold(text)")
