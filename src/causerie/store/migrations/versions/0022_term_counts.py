"""PostgreSQL full text at 100,000 chunks (term counts, inline tsvector); job status index

Revision ID: 0022_term_counts
Revises: 0021_own_collections
Create Date: 2026-12-02 04:35:00

The job status index on both databases; the rest on PostgreSQL only (SQLite's FTS5
keeps its own vocabulary). Measured at 2,000 chunks
(bench/README.md, "Knowledge on PostgreSQL"):
- Every chunk's tsvector (about 1.2 kB) was moved out of line into TOAST with the two
  vectors, so each match and each ts_rank call fetched it from there: a text query
  took 124 ms. With the tsvector kept in the row (STORAGE MAIN) and the vectors out of
  it (EXTERNAL: random floats never compress), 34 ms. Rows written before keep their
  layout until they are written again (re-indexing the document).
- Choosing which query terms to rank by (index.py's postings budget) and weighting them
  by IDF needs each term's chunk count in the searched collections; counting matches
  reads a row per match. `knowledge_terms` keeps the counts, kept up to date by
  statement-level triggers on the chunks table, so every writer (ingestion, `db copy`,
  COPY, cascaded deletes) keeps it right without knowing of it.
"""

from alembic import op

revision = "0022_term_counts"
down_revision = "0021_own_collections"
branch_labels = None
depends_on = None

# C collation: prefix terms are looked up as byte ranges (term >= 'paque' < 'paquf').
_TABLE = (
    "CREATE TABLE knowledge_terms ("
    'collection_id varchar(32) NOT NULL, term text COLLATE "C" NOT NULL, '
    "chunks integer NOT NULL, PRIMARY KEY (collection_id, term))"
)
# The terms of the changed chunks, one row per (collection, term): counts to add. Ordered,
# so that two transactions writing to one collection lock its term rows in one order.
_COUNTS = (
    "SELECT c.collection_id, u.lexeme, {sign}count(*) FROM {rows} c, "
    "unnest(c.search_vector) AS u GROUP BY 1, 2 ORDER BY 1, 2"
)
_UPSERT = (
    "INSERT INTO knowledge_terms AS t (collection_id, term, chunks) {counts} "
    "ON CONFLICT (collection_id, term) DO UPDATE SET chunks = t.chunks + excluded.chunks"
)
_ADDED = f"""
CREATE OR REPLACE FUNCTION causerie_terms_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_UPSERT.format(counts=_COUNTS.format(sign="", rows="new_chunks"))};
    RETURN NULL;
END $$
"""
_REMOVED = f"""
CREATE OR REPLACE FUNCTION causerie_terms_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_UPSERT.format(counts=_COUNTS.format(sign="-", rows="old_chunks"))};
    DELETE FROM knowledge_terms t USING
        (SELECT DISTINCT c.collection_id, u.lexeme FROM old_chunks c,
         unnest(c.search_vector) AS u) AS gone
        WHERE t.collection_id = gone.collection_id AND t.term = gone.lexeme AND t.chunks <= 0;
    RETURN NULL;
END $$
"""
_UP = [
    "ALTER TABLE knowledge_chunks ALTER COLUMN search_vector SET STORAGE MAIN, "
    "ALTER COLUMN embedding SET STORAGE EXTERNAL, "
    "ALTER COLUMN embedding_vector SET STORAGE EXTERNAL",
    _TABLE,
    _UPSERT.format(counts=_COUNTS.format(sign="", rows="knowledge_chunks")),
    _ADDED,
    _REMOVED,
    "CREATE TRIGGER knowledge_chunks_terms_added AFTER INSERT ON knowledge_chunks "
    "REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT "
    "EXECUTE FUNCTION causerie_terms_added()",
    "CREATE TRIGGER knowledge_chunks_terms_removed AFTER DELETE ON knowledge_chunks "
    "REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT "
    "EXECUTE FUNCTION causerie_terms_removed()",
]


def upgrade() -> None:
    # Both databases: idle servers poll for queued jobs (knowledge/jobs.py).
    op.create_index("ix_knowledge_jobs_status", "knowledge_jobs", ["status", "kind"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _UP:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_knowledge_jobs_status", table_name="knowledge_jobs")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS knowledge_chunks_terms_removed ON knowledge_chunks")
    op.execute("DROP TRIGGER IF EXISTS knowledge_chunks_terms_added ON knowledge_chunks")
    op.execute("DROP FUNCTION IF EXISTS causerie_terms_removed()")
    op.execute("DROP FUNCTION IF EXISTS causerie_terms_added()")
    op.execute("DROP TABLE IF EXISTS knowledge_terms")
    op.execute(
        "ALTER TABLE knowledge_chunks ALTER COLUMN search_vector SET STORAGE EXTENDED, "
        "ALTER COLUMN embedding SET STORAGE EXTENDED, "
        "ALTER COLUMN embedding_vector SET STORAGE EXTENDED"
    )
