"""Database objects made by raw SQL in migrations, which the models do not describe.

SQLite's FTS5 tables and PostgreSQL's search columns are dialect-specific, so they are
left out of the models; comparing models with a migrated database skips exactly these.
"""

from __future__ import annotations

from typing import Any

SEARCH_TABLES = (
    frozenset(
        {
            "knowledge_fts",
            "knowledge_fts_vocab",
            "knowledge_fts_instance",
            "knowledge_fts_generation",
            "knowledge_fts_tokens",  # the tokenizer the term counts' triggers use (0023)
        }
    )
    | frozenset(f"knowledge_fts_{part}" for part in ("data", "idx", "docsize", "config", "content"))
    | {"knowledge_terms"}  # term counts per collection (0022 PostgreSQL, 0023 SQLite)
)
SEARCH_COLUMNS = frozenset({"search_vector", "embedding_vector"})
SEARCH_INDEXES = frozenset({"knowledge_chunks_search_vector", "knowledge_chunks_embedding_hnsw"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, _compare: Any) -> bool:
    """False for the search objects above (Alembic's include_object hook)."""
    if type_ == "table":
        return name not in SEARCH_TABLES
    if type_ == "column":
        return name not in SEARCH_COLUMNS
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True
