"""Bench corpora: real FAQ documents for ingestion, a generated collection for latency."""

from __future__ import annotations

import random
import re
import struct
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from causerie.knowledge.evaluation import load_faq
from causerie.knowledge.service import KnowledgeService
from causerie.knowledge.tables import ChunkRow, Document
from causerie.store.models import LOCAL_USER_ID, new_id, utcnow

FAQ_HTML = Path("/usr/share/doc/debian/FAQ")
WORDS_PER_CHUNK = 110
CHUNKS_PER_DOC = 100
DOCS_PER_COPY = 10  # a COPY holds the connection: the documents go in between
# Indexes rebuilt after a PostgreSQL bulk load (migration 0013's): building each once is
# faster than updating them row by row, as PostgreSQL's and pgvector's docs advise.
PG_INDEXES = ("knowledge_chunks_search_vector", "knowledge_chunks_embedding_hnsw")
_CHUNK_COLUMNS = (
    'document_id, collection_id, owner_id, ordinal, text, start, "end", embedding, embedding_vector'
)


def faq_files(limit: int | None) -> list[Path]:
    """The English FAQ's chapters (HTML), from the installed debian-faq package."""
    files = sorted(FAQ_HTML.glob("*.en.html"))
    files = [f for f in files if not f.name.startswith("index")]
    return files[:limit] if limit else files


def vocabulary() -> tuple[list[str], list[int]]:
    """Words of the FAQ with their counts, so generated text has a natural word spread."""
    counts = Counter(w.lower() for q in load_faq("en") for w in re.findall(r"[A-Za-z]{2,}", q.body))
    words, weights = zip(*counts.most_common(), strict=True)
    return list(words), list(weights)


@dataclass
class _Doc:
    """One generated document: its row and its chunks' texts, offsets and unit vectors."""

    row: dict
    texts: list[str]
    starts: list[int]
    vectors: np.ndarray


def _documents(collection: str, chunks: int, dim: int, embedder: str, seed: int) -> Iterator[_Doc]:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    words, weights = vocabulary()
    made = 0
    while made < chunks:
        n = min(CHUNKS_PER_DOC, chunks - made)
        texts = [" ".join(rng.choices(words, weights, k=WORDS_PER_CHUNK)) for _ in range(n)]
        vecs = nrng.standard_normal((n, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        starts = np.cumsum([0] + [len(t) + 2 for t in texts[:-1]]).tolist()
        full = "\n\n".join(texts)
        doc_id, now = new_id(), utcnow()
        row = {
            "id": doc_id, "owner_id": LOCAL_USER_ID, "collection_id": collection,
            "name": f"gen-{made}", "source": "generated", "format": "text", "sha256": doc_id,
            "size": len(full), "title": None, "text": full, "embedder": embedder,
            "chunk_count": n, "created_at": now, "updated_at": now,
        }  # fmt: skip
        yield _Doc(row, texts, starts, vecs)
        made += n


def generate_collection(service: KnowledgeService, chunks: int, seed: int = 7) -> str:
    """A collection of `chunks` generated chunks with random unit vectors; its id.

    Vectors are random because a vector search costs the same whatever they hold, and
    embedding 100,000 chunks would take hours on two cores; the text is drawn from the
    FAQ's word distribution so that full-text search does realistic work. Everything is
    written in one transaction, vectors with their rows: COPY on PostgreSQL, executemany
    on SQLite.
    """
    col = service.create_collection(LOCAL_USER_ID, f"generated-{chunks}-{time.time_ns()}")["id"]
    emb = service.embedder
    docs = _documents(col, chunks, emb.dim, emb.name, seed)
    with service.db.engine.begin() as conn:
        if service.in_database:
            _copy_postgresql(conn, docs)
        else:
            _insert_sqlite(conn, docs)
    if service.in_database:
        with service.db.engine.connect() as conn:
            # Fresh statistics and visibility map, as autovacuum would give a loaded table.
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE knowledge_chunks")
            )
    return col


def _chunk_rows(doc: _Doc) -> Iterator[dict]:
    for i, (t, start) in enumerate(zip(doc.texts, doc.starts, strict=True)):
        yield {
            "document_id": doc.row["id"], "collection_id": doc.row["collection_id"],
            "owner_id": LOCAL_USER_ID, "ordinal": i, "text": t, "page": None, "section": None,
            "start": start, "end": start + len(t), "embedding": doc.vectors[i].tobytes(),
        }  # fmt: skip


def _insert_sqlite(conn: Connection, docs: Iterator[_Doc]) -> None:
    for doc in docs:
        conn.execute(insert(Document), [doc.row])
        conn.execute(insert(ChunkRow), list(_chunk_rows(doc)))


def _copy_postgresql(conn: Connection, docs: Iterator[_Doc]) -> None:
    """Documents by executemany, chunks by binary COPY; the indexes rebuilt after."""
    defs = (
        conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = ANY(:names)"),
            {"names": list(PG_INDEXES)},
        )
        .scalars()
        .all()
    )
    for name in PG_INDEXES:
        conn.execute(text(f"DROP INDEX {name}"))
    cursor = conn.connection.driver_connection.cursor()  # psycopg 3, same transaction
    copy = f"COPY knowledge_chunks ({_CHUNK_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    for batch in _batches(docs, DOCS_PER_COPY):
        conn.execute(insert(Document), [doc.row for doc in batch])  # before their chunks
        with cursor.copy(copy) as cp:
            cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
            for doc in batch:
                cp.write(b"".join(_binary_rows(doc)))
            cp.write(struct.pack(">h", -1))
    conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))  # the HNSW graph in memory
    for definition in defs:
        conn.execute(text(definition))


def _batches(docs: Iterator[_Doc], size: int) -> Iterator[list[_Doc]]:
    batch: list[_Doc] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _field(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def _binary_rows(doc: _Doc) -> Iterator[bytes]:
    """Rows of COPY's binary format: big-endian lengths and values (vector: dims, 0, floats)."""
    ids = [doc.row[k].encode() for k in ("id", "collection_id", "owner_id")]
    head = struct.pack(">h", 9) + b"".join(_field(v) for v in ids)
    dim = doc.vectors.shape[1]
    vec_head = struct.pack(">hh", dim, 0)
    big = doc.vectors.astype(">f4")
    for i, (t, start) in enumerate(zip(doc.texts, doc.starts, strict=True)):
        body = t.encode()
        yield b"".join(
            (
                head,
                _field(struct.pack(">i", i)),
                _field(body),
                _field(struct.pack(">i", start)),
                _field(struct.pack(">i", start + len(t))),
                _field(doc.vectors[i].tobytes()),
                _field(vec_head + big[i].tobytes()),
            )
        )
