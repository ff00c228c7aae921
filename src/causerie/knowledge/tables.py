"""Knowledge tables. Each row has an owner, like every user table of Causerie.

The full-text index (`knowledge_fts`, SQLite FTS5) is created by the migration, not
here: it is SQLite-specific, and a PostgreSQL deployment would index differently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from causerie.store.models import Base, new_id, utcnow


class Collection(Base):
    __tablename__ = "knowledge_collections"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_knowledge_collection_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The chat whose composer made it (files attached in a chat). No foreign key: SQLite
    # adds one only by copying the table, and dropping the old copy would delete every
    # document in cascade. Once that chat is deleted this is a plain collection.
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)


class Document(Base):
    __tablename__ = "knowledge_documents"
    __table_args__ = (
        Index("ix_knowledge_documents_collection_sha", "collection_id", "sha256"),
        Index("ix_knowledge_documents_collection_name", "collection_id", "name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_collections.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(2000))  # file name or URL
    format: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(1000))
    text: Mapped[str] = mapped_column(Text)  # chunk offsets index this text
    embedder: Mapped[str] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChunkRow(Base):
    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        Index("ix_knowledge_chunks_document", "document_id", "ordinal"),
        {"sqlite_autoincrement": True},
    )

    # An integer key: it is the FTS5 rowid and the key of the in-memory vector index.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_documents.id", ondelete="CASCADE")
    )
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_collections.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    section: Mapped[str | None] = mapped_column(String(1000))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian


class Job(Base):
    """One background job: queued -> running -> succeeded|failed|cancelled.

    kind "ingest": one file or URL into a collection; kind "import": an uploaded export
    (services/imports/jobs.py), with no collection, its summary in `report`.
    """

    __tablename__ = "knowledge_jobs"
    __table_args__ = (
        Index("ix_knowledge_jobs_collection", "collection_id", "created_at"),
        # Idle servers poll for queued jobs (jobs.py): an index read, however long the history.
        Index("ix_knowledge_jobs_status", "status", "kind"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="ingest", server_default="ingest")
    collection_id: Mapped[str | None] = mapped_column(
        ForeignKey("knowledge_collections.id", ondelete="CASCADE")
    )
    document_id: Mapped[str | None] = mapped_column(String(32))  # no FK: jobs outlive documents
    name: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str] = mapped_column(String(32), default="queued")
    result: Mapped[str | None] = mapped_column(String(16))  # indexed | duplicate | reindexed
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    error_detail: Mapped[dict | None] = mapped_column(JSON)  # code and figures, for the UI
    report: Mapped[dict | None] = mapped_column(JSON)  # an import's summary
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The process that owns the job while it is active, until its heartbeat stops renewing.
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_expires: Mapped[datetime | None] = mapped_column()
    # Runs begun: a job whose process died is queued again, up to a limit (a poison file).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    media_type: Mapped[str | None] = mapped_column(String(200))


class JobUpload(Base):
    """An uploaded file waiting for its job, in the database so any replica can run it."""

    __tablename__ = "knowledge_job_uploads"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ConversationCollection(Base):
    """Collections a conversation answers from."""

    __tablename__ = "knowledge_conversation_collections"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_collections.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class MessageGrounding(Base):
    """The sources and checked citations of a grounded assistant message."""

    __tablename__ = "knowledge_message_grounding"

    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
