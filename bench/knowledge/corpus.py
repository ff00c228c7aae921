"""Bench corpora: real FAQ documents for ingestion, a generated collection for latency."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sqlalchemy import insert, text

from causerie.knowledge import pgsearch
from causerie.knowledge.evaluation import load_faq
from causerie.knowledge.service import KnowledgeService
from causerie.knowledge.tables import ChunkRow, Document
from causerie.store.models import LOCAL_USER_ID, new_id

FAQ_HTML = Path("/usr/share/doc/debian/FAQ")
WORDS_PER_CHUNK = 110
DOCS_BATCH = 50


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


def generate_collection(service: KnowledgeService, chunks: int, seed: int = 7) -> str:
    """A collection of `chunks` generated chunks with random unit vectors; its id.

    Vectors are random because a vector search costs the same whatever they hold, and
    embedding 100,000 chunks would take hours on two cores; the text is drawn from the
    FAQ's word distribution so that full-text search does realistic work.
    """
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    words, weights = vocabulary()
    col = service.create_collection(LOCAL_USER_ID, f"generated-{chunks}-{time.time_ns()}")["id"]
    per_doc = 100
    made = 0
    while made < chunks:
        with service.db.session() as s:
            for _ in range(DOCS_BATCH):
                if made >= chunks:
                    break
                n = min(per_doc, chunks - made)
                texts = [" ".join(rng.choices(words, weights, k=WORDS_PER_CHUNK)) for _ in range(n)]
                vecs = nrng.standard_normal((n, service.embedder.dim)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                doc_id = new_id()
                full = "\n\n".join(texts)
                s.add(
                    Document(
                        id=doc_id, owner_id=LOCAL_USER_ID, collection_id=col, name=f"gen-{made}",
                        source="generated", format="text", sha256=doc_id, size=len(full),
                        text=full, embedder=service.embedder.name, chunk_count=n,
                    )
                )  # fmt: skip
                s.flush()
                rows, pos = [], 0
                for i, t in enumerate(texts):
                    rows.append(
                        {
                            "document_id": doc_id, "collection_id": col, "owner_id": LOCAL_USER_ID,
                            "ordinal": i, "text": t, "page": None, "section": None,
                            "start": pos, "end": pos + len(t), "embedding": vecs[i].tobytes(),
                        }
                    )  # fmt: skip
                    pos += len(t) + 2
                if service.in_database:  # PostgreSQL: vectors in pgvector, as index() does
                    ids = s.scalars(insert(ChunkRow).returning(ChunkRow.id), rows).all()
                    pgsearch.store_vectors(s, ids, vecs)
                else:
                    s.execute(insert(ChunkRow), rows)
                made += n
    if service.in_database:
        with service.db.session() as s:
            s.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would give later
    return col
