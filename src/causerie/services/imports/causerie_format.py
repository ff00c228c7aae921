"""Causerie's own export (docs/export-format.md): a ZIP that another Causerie imports."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from causerie.errors import InvalidRequest
from causerie.services.imports.model import FileError, ImportedConversation, ImportedMessage
from causerie.store.db import Database
from causerie.store.models import Conversation, Message

FORMAT = "causerie-export"
VERSION = 1
CONVERSATIONS = "conversations.jsonl"


def export_user(db: Database, owner: str, out: Path) -> int:
    """Write owner's conversations, every branch, to a ZIP at out; how many were written."""
    count = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(CONVERSATIONS, "w") as f:
            for line in _conversation_lines(db, owner):
                f.write(line)
                count += 1
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": datetime.now(UTC).isoformat(),
            "conversations": count,
        }
        z.writestr("manifest.json", json.dumps(manifest, indent=2))
    return count


def _conversation_lines(db: Database, owner: str) -> Iterator[bytes]:
    with db.session() as s:
        ids = s.scalars(
            select(Conversation.id).where(Conversation.owner_id == owner).order_by(Conversation.id)
        ).all()
    for conv_id in ids:  # one conversation in memory at a time
        with db.session() as s:
            conv = s.get(Conversation, conv_id)
            if conv is None:
                continue
            msgs = s.scalars(
                select(Message)
                .where(Message.conversation_id == conv_id)
                .order_by(Message.created_at, Message.id)
            ).all()
            yield (json.dumps(_conversation(conv, _parents_first(msgs))) + "\n").encode()


def _parents_first(msgs: Any) -> list[Message]:
    children: dict[str | None, list[Message]] = {}
    for m in msgs:
        children.setdefault(m.parent_id, []).append(m)
    out, stack = [], list(reversed(children.get(None, [])))
    while stack:
        m = stack.pop()
        out.append(m)
        stack.extend(reversed(children.get(m.id, [])))
    return out


def _conversation(c: Conversation, msgs: list[Message]) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "model": c.model,
        "system_prompt": c.system_prompt,
        "temperature": c.temperature,
        "current_leaf_id": c.current_leaf_id,
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
        "messages": [
            {
                "id": m.id,
                "parent_id": m.parent_id,
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "model": m.model,
                "finish_reason": m.finish_reason,
                "error": m.error,
                "created_at": _iso(m.created_at),
            }
            for m in msgs
        ],
    }


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def read_export(path: Path) -> Iterator[ImportedConversation | FileError]:
    """The conversations of a Causerie export, one line at a time."""
    if not zipfile.is_zipfile(path):
        raise InvalidRequest(f"{path} is not a ZIP file (give a `causerie export` ZIP).")
    with zipfile.ZipFile(path) as z:
        try:
            manifest = json.loads(z.read("manifest.json"))
        except (KeyError, ValueError):
            raise InvalidRequest(f"{path} has no readable manifest.json.") from None
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise InvalidRequest(f"{path} is not a Causerie export of version {VERSION}.")
        with z.open(CONVERSATIONS) as f:
            for n, line in enumerate(f, 1):
                try:
                    yield _imported(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    yield FileError(CONVERSATIONS, f"line {n}", f"unreadable ({exc})")


def _imported(d: dict[str, Any]) -> ImportedConversation:
    messages = [
        ImportedMessage(
            source_id=m["id"],
            parent_source_id=m.get("parent_id"),
            role=m["role"],
            content=m.get("content") or "",
            created_at=datetime.fromisoformat(m["created_at"]),
            model=m.get("model"),
            status=m.get("status") or "complete",
            finish_reason=m.get("finish_reason"),
            error=m.get("error"),
        )
        for m in d["messages"]
    ]
    return ImportedConversation(
        source_id=d["id"],
        title=d.get("title") or "",
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        messages=messages,
        current_source_id=d.get("current_leaf_id"),
        system_prompt=d.get("system_prompt"),
        local_model=d.get("model"),
        temperature=d.get("temperature"),
    )
