"""Writes imported conversations; entries already imported (by source id) are skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from causerie.services.imports.model import ImportedConversation
from causerie.store.models import Conversation, ImportedItem, Message, new_id


@dataclass
class Pending:
    """Rows to insert in one executemany per table: row-by-row ORM inserts are 10x slower."""

    conversations: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # source ids queued: a repeated entry is skipped

    def flush(self, s: Session) -> None:
        for table, rows in (
            (Conversation.__table__, self.conversations),
            (Message.__table__, self.messages),  # parents come before their children
            (ImportedItem.__table__, self.items),
        ):
            if rows:
                s.execute(insert(table), rows)
            rows.clear()


def write(
    s: Session, owner: str, source: str, conv: ImportedConversation, pending: Pending
) -> tuple[bool, int]:
    """Queue conv, or its messages not imported before; (conversation was new, messages added)."""
    if conv.source_id in pending.seen:
        return False, 0
    pending.seen.add(conv.source_id)
    known = s.execute(
        select(ImportedItem.conversation_id).where(
            ImportedItem.owner_id == owner,
            ImportedItem.source == source,
            ImportedItem.source_id == conv.source_id,
        )
    ).scalar_one_or_none()
    conv_id = known or new_id()
    local: dict[str, str] = {}
    if known is not None:
        rows = s.execute(
            select(ImportedItem.source_id, ImportedItem.local_id).where(
                ImportedItem.conversation_id == conv_id
            )
        )
        local = dict(rows.tuples().all())
    messages, items = pending.messages, pending.items
    before = len(messages)
    for m in conv.messages:
        if m.source_id in local:
            continue
        local[m.source_id] = mid = new_id()
        messages.append(
            {
                "id": mid,
                "conversation_id": conv_id,
                "owner_id": owner,
                "parent_id": local.get(m.parent_source_id) if m.parent_source_id else None,
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "model": m.model,
                "finish_reason": m.finish_reason,
                "error": m.error,
                "created_at": m.created_at,
                "updated_at": m.created_at,
            }
        )
        items.append(_item(owner, source, m.source_id, conv_id, mid))
    leaf = _leaf(conv, local)
    added = len(messages) - before
    if known is None:
        pending.conversations.append(_conversation_row(conv, owner, conv_id, leaf))
        items.append(_item(owner, source, conv.source_id, conv_id, conv_id))
    elif added:  # a newer export of it: show the branch the user is on there
        row = s.get(Conversation, conv_id)
        if row is not None:
            row.current_leaf_id = leaf or row.current_leaf_id
            row.updated_at = max(_aware(row.updated_at), conv.updated_at)
    return known is None, added


def _conversation_row(
    conv: ImportedConversation, owner: str, conv_id: str, leaf: str | None
) -> dict:
    return {
        "id": conv_id,
        "owner_id": owner,
        "title": conv.title[:500],
        "model": conv.local_model,  # a vendor's model names are not models of this server
        "system_prompt": conv.system_prompt,
        "temperature": conv.temperature,
        "current_leaf_id": leaf,
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
    }


def _leaf(conv: ImportedConversation, local: dict[str, str]) -> str | None:
    """The export's current branch, else the last message read."""
    if conv.current_source_id and conv.current_source_id in local:
        return local[conv.current_source_id]
    return local.get(conv.messages[-1].source_id) if conv.messages else None


def _item(owner: str, source: str, source_id: str, conv_id: str, local_id: str) -> dict:
    return {
        "owner_id": owner,
        "source": source,
        "source_id": source_id,
        "conversation_id": conv_id,
        "local_id": local_id,
    }


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
