"""ChatGPT's data export: conversations.json (old) or conversations-NNN.json shards (2026).

The structure follows its public descriptions (convoviz's unofficial specification,
LibreChat's importer): a conversation is a `mapping` of nodes linked by `parent`
pointers; what the ChatGPT UI hid (system and tool messages, tool calls, reasoning)
is not turned into chat turns. Reasoning (`thoughts`, `reasoning_recap`) is dropped
and counted: the reply it precedes already says what the model concluded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import ijson

from causerie.services.imports.files import ExportSource, first_byte
from causerie.services.imports.model import (
    FileError,
    ImportedConversation,
    ImportedMessage,
    Skipped,
)

TITLE_CHARS = 60
SHARDS = r"conversations(-\d+)?\.json"
# Content types of tool traffic, browsing and reasoning: never shown as turns.
HIDDEN_TYPES = {
    "code",
    "execution_output",
    "tether_browsing_display",
    "tether_quote",
    "sonic_webpage",
    "system_error",
    "computer_output",
}
REASONING_TYPES = {"thoughts", "reasoning_recap"}


def conversation_files(source: ExportSource) -> list[str]:
    """The conversation files: the shards in order, or the single old file."""
    files = source.find(SHARDS)
    shards = [f for f in files if "-" in f.name.rsplit("/", 1)[-1]]
    return [f.name for f in (shards or files)]


def read_entries(
    source: ExportSource, name: str, progress: Any = None
) -> Iterator[dict[str, Any] | FileError]:
    """The entries of one file, streamed; a FileError last if the JSON breaks off."""
    count = 0
    with source.open(name) as f:
        try:
            prefix = "conversations.item" if first_byte(f) == b"{" else "item"
            for entry in ijson.items(f, prefix, use_float=True):
                count += 1
                if progress is not None:
                    progress(_position(f))
                if isinstance(entry, dict):
                    yield entry
        except ijson.JSONError as exc:
            where = f"after entry {count}, near byte {_position(f)}"
            yield FileError(name, where, f"malformed JSON ({_short(exc)})")


def _position(f: IO[bytes]) -> int:
    try:
        return f.tell()
    except (OSError, ValueError):
        return 0


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def convert(entry: dict[str, Any], images: dict[str, str]) -> ImportedConversation | Skipped:
    """One export entry as a conversation of visible messages, or why it is skipped."""
    source_id = str(entry.get("conversation_id") or entry.get("id") or "")
    mapping = entry.get("mapping")
    if not source_id:
        return Skipped("?", "no id")
    if not isinstance(mapping, dict) or not mapping:
        return Skipped(source_id, "no messages (a project or folder entry)")
    default_model = entry.get("default_model_slug")
    created = _time(entry.get("create_time")) or datetime.now(UTC)
    conv = ImportedConversation(
        source_id=source_id,
        title="",
        created_at=created,
        updated_at=_time(entry.get("update_time")) or created,
        messages=[],
        model=default_model,
    )
    parents = _parents(mapping)
    visible_of: dict[str, str | None] = {}  # node -> the visible message it shows as
    last_role: dict[str, str] = {}
    by_id: dict[str, ImportedMessage] = {}
    for node_id in _top_down(parents):
        parent = parents[node_id]
        above = visible_of.get(parent) if parent is not None else None
        msg = _visible(mapping[node_id], conv, images, created, default_model)
        if msg is None:
            visible_of[node_id] = above
            continue
        if msg.role == "assistant" and above is not None and last_role.get(above) == "assistant":
            # One reply the vendor stored in pieces around tool calls: join them.
            prev = by_id[above]
            prev.content = f"{prev.content}\n\n{msg.content}".strip()
            visible_of[node_id] = above
            continue
        msg.source_id = f"{source_id}/{node_id}"
        msg.parent_source_id = above
        conv.messages.append(msg)
        by_id[msg.source_id] = msg
        visible_of[node_id] = msg.source_id
        last_role[msg.source_id] = msg.role
    if not conv.messages:
        return Skipped(source_id, "no visible messages")
    current = entry.get("current_node")
    conv.current_source_id = visible_of.get(current) if isinstance(current, str) else None
    first_question = next((_words(m.content) for m in conv.messages if m.role == "user"), "")
    conv.title = str(entry.get("title") or "").strip() or _title(first_question) or "Imported"
    return conv


def _parents(mapping: dict[str, Any]) -> dict[str, str | None]:
    """Each node's parent, from `parent` pointers, else `children` links; cycles broken."""
    parents: dict[str, str | None] = {}
    for node_id, node in mapping.items():
        parent = node.get("parent") if isinstance(node, dict) else None
        parents[node_id] = parent if parent in mapping and parent != node_id else None
    for node_id, node in mapping.items():
        for child in (node.get("children") or []) if isinstance(node, dict) else []:
            if child in parents and parents[child] is None and child != node_id:
                parents[child] = node_id
    for node_id in parents:  # a parent cycle: the node that closes it becomes a root
        seen = {node_id}
        at = parents[node_id]
        while at is not None:
            if at in seen:
                parents[at] = None
                break
            seen.add(at)
            at = parents[at]
    return parents


def _top_down(parents: dict[str, str | None]) -> list[str]:
    """Nodes with every parent before its children (siblings in export order)."""
    children: dict[str | None, list[str]] = {}
    for node_id, parent in parents.items():
        children.setdefault(parent, []).append(node_id)
    order, stack = [], list(reversed(children.get(None, [])))
    while stack:
        node_id = stack.pop()
        order.append(node_id)
        stack.extend(reversed(children.get(node_id, [])))
    return order


def _role(msg: dict[str, Any]) -> str:
    return str((msg.get("author") or {}).get("role") or "")


def _visible(
    node: Any,
    conv: ImportedConversation,
    images: dict[str, str],
    default_at: datetime,
    default_model: str | None,
) -> ImportedMessage | None:
    """The chat turn a node shows as, or None (noting custom instructions and drops)."""
    msg = node.get("message") if isinstance(node, dict) else None
    if not isinstance(msg, dict):
        return None
    meta = msg.get("metadata") or {}
    content = msg.get("content") or {}
    ctype = content.get("content_type")
    role = _role(msg)
    if meta.get("is_user_system_message") or ctype == "user_editable_context":
        conv.system_prompt = _instructions(content) or conv.system_prompt
        return None
    kind = _hidden_kind(role, ctype, msg, meta)
    if kind is not None:
        conv.dropped[kind] = conv.dropped.get(kind, 0) + 1
        return None
    text = _text(content, images)
    if role == "assistant":
        text += _citations(meta)
    if not text.strip():
        return None
    return ImportedMessage(
        source_id="",
        parent_source_id=None,
        role=role,
        content=text,
        created_at=_time(msg.get("create_time")) or default_at,
        model=(meta.get("model_slug") or default_model) if role == "assistant" else None,
    )


def _hidden_kind(role: str, ctype: Any, msg: dict[str, Any], meta: dict[str, Any]) -> str | None:
    if ctype in REASONING_TYPES:
        return "reasoning"
    if role == "tool" or ctype in HIDDEN_TYPES or msg.get("recipient", "all") != "all":
        return "tool"
    if role not in ("user", "assistant") or meta.get("is_visually_hidden_from_conversation"):
        return "hidden"
    return None


def _instructions(content: dict[str, Any]) -> str:
    parts = [content.get("user_profile"), content.get("user_instructions")]
    parts += [p for p in content.get("parts") or [] if isinstance(p, str)]
    return "\n\n".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def _text(content: dict[str, Any], images: dict[str, str]) -> str:
    out = []
    for part in content.get("parts") or []:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            out.append(_part(part, images))
    if not out and isinstance(content.get("text"), str):
        out.append(content["text"])
    return "\n\n".join(p for p in out if p)


def _part(part: dict[str, Any], images: dict[str, str]) -> str:
    if part.get("content_type") == "image_asset_pointer" or "asset_pointer" in part:
        pointer = str(part.get("asset_pointer") or "")
        file_id = pointer.rsplit("/", 1)[-1]
        name = images.get(file_id) or file_id or "image"
        return f"[Image: {name}]"
    if isinstance(part.get("text"), str):  # audio transcriptions and the like
        return part["text"]
    return ""


def _citations(meta: dict[str, Any]) -> str:
    links = []
    for cite in meta.get("citations") or []:
        info = (cite.get("metadata") or cite) if isinstance(cite, dict) else {}
        url = info.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            title = str(info.get("title") or url).replace("]", ")")
            link = f"- [{title}]({url})"
            if link not in links:
                links.append(link)
    if not links:
        return ""
    return "\n\nSources (imported from ChatGPT, not checked):\n" + "\n".join(links)


def image_names(source: ExportSource) -> dict[str, str]:
    """File id -> file name of the images in the export (`file-XYZ-photo.png`)."""
    out = {}
    for name in source.names:
        base = name.rsplit("/", 1)[-1]
        m = re.match(r"(file[-_][A-Za-z0-9]+)", base)
        if m and not base.endswith(".json"):
            out.setdefault(m.group(1), base)
    return out


def _words(content: str) -> str:
    """A message without its image placeholders: what a title is made of."""
    return re.sub(r"\[Image: [^\]]*\]", " ", content)


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(float(value), UTC)
    return None


def _title(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
