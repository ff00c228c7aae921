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
from causerie.services.conversations import conversation_json, message_json
from causerie.services.imports import causerie_accounts as accounts
from causerie.services.imports import causerie_knowledge as knowledge
from causerie.services.imports.model import FileError, ImportedConversation, ImportedMessage
from causerie.store.db import Database
from causerie.store.models import Conversation, Message

FORMAT = "causerie-export"
VERSION = 2
READABLE = (1, 2)  # version 1 held conversations only
CONVERSATIONS = "conversations.jsonl"
ACCOUNT = "account.json"
USERS = "users.jsonl"


def export_user(db: Database, owner: str, out: Path) -> dict[str, int]:
    """Write owner's data (conversations with every branch, collections, documents, account)
    to a ZIP at out; how many of each were written."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        counts = _write_user(z, db, owner, "")
        z.writestr(ACCOUNT, json.dumps(accounts.account_json(db, owner), indent=2))
        _manifest(z, "user", counts)
    return counts


def export_instance(db: Database, out: Path) -> dict[str, int]:
    """Write every account and all its data to a ZIP at out (an administrator's backup)."""
    totals = {"users": 0}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        users = list(accounts.users(db))  # accounts are few; their data is streamed
        z.writestr(USERS, "".join(json.dumps(user) + "\n" for user in users))
        for user in users:
            for kind, n in _write_user(z, db, user["id"], user_folder(user["id"])).items():
                totals[kind] = totals.get(kind, 0) + n
            totals["users"] += 1
        _manifest(z, "instance", totals)
    return totals


def user_folder(user_id: str) -> str:
    """Where an instance export keeps one user's files (a user export: at the top)."""
    return f"users/{user_id}/"


def _write_user(z: zipfile.ZipFile, db: Database, owner: str, folder: str) -> dict[str, int]:
    counts = {}
    for name, lines in (
        (CONVERSATIONS, _conversation_lines(db, owner)),
        (knowledge.COLLECTIONS, knowledge.collection_lines(db, owner)),
        (knowledge.DOCUMENTS, knowledge.document_lines(db, owner)),
    ):
        n = 0
        with z.open(folder + name, "w") as f:
            for line in lines:
                f.write(line)
                n += 1
        counts[name.removesuffix(".jsonl")] = n
    return counts


def _manifest(z: zipfile.ZipFile, scope: str, counts: dict[str, int]) -> None:
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "scope": scope,  # user | instance
        "exported_at": datetime.now(UTC).isoformat(),
        **counts,
    }
    z.writestr("manifest.json", json.dumps(manifest, indent=2))


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
    exported = []
    for m in msgs:
        d = message_json(m)
        del d["stopped"]  # derived from status and error
        exported.append(d)
    return {**conversation_json(c), "messages": exported}


def open_export(path: Path) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    """The export's ZIP, open, and its manifest; anything else is refused clearly."""
    if not zipfile.is_zipfile(path):
        raise InvalidRequest(f"{path} is not a ZIP file (give a `causerie export` ZIP).")
    z = zipfile.ZipFile(path)
    try:
        manifest = json.loads(z.read("manifest.json"))
    except (KeyError, ValueError):
        z.close()
        raise InvalidRequest(f"{path} has no readable manifest.json.") from None
    if manifest.get("format") != FORMAT or manifest.get("version") not in READABLE:
        z.close()
        raise InvalidRequest(f"{path} is not a Causerie export of version {VERSION} or older.")
    return z, manifest


def read_conversations(
    z: zipfile.ZipFile, folder: str = ""
) -> Iterator[ImportedConversation | FileError]:
    """The conversations of one user of a Causerie export, one line at a time."""
    name = folder + CONVERSATIONS
    with z.open(name) as f:
        for n, line in enumerate(f, 1):
            try:
                yield _imported(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                yield FileError(name, f"line {n}", f"unreadable ({exc})")


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
