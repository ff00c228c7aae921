"""Full-text ranking by BM25 with the statistics of the collections searched (SQLite).

FTS5's bm25() takes the number of chunks, each term's document frequency and the average
length from the whole table, every user's chunks together: a user's own ranking moved
when someone else indexed or deleted a document with the query's words. Here FTS5's
index still finds the occurrences (the `knowledge_fts_instance` view, migration
0016_hostile) and the chunk lengths (`knowledge_fts_docsize`), but every count is taken
over the collections searched, which the searcher may read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

K1, B = 1.2, 0.75  # FTS5's bm25() constants
_IN_COLLECTIONS = "SELECT id FROM knowledge_chunks WHERE collection_id IN :cols"
ID_BATCH = 500  # ids per IN list (SQLite's default limit on parameters is 32,766)

Stats = tuple[int, float]  # chunks in the collections, their average length in tokens


def _varint(blob: bytes) -> int:
    """The first SQLite varint of blob (FTS5 stores a chunk's token count so)."""
    value = 0
    for i, byte in enumerate(blob[:9]):
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    return value


def _run(s: Session, sql: str, values: dict) -> list:
    stmt = text(sql)
    if "cols" in values:
        stmt = stmt.bindparams(bindparam("cols", expanding=True))
    if "ids" in values:
        stmt = stmt.bindparams(bindparam("ids", expanding=True))
    return list(s.execute(stmt, values))


def collection_stats(s: Session, collections: Sequence[str]) -> Stats:
    """How many chunks the collections hold and their average length."""
    sql = f"SELECT sz FROM knowledge_fts_docsize WHERE id IN ({_IN_COLLECTIONS})"
    sizes = [_varint(row[0]) for row in _run(s, sql, {"cols": list(collections)})]
    return len(sizes), (sum(sizes) / len(sizes) if sizes else 0.0)


def _postings(s: Session, term: str, prefix: bool, collections: Sequence[str]) -> dict[int, int]:
    """Occurrences of term (or of every word it begins) per chunk of the collections."""
    where = "term >= :a AND term < :b" if prefix else "term = :a"
    sql = (
        f"SELECT doc, count(*) FROM knowledge_fts_instance WHERE {where} "
        f"AND doc IN ({_IN_COLLECTIONS}) GROUP BY doc"
    )
    values = {"a": term, "b": term[:-1] + chr(ord(term[-1]) + 1), "cols": list(collections)}
    return dict(_run(s, sql, values))


def _lengths(s: Session, ids: list[int]) -> dict[int, int]:
    out = {}
    for at in range(0, len(ids), ID_BATCH):
        sql = "SELECT id, sz FROM knowledge_fts_docsize WHERE id IN :ids"
        out.update({i: _varint(sz) for i, sz in _run(s, sql, {"ids": ids[at : at + ID_BATCH]})})
    return out


def rank(
    s: Session,
    terms: Sequence[tuple[str, bool]],
    collections: Sequence[str],
    k: int,
    stats: Stats,
) -> list[int]:
    """The k chunks of the collections with the best BM25 score for any of the terms."""
    chunks, average = stats
    postings = [_postings(s, term, prefix, collections) for term, prefix in terms]
    lengths = _lengths(s, sorted({d for docs in postings for d in docs}))
    scores: dict[int, float] = defaultdict(float)
    for docs in postings:
        df = len(docs)
        # Lucene's form (+1 inside the log): never negative, whatever the frequency.
        idf = math.log((chunks - df + 0.5) / (df + 0.5) + 1)
        for doc, tf in docs.items():
            norm = K1 * (1 - B + B * lengths.get(doc, 0) / max(average, 1e-9))
            scores[doc] += idf * tf * (K1 + 1) / (tf + norm)
    return sorted(scores, key=lambda d: (-scores[d], d))[:k]
