"""Search indexes: SQLite FTS5 for words, in-memory matrices for vectors, fused by rank.

Vectors live in the database as float32 BLOBs (SQLite stays the only store) and are
loaded once into one numpy matrix per collection; a query is one matrix-vector product
per collection it searches. A PostgreSQL deployment would put the same two searches
behind pgvector and tsvector.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from causerie.knowledge import bm25
from causerie.knowledge.textmatch import content_words, stem

# Fusion, chosen on Debian's FAQ (bench/README.md, "Knowledge"; a smooth optimum, not a
# peak): k = 10 instead of Cormack et al.'s 60, which was set for fusing runs 1000 deep,
# where only the first ranks of two 40-deep lists matter here; and the full-text list
# counts half as much as the vector one, the better ranker in every language pair (and
# the only one that crosses languages). Every value from 0.35 to 0.7 at k = 10 scores
# within 0.02 nDCG@10 of this one.
RRF_K = 10
TEXT_WEIGHT = 0.5

# Ranking reads every posting of every query term: on a large index, a word found in
# most chunks costs much and weighs little in BM25. Terms are taken rarest first until
# their postings reach this budget (the rarest one is always kept), counted in the
# searched collections: counts taken over every user's chunks let another user's
# documents decide which of my words were ranked.
POSTINGS_BUDGET = 10_000
# A query's words past this many are not searched: each costs index reads, and a pasted
# page as a question (grounding searches the user's message) would cost hundreds.
MAX_QUERY_TERMS = 64


def query_terms(query: str) -> list[tuple[str, bool]]:
    """The query's content words as (term, is_prefix), accent-folded, without duplicates.

    unicode61 has no stemmer; matching long words by their first letters catches
    plurals and conjugations in both French and English ("paquets" -> "paque*").
    """
    cut = ((stem(w), w) for w in content_words(query))
    terms = list(dict.fromkeys((t, t != w) for t, w in cut))  # a cut word is a prefix
    return terms[:MAX_QUERY_TERMS]


# Chunks of the collections containing a term (a prefix: any word it begins), from the
# counts that migration 0023's triggers keep per collection: FTS5's own vocabulary counts
# every user's chunks, and another user's documents then changed which of my terms were
# ranked. An index range per collection.
_EXACT_TERM = "term = :a"
_PREFIX_TERM = "term >= :a AND term < :b"
_DF = "SELECT coalesce(sum(chunks), 0) FROM knowledge_terms WHERE collection_id IN :cols AND "


def _document_frequency(s: Session, term: str, prefix: bool, collections: Sequence[str]) -> int:
    stmt = text(_DF + (_PREFIX_TERM if prefix else _EXACT_TERM))
    stmt = stmt.bindparams(bindparam("cols", expanding=True))
    values = {"a": term, "b": term[:-1] + chr(ord(term[-1]) + 1), "cols": list(collections)}
    return int(s.execute(stmt, values).scalar_one())


class TermFrequencies:
    """Document frequencies of query terms and collection statistics, remembered until
    the index changes (in any process: keyed on the index's generation)."""

    MAX_TERMS = 50_000
    MAX_STATS = 32  # collection sets (each holds a length per chunk: kept few)

    def __init__(self) -> None:
        self._known: dict[Any, Any] = {}
        self._stats: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget everything (documents were added or removed)."""
        with self._lock:
            self._known, self._stats = {}, {}

    def _remember(self, memo: dict, size: int, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in memo:
                return memo[key]
        value = compute()
        with self._lock:
            if len(memo) >= size:
                memo.clear()
            memo[key] = value
        return value

    def get(self, s: Session, term: tuple[str, bool], collections: Sequence[str]) -> int:
        """The number of the collections' chunks containing term (a prefix counts all
        its words)."""
        cols = tuple(sorted(set(collections)))
        key = (term, cols, bm25.generation(s))  # another process may have written since
        return self._remember(
            self._known, self.MAX_TERMS, key, lambda: _document_frequency(s, *term, cols)
        )

    def stats(self, s: Session, collections: Sequence[str]) -> bm25.Stats:
        """The chunk lengths of these collections (checked against the database's state:
        another process on the same file may have changed them)."""
        key = (tuple(sorted(collections)), bm25.generation(s))
        return self._remember(
            self._stats, self.MAX_STATS, key, lambda: bm25.collection_stats(s, collections)
        )


def affordable_terms(
    s: Session,
    terms: list[tuple[str, bool]],
    collections: Sequence[str],
    frequencies: TermFrequencies | None = None,
) -> list[tuple[str, bool]]:
    """The terms rarest in the collections whose postings fit the budget, in the query's
    order (counted in the searched collections only, as BM25's statistics are)."""
    memo = frequencies or TermFrequencies()
    return within_budget(terms, {t: memo.get(s, t, collections) for t in terms})


def within_budget(terms: list, freq: dict) -> list:
    """The rarest of terms (by freq) whose postings fit POSTINGS_BUDGET, in their order.

    The rarest one is kept whatever its count; terms found nowhere are dropped.
    """
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
    """Chunk ids best matching query by BM25 over the given collections only."""
    if not collections:
        return []
    memo = frequencies or TermFrequencies()
    terms = affordable_terms(s, query_terms(query), collections, memo)
    if not terms:
        return []
    return bm25.rank(s, terms, k, memo.stats(s, collections))


@dataclass(frozen=True, eq=False)
class _Block:
    """One collection's vectors: chunk ids ascending, and their rows as one float32 matrix."""

    ids: np.ndarray
    matrix: np.ndarray

    @classmethod
    def of(cls, ids: np.ndarray, matrix: np.ndarray) -> _Block:
        if ids.size > 1 and bool(np.any(ids[1:] < ids[:-1])):
            order = np.argsort(ids, kind="stable")  # lookups bisect the ids
            ids, matrix = ids[order], matrix[order]
        return cls(ids, np.ascontiguousarray(matrix, dtype=np.float32))

    def top(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the block's k best rows, unordered."""
        # einsum, not BLAS: one thread streaming the rows measured twice as fast as
        # OpenBLAS's threaded gemv on two busy cores (memory-bound either way).
        scores = np.einsum("ij,j->i", self.matrix, query)
        k = min(k, scores.shape[0])
        top = np.argpartition(scores, scores.shape[0] - k)[-k:]
        return scores[top], self.ids[top]


class VectorIndex:
    """Chunk vectors in memory: one contiguous matrix per collection.

    A query reads only the matrices of its collections, so its cost follows their size,
    not the whole server's. Blocks are replaced, never changed in place: a search keeps
    reading the block it started with while a document is added or deleted.
    """

    def __init__(self, dim: int):
        self.dim = dim
        self._lock = threading.Lock()  # guards the dict of blocks (held for a swap)
        self._writing = threading.Lock()  # one writer at a time builds the next block
        self._blocks: dict[str, _Block] = {}
        self.loaded = False

    def load(self, rows: Iterable[tuple[int, str, bytes]]) -> None:
        """Replace the contents with (chunk id, collection id, float32 blob) rows."""
        grouped: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        for cid, col, blob in rows:
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.shape[0] != self.dim:
                continue  # made by another embedder: needs re-indexing, never mixed in
            ids, vecs = grouped.setdefault(col, ([], []))
            ids.append(cid)
            vecs.append(vec)
        blocks = {
            col: _Block.of(np.asarray(ids, dtype=np.int64), np.vstack(vecs))
            for col, (ids, vecs) in grouped.items()
        }
        with self._writing, self._lock:
            self._blocks = blocks
            self.loaded = True

    def add(self, ids: Sequence[int], collection: str, vectors: np.ndarray) -> None:
        """Add the vectors of new chunks of one collection."""
        if not len(ids):
            return
        new_ids = np.asarray(ids, dtype=np.int64)
        with self._writing:
            old = self._blocks.get(collection)
            if old is None:
                block = _Block.of(new_ids, vectors)
            else:
                block = _Block.of(
                    np.concatenate([old.ids, new_ids]),
                    np.vstack([old.matrix, vectors.astype(np.float32)]),
                )
            with self._lock:
                self._blocks[collection] = block

    def remove(self, ids: Iterable[int]) -> None:
        """Forget chunks (deleted documents or collections)."""
        gone = np.asarray(list(ids), dtype=np.int64)
        if gone.size == 0:
            return
        with self._writing:
            for col, block in list(self._blocks.items()):
                keep = ~np.isin(block.ids, gone)
                if keep.all():
                    continue
                smaller = _Block(block.ids[keep], block.matrix[keep])
                with self._lock:
                    if smaller.ids.size:
                        self._blocks[col] = smaller
                    else:
                        del self._blocks[col]

    def vectors_of(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of some chunks (those still indexed)."""
        with self._lock:
            blocks = list(self._blocks.values())
        wanted = np.asarray(ids, dtype=np.int64)
        out: dict[int, np.ndarray] = {}
        for block in blocks:
            pos = np.searchsorted(block.ids, wanted)
            for cid, p in zip(wanted.tolist(), pos.tolist(), strict=True):
                if p < block.ids.shape[0] and block.ids[p] == cid:
                    out[cid] = block.matrix[p]
        return out

    def __len__(self) -> int:
        with self._lock:
            return sum(int(b.ids.shape[0]) for b in self._blocks.values())

    def search(
        self, query: np.ndarray, collections: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the k nearest chunks within the collections."""
        with self._lock:
            blocks = [self._blocks[c] for c in dict.fromkeys(collections) if c in self._blocks]
        if not blocks or k < 1:
            return []
        q = np.asarray(query, dtype=np.float32)
        parts = [block.top(q, k) for block in blocks]
        scores = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]


@dataclass
class Fused:
    """A chunk found by one or both searches, with its fused score and its ranks."""

    chunk_id: int
    score: float = 0.0
    text_rank: int | None = None
    vector_rank: int | None = None
    cosine: float | None = None


def reciprocal_rank_fusion(
    text_ids: Sequence[int],
    vector_hits: Sequence[tuple[int, float]],
    k: int = RRF_K,
    text_weight: float = TEXT_WEIGHT,
) -> list[Fused]:
    """Fuse two rankings: each list adds weight/(k + rank); best fused score first."""
    fused: dict[int, Fused] = {}
    for rank, cid in enumerate(text_ids, 1):
        hit = fused.setdefault(cid, Fused(cid))
        hit.score += text_weight / (k + rank)
        hit.text_rank = rank
    for rank, (cid, cosine) in enumerate(vector_hits, 1):
        hit = fused.setdefault(cid, Fused(cid))
        hit.score += 1 / (k + rank)
        hit.vector_rank = rank
        hit.cosine = cosine
    return sorted(fused.values(), key=lambda h: -h.score)
