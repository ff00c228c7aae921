"""Open WebUI's chat export (Settings → Chats → Export): a JSON array of chats, or one chat.

Each chat keeps its tree in `chat.history.messages` ({id: {parentId, childrenIds, role,
content, timestamp, model}}) with `chat.history.currentId` the message shown; older
exports have only the flat `chat.messages` list, taken as one branch.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import ijson

from causerie.services.imports.chatgpt import _parents, _title, _top_down
from causerie.services.imports.files import first_byte
from causerie.services.imports.model import (
    FileError,
    ImportedConversation,
    ImportedMessage,
    Skipped,
)


def read_chats(f: Any, name: str) -> Iterator[dict[str, Any] | FileError]:
    """The chats of an export file, streamed; a FileError last if the JSON breaks off."""
    count = 0
    try:
        prefix = "item" if first_byte(f) == b"[" else ""
        for chat in ijson.items(f, prefix, use_float=True):
            count += 1
            if isinstance(chat, dict):
                yield chat
    except ijson.JSONError as exc:
        yield FileError(
            name, f"after chat {count}", f"malformed JSON ({' '.join(str(exc).split())[:200]})"
        )


def convert(entry: dict[str, Any]) -> ImportedConversation | Skipped:
    """One exported chat as a conversation, or why it is skipped."""
    chat = entry.get("chat") if isinstance(entry.get("chat"), dict) else entry
    source_id = str(entry.get("id") or chat.get("id") or "")
    if not source_id:
        return Skipped("?", "no id")
    nodes = _nodes(chat)
    if not nodes:
        return Skipped(source_id, "no messages")
    created = _time(entry.get("created_at")) or _time(chat.get("timestamp")) or datetime.now(UTC)
    conv = ImportedConversation(
        source_id=source_id,
        title="",
        created_at=created,
        updated_at=_time(entry.get("updated_at")) or created,
        messages=[],
        system_prompt=((chat.get("params") or {}).get("system") or chat.get("system")) or None,
    )
    default_model = next(iter(chat.get("models") or []), None)
    parents = _parents(nodes)
    shown: dict[str, str | None] = {}
    for node_id in _top_down(parents):
        m = nodes[node_id]
        parent = parents[node_id]
        above = shown.get(parent) if parent is not None else None
        role = m.get("role")
        text = _content(m)
        if role not in ("user", "assistant") or not text.strip():
            shown[node_id] = above
            continue
        sid = f"{source_id}/{node_id}"
        conv.messages.append(
            ImportedMessage(
                source_id=sid,
                parent_source_id=above,
                role=role,
                content=text,
                created_at=_time(m.get("timestamp")) or created,
                model=(m.get("model") or default_model) if role == "assistant" else None,
            )
        )
        shown[node_id] = sid
    if not conv.messages:
        return Skipped(source_id, "no messages")
    current = ((chat.get("history") or {}).get("currentId")) or None
    conv.current_source_id = shown.get(current) if isinstance(current, str) else None
    first = next((m.content for m in conv.messages if m.role == "user"), "")
    conv.title = str(chat.get("title") or entry.get("title") or "").strip() or _title(first)
    return conv


def _nodes(chat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """id -> message with `parent` and `children`, from the history tree or the flat list."""
    history = (chat.get("history") or {}).get("messages")
    if isinstance(history, dict) and history:
        return {
            str(k): {**v, "parent": v.get("parentId"), "children": v.get("childrenIds") or []}
            for k, v in history.items()
            if isinstance(v, dict)
        }
    out: dict[str, dict[str, Any]] = {}
    previous = None
    for i, m in enumerate(chat.get("messages") or []):
        if isinstance(m, dict):
            mid = str(m.get("id") or i)
            out[mid] = {**m, "parent": m.get("parentId", previous), "children": []}
            previous = mid
    return out


def _content(m: dict[str, Any]) -> str:
    text = m.get("content")
    if isinstance(text, list):  # OpenAI-style parts
        text = "\n\n".join(p.get("text", "") for p in text if isinstance(p, dict))
    text = text if isinstance(text, str) else ""
    images = [
        f"[Image: {f.get('name') or f.get('id') or 'image'}]"
        for f in m.get("files") or []
        if isinstance(f, dict) and f.get("type") == "image"
    ]
    return "\n\n".join([*images, text]) if images else text


def _time(value: Any) -> datetime | None:
    """Open WebUI writes seconds, milliseconds or nanoseconds depending on the field."""
    if not isinstance(value, int | float) or value <= 0:
        return None
    while value > 1e11:  # beyond year 5138 in seconds: finer units
        value /= 1000
    return datetime.fromtimestamp(float(value), UTC)
