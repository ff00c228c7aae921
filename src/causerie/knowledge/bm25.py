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
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

K1, B = 1.2, 0.75  # FTS5's bm25() constants
_IN_COLLECTIONS = "SELECT id FROM knowledge_chunks WHERE collection_id IN :cols"


@dataclass(frozen=True)
class Stats:
    """The chunks of some collections: each one's length in tokens, and their average."""

    lengths: dict[int, int]
    average: float


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
    return list(s.execute(stmt, values))


def collection_stats(s: Session, collections: Sequence[str]) -> Stats:
    """The length of every chunk of the collections (remembered by the caller)."""
    sql = f"SELECT id, sz FROM knowledge_fts_docsize WHERE id IN ({_IN_COLLECTIONS})"
    rows = _run(s, sql, {"cols": list(collections)})
    lengths = {cid: _varint(sz) for cid, sz in rows}
    return Stats(lengths, sum(lengths.values()) / len(lengths) if lengths else 0.0)


def generation(s: Session) -> int:
    """A number that changes with every write to the chunks, by any process (0020_chunk_writes)."""
    return int(s.execute(text("SELECT n FROM knowledge_fts_generation")).scalar_one())


def _postings(s: Session, term: str, prefix: bool, stats: Stats) -> dict[int, int]:
    """Occurrences of term (or of every word it begins) per chunk of the collections.

    Read for the whole index and kept for the collections here: filtering in SQL built
    the list of the collections' chunk ids again for every term (measured 5-10x slower).
    """
    where = "term >= :a AND term < :b" if prefix else "term = :a"
    sql = f"SELECT doc, count(*) FROM knowledge_fts_instance WHERE {where} GROUP BY doc"
    values = {"a": term, "b": term[:-1] + chr(ord(term[-1]) + 1)}
    return {doc: n for doc, n in _run(s, sql, values) if doc in stats.lengths}


def rank(s: Session, terms: Sequence[tuple[str, bool]], k: int, stats: Stats) -> list[int]:
    """The k chunks of the collections with the best BM25 score for any of the terms."""
    chunks, average = len(stats.lengths), stats.average
    postings = [_postings(s, term, prefix, stats) for term, prefix in terms]
    scores: dict[int, float] = defaultdict(float)
    for docs in postings:
        df = len(docs)
        # Lucene's form (+1 inside the log): never negative, whatever the frequency.
        idf = math.log((chunks - df + 0.5) / (df + 0.5) + 1)
        for doc, tf in docs.items():
            norm = K1 * (1 - B + B * stats.lengths[doc] / max(average, 1e-9))
            scores[doc] += idf * tf * (K1 + 1) / (tf + norm)
    return sorted(scores, key=lambda d: (-scores[d], d))[:k]
