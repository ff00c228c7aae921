"""Search indexes: SQLite FTS5 for words, an in-memory matrix for vectors, fused by rank.

Vectors live in the database as float32 BLOBs (SQLite stays the only store) and are
loaded once into one numpy matrix; a query is one matrix-vector product. A PostgreSQL
deployment would put the same two searches behind pgvector and tsvector.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from causerie.knowledge.textmatch import STOPWORDS, fold

RRF_K = 60  # the constant of Cormack et al.; damps the weight of the very first ranks

_WORD = re.compile(r"\w+", re.UNICODE)


# Ranking reads every posting of every query term: on a large index, a word found in
# most chunks costs much and weighs little in BM25. Terms are taken rarest first until
# their postings reach this budget (the rarest one is always kept).
POSTINGS_BUDGET = 10_000


def query_terms(query: str) -> list[tuple[str, bool]]:
    """The query's content words as (term, is_prefix), accent-folded, without duplicates.

    unicode61 has no stemmer; matching long words by their first letters catches
    plurals and conjugations in both French and English ("paquets" -> "paque*").
    """
    terms: list[tuple[str, bool]] = []
    for word in _WORD.findall(fold(query)):
        if word in STOPWORDS or len(word) < 2:
            continue
        term = (word[: max(5, len(word) - 2)], True) if len(word) >= 7 else (word, False)
        if term not in terms:
            terms.append(term)
    return terms


def fts_query(terms: Sequence[tuple[str, bool]]) -> str | None:
    """An FTS5 MATCH expression for any of the terms."""
    parts = [f'"{t}"*' if prefix else f'"{t}"' for t, prefix in terms]
    return " OR ".join(parts) if parts else None


def _document_frequency(s: Session, term: str, prefix: bool) -> int:
    if prefix:
        upper = term[:-1] + chr(ord(term[-1]) + 1)
        stmt = text("SELECT sum(doc) FROM knowledge_fts_vocab WHERE term >= :a AND term < :b")
        return int(s.execute(stmt, {"a": term, "b": upper}).scalar() or 0)
    stmt = text("SELECT doc FROM knowledge_fts_vocab WHERE term = :t")
    return int(s.execute(stmt, {"t": term}).scalar() or 0)


class TermFrequencies:
    """Document frequencies of query terms, remembered until the index changes."""

    MAX_TERMS = 50_000

    def __init__(self) -> None:
        self._known: dict[tuple[str, bool], int] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget everything (documents were added or removed)."""
        with self._lock:
            self._known = {}

    def get(self, s: Session, term: tuple[str, bool]) -> int:
        """The number of chunks containing term (a prefix counts all its words)."""
        with self._lock:
            if term in self._known:
                return self._known[term]
        count = _document_frequency(s, *term)
        with self._lock:
            if len(self._known) >= self.MAX_TERMS:
                self._known = {}
            self._known[term] = count
        return count


def affordable_terms(
    s: Session, terms: list[tuple[str, bool]], frequencies: TermFrequencies | None = None
) -> list[tuple[str, bool]]:
    """The rarest terms whose postings fit the budget, in the query's order."""
    freq = {t: frequencies.get(s, t) if frequencies else _document_frequency(s, *t) for t in terms}
    kept, postings = set(), 0
    for term in sorted((t for t in terms if freq[t] > 0), key=lambda t: freq[t]):
        if kept and postings + freq[term] > POSTINGS_BUDGET:
            break
        kept.add(term)
        postings += freq[term]
    return [t for t in terms if t in kept]


def fts_search(
    s: Session,
    query: str,
    collections: Sequence[str],
    k: int,
    frequencies: TermFrequencies | None = None,
) -> list[int]:
    """Chunk ids best matching query by BM25, within the given collections."""
    expr = fts_query(affordable_terms(s, query_terms(query), frequencies))
    if expr is None or not collections:
        return []
    stmt = text(
        "SELECT c.id FROM knowledge_fts f JOIN knowledge_chunks c ON c.id = f.rowid "
        "WHERE knowledge_fts MATCH :q AND c.collection_id IN :cols "
        "ORDER BY bm25(knowledge_fts) LIMIT :k"
    ).bindparams(bindparam("cols", expanding=True))
    return [row[0] for row in s.execute(stmt, {"q": expr, "cols": list(collections), "k": k})]


class VectorIndex:
    """Chunk vectors of every collection, in memory, searchable per collection."""

    def __init__(self, dim: int):
        self.dim = dim
        self._lock = threading.Lock()
        self._ids = np.zeros(0, dtype=np.int64)
        self._cols = np.zeros(0, dtype=np.int32)
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._codes: dict[str, int] = {}
        self.loaded = False

    def _code(self, collection: str) -> int:
        return self._codes.setdefault(collection, len(self._codes))

    def load(self, rows: Iterable[tuple[int, str, bytes]]) -> None:
        """Replace the contents with (chunk id, collection id, float32 blob) rows."""
        ids, cols, vecs = [], [], []
        for cid, col, blob in rows:
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.shape[0] != self.dim:
                continue  # made by another embedder: needs re-indexing, never mixed in
            ids.append(cid)
            cols.append(col)
            vecs.append(vec)
        with self._lock:
            self._codes = {}
            self._ids = np.asarray(ids, dtype=np.int64)
            self._cols = np.asarray([self._code(c) for c in cols], dtype=np.int32)
            self._matrix = np.vstack(vecs) if vecs else np.zeros((0, self.dim), np.float32)
            self.loaded = True

    def add(self, ids: Sequence[int], collection: str, vectors: np.ndarray) -> None:
        """Add the vectors of new chunks of one collection."""
        if not len(ids):
            return
        with self._lock:
            code = self._code(collection)
            self._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])
            self._cols = np.concatenate([self._cols, np.full(len(ids), code, np.int32)])
            self._matrix = np.vstack([self._matrix, vectors.astype(np.float32)])
            if self._ids.size > len(ids) and self._ids[-len(ids) - 1] > min(ids):
                order = np.argsort(self._ids, kind="stable")  # keep ids sorted for lookups
                self._ids, self._cols, self._matrix = (
                    self._ids[order],
                    self._cols[order],
                    self._matrix[order],
                )

    def remove(self, ids: Iterable[int]) -> None:
        """Forget chunks (deleted documents or collections)."""
        gone = np.asarray(list(ids), dtype=np.int64)
        if gone.size == 0:
            return
        with self._lock:
            keep = ~np.isin(self._ids, gone)
            self._ids, self._cols, self._matrix = (
                self._ids[keep],
                self._cols[keep],
                self._matrix[keep],
            )

    def vectors_of(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of some chunks (those still indexed)."""
        with self._lock:
            all_ids, matrix = self._ids, self._matrix
        wanted = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(all_ids, wanted)  # ids stay sorted: rows only ever append
        out = {}
        for cid, p in zip(wanted.tolist(), pos.tolist(), strict=True):
            if p < all_ids.shape[0] and all_ids[p] == cid:
                out[cid] = matrix[p]
        return out

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def search(
        self, query: np.ndarray, collections: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the k nearest chunks within the collections."""
        with self._lock:
            ids, cols, matrix = self._ids, self._cols, self._matrix
            codes = [self._codes[c] for c in collections if c in self._codes]
        if not codes or ids.size == 0:
            return []
        scores = matrix @ query.astype(np.float32)
        if len(codes) < len(self._codes):
            scores = np.where(np.isin(cols, codes), scores, -np.inf)
        k = min(k, scores.shape[0])
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]


@dataclass
class Fused:
    """A chunk found by one or both searches, with its fused score and its ranks."""

    chunk_id: int
    score: float = 0.0
    text_rank: int | None = None
    vector_rank: int | None = None
    cosine: float | None = None


def reciprocal_rank_fusion(
    text_ids: Sequence[int], vector_hits: Sequence[tuple[int, float]], k: int = RRF_K
) -> list[Fused]:
    """Fuse two rankings: each list adds 1/(k + rank); best fused score first."""
    fused: dict[int, Fused] = {}
    for rank, cid in enumerate(text_ids, 1):
        hit = fused.setdefault(cid, Fused(cid))
        hit.score += 1 / (k + rank)
        hit.text_rank = rank
    for rank, (cid, cosine) in enumerate(vector_hits, 1):
        hit = fused.setdefault(cid, Fused(cid))
        hit.score += 1 / (k + rank)
        hit.vector_rank = rank
        hit.cosine = cosine
    return sorted(fused.values(), key=lambda h: -h.score)
