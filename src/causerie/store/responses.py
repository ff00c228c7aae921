"""The tables of stored Responses API objects and stored chat completions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from causerie.errors import NotFound
from causerie.store.models import Base, utcnow


class StoredResponse(Base):
    __tablename__ = "stored_responses"
    __table_args__ = (Index("ix_stored_responses_owner_created", "owner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    # in_progress | completed | incomplete | failed | cancelled
    status: Mapped[str] = mapped_column(String(16))
    previous_response_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Refreshed by the process generating it: an old one while in progress means it died.
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the response object as returned
    input_items: Mapped[list[Any]] = mapped_column(JSON)  # this turn's input, with item ids
    # The chat messages of the whole conversation up to and including this turn's output
    # (without instructions, which previous_response_id does not carry over).
    transcript: Mapped[list[Any]] = mapped_column(JSON)


class StoredChatCompletion(Base):
    __tablename__ = "stored_chat_completions"
    __table_args__ = (
        Index("ix_stored_chat_completions_owner_stored", "owner_id", "stored_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    # Microseconds since the epoch when stored: orders a listing (`created` has only seconds).
    stored_at: Mapped[int] = mapped_column(BigInteger)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    completion: Mapped[dict[str, Any]] = mapped_column(JSON)  # the chat.completion object
    messages: Mapped[list[Any]] = mapped_column(JSON)  # the request's messages, with ids


Owned = TypeVar("Owned", StoredResponse, StoredChatCompletion)


def owned(s: Session, table: type[Owned], oid: str, owner: str, what: str, param: str) -> Owned:
    """The owner's row of `table` with this id; another user's row is not found either."""
    row = s.scalar(select(table).where(table.id == oid, table.owner_id == owner))
    if row is None:
        raise NotFound(f"No {what} with id '{oid}' found.", param=param)
    return row
