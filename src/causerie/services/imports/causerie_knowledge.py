"""The knowledge part of a Causerie export: collections, their documents, chunks, vectors.

Documents travel as the text Causerie extracted from them, cut into the same chunks with
their vectors, so a restore needs no extraction and no embedding when both servers use
the same embedding model (a different model re-embeds the chunks' text).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
from sqlalchemy import select

from causerie.knowledge.service import KnowledgeService, collection_json, document_json
from causerie.knowledge.tables import ChunkRow, Collection, ConversationCollection, Document
from causerie.services.imports.model import FileError
from causerie.store.db import Database
from causerie.store.models import ImportedItem

COLLECTIONS = "collections.jsonl"
DOCUMENTS = "documents.jsonl"
CHUNK_FIELDS = ("ordinal", "text", "page", "section", "start", "end")
DOCUMENT_FIELDS = ("name", "source", "format", "sha256", "size", "title", "text")


def collection_lines(db: Database, owner: str) -> Iterator[bytes]:
    """Each collection of owner, with the conversations that answer from it."""
    with db.session() as s:
        cols = s.scalars(
            select(Collection).where(Collection.owner_id == owner).order_by(Collection.id)
        ).all()
        for col in cols:
            linked = s.scalars(
                select(ConversationCollection.conversation_id)
                .where(ConversationCollection.collection_id == col.id)
                .order_by(ConversationCollection.conversation_id)
            ).all()
            yield _line({**collection_json(col), "conversations": list(linked)})


def document_lines(db: Database, owner: str) -> Iterator[bytes]:
    """Each document of owner with its text and chunks, one in memory at a time."""
    with db.session() as s:
        ids = s.scalars(
            select(Document.id).where(Document.owner_id == owner).order_by(Document.id)
        ).all()
    for doc_id in ids:
        with db.session() as s:
            doc = s.get(Document, doc_id)
            if doc is None:  # deleted while exporting
                continue
            chunks = s.scalars(
                select(ChunkRow).where(ChunkRow.document_id == doc_id).order_by(ChunkRow.ordinal)
            ).all()
            out = document_json(doc, with_text=True)
            out["chunks"] = [
                {
                    **{f: getattr(c, f) for f in CHUNK_FIELDS},
                    "embedding": base64.b64encode(c.embedding).decode(),
                }
                for c in chunks
            ]
            yield _line(out)


def _line(d: dict[str, Any]) -> bytes:
    return (json.dumps(d) + "\n").encode()


class KnowledgeRestore:
    """Restores an export's collections and documents for one owner (again: only new ones)."""

    def __init__(self, knowledge: KnowledgeService, owner: str):
        self.knowledge = knowledge
        self.owner = owner
        self.collections: dict[str, str] = {}  # exported id -> local id
        self.added = {"collections": 0, "documents": 0, "re-embedded documents": 0}
        self.unchanged = 0

    def restore_collections(self, f: IO[bytes]) -> Iterator[FileError]:
        """Create the collections missing (matched by name) and relink their conversations."""
        for n, raw in enumerate(f, 1):
            try:
                d = json.loads(raw)
                self.collections[d["id"]] = self._collection(d)
                self._link(self.collections[d["id"]], d.get("conversations") or [])
            except (ValueError, KeyError, TypeError) as exc:
                yield FileError(COLLECTIONS, f"line {n}", f"unreadable ({exc})")

    def _collection(self, d: dict[str, Any]) -> str:
        k = self.knowledge
        with k.db.session() as s:
            known = s.scalar(
                select(Collection.id).where(
                    Collection.owner_id == self.owner, Collection.name == d["name"]
                )
            )
        if known is not None:
            return known
        self.added["collections"] += 1
        return k.create_collection(self.owner, d["name"], d.get("description") or "")["id"]

    def _link(self, collection_id: str, conversations: list[str]) -> None:
        with self.knowledge.db.session() as s:
            local = s.scalars(
                select(ImportedItem.conversation_id).where(
                    ImportedItem.owner_id == self.owner,
                    ImportedItem.source == "causerie",
                    ImportedItem.source_id.in_(conversations),
                    ImportedItem.local_id == ImportedItem.conversation_id,
                )
            ).all()
            for conv_id in local:
                if s.get(ConversationCollection, (conv_id, collection_id)) is None:
                    s.add(
                        ConversationCollection(
                            conversation_id=conv_id,
                            collection_id=collection_id,
                            owner_id=self.owner,
                        )
                    )

    def restore_documents(self, f: IO[bytes]) -> Iterator[FileError]:
        """Store the documents the collections lack (matched by content), with their chunks."""
        for n, raw in enumerate(f, 1):
            try:
                self._document(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:
                yield FileError(DOCUMENTS, f"line {n}", f"unreadable ({exc})")

    def _document(self, d: dict[str, Any]) -> None:
        k, col = self.knowledge, self.collections[d["collection_id"]]
        if k.find_duplicate(self.owner, col, d["sha256"]) is not None:
            self.unchanged += 1
            return
        chunks = [{f: c[f] for f in CHUNK_FIELDS} for c in d["chunks"]]
        if d["embedder"] == k.embedder.name:
            vectors = (
                np.stack(
                    [
                        np.frombuffer(base64.b64decode(c["embedding"]), np.float32)
                        for c in d["chunks"]
                    ]
                )
                if chunks
                else np.zeros((0, k.embedder.dim), np.float32)
            )
            if vectors.shape[1] != k.embedder.dim:
                raise ValueError(f"vectors of {vectors.shape[1]} dimensions, not {k.embedder.dim}")
        else:  # another embedding model's vectors mean nothing to this one's
            vectors = k.embedder.passages([c["text"] for c in chunks])
            self.added["re-embedded documents"] += 1
        k.store(self.owner, col, {f: d[f] for f in DOCUMENT_FIELDS}, chunks, vectors)
        self.added["documents"] += 1
