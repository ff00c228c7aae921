"""Importing other products' exports into the conversation store."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from causerie.errors import InvalidRequest
from causerie.knowledge.service import Cancelled, KnowledgeService
from causerie.services.imports import causerie_accounts, causerie_format, chatgpt, openwebui
from causerie.services.imports.causerie_knowledge import COLLECTIONS, DOCUMENTS, KnowledgeRestore
from causerie.services.imports.files import open_source
from causerie.services.imports.model import FileError, ImportedConversation, Skipped
from causerie.services.imports.writer import Pending, write
from causerie.store.db import Database

BATCH = 200  # conversations per transaction: few commits, bounded memory

# progress(bytes read so far, total bytes)
Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]  # true once the import should stop


@dataclass
class Summary:
    conversations_added: int = 0
    conversations_updated: int = 0
    unchanged: int = 0
    messages_added: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    not_shown: dict[str, int] = field(default_factory=dict)  # hidden entries by kind
    errors: list[str] = field(default_factory=list)
    restored: dict[str, int] = field(default_factory=dict)  # users, collections, documents

    def count(self, counts: dict[str, int]) -> None:
        for kind, n in counts.items():
            self.restored[kind] = self.restored.get(kind, 0) + n

    def as_dict(self) -> dict:
        return {
            "conversations_added": self.conversations_added,
            "conversations_updated": self.conversations_updated,
            "unchanged": self.unchanged,
            "messages_added": self.messages_added,
            "skipped": self.skipped,
            "not_shown": self.not_shown,
            "errors": self.errors,
            "restored": self.restored,
        }


class ImportService:
    """Imports exports for one owner; idempotent through the source ids it records."""

    def __init__(self, db: Database, knowledge: KnowledgeService):
        self.db = db
        self.knowledge = knowledge  # where an export's collections and documents go

    def import_chatgpt(
        self,
        path: Path,
        owner: str,
        progress: Progress | None = None,
        cancelled: Cancel | None = None,
    ) -> Summary:
        """A ChatGPT export (ZIP or folder, old or sharded layout) into owner's conversations."""
        source = open_source(path)
        summary = Summary()
        try:
            files = chatgpt.conversation_files(source)
            if not files:
                summary.errors.append(f"{path}: no conversations.json or conversations-NNN.json")
                return summary
            images = chatgpt.image_names(source)
            total = sum(source.names[f] for f in files)
            done = 0
            for name in files:
                tick = (lambda at, base=done: progress(base + at, total)) if progress else None
                entries = chatgpt.read_entries(source, name, tick)
                convs = (
                    e if isinstance(e, FileError) else chatgpt.convert(e, images) for e in entries
                )
                self._stream(convs, owner, "chatgpt", summary, cancelled)
                done += source.names[name]
                if progress:
                    progress(done, total)
        finally:
            source.close()
        return summary

    def import_openwebui(self, path: Path, owner: str, cancelled: Cancel | None = None) -> Summary:
        """An Open WebUI chat export (JSON: all chats, or one) into owner's conversations."""
        if not path.is_file():
            raise InvalidRequest(f"No such file: {path}.")
        summary = Summary()
        with path.open("rb") as f:
            chats = openwebui.read_chats(f, path.name)
            convs = (c if isinstance(c, FileError) else openwebui.convert(c) for c in chats)
            self._stream(convs, owner, "openwebui", summary, cancelled)
        return summary

    def import_causerie(self, path: Path, owner: str, cancelled: Cancel | None = None) -> Summary:
        """A `causerie export` ZIP into owner's data (again: only what is new)."""
        z, manifest = causerie_format.open_export(path)
        with z:
            if manifest.get("scope") == "instance":
                raise InvalidRequest(
                    f"{path} is a whole-instance export: an administrator restores it "
                    "(`causerie import causerie --instance`)."
                )
            return self._restore_user(z, "", owner, Summary(), cancelled)

    def import_instance(self, path: Path, cancelled: Cancel | None = None) -> Summary:
        """An instance export: every account (created if missing by name) and its data."""
        z, manifest = causerie_format.open_export(path)
        summary = Summary()
        with z:
            if manifest.get("scope") != "instance":
                raise InvalidRequest(f"{path} is one user's export, not a whole instance's.")
            with z.open(causerie_format.USERS) as f:
                for line in f:  # an account's data after it: few accounts, read one by one
                    user = json.loads(line)
                    uid, created = causerie_accounts.restore_user(self.db, user)
                    summary.count({"users": int(created)})
                    folder = causerie_format.user_folder(user["id"])
                    self._restore_user(z, folder, uid, summary, cancelled)
        return summary

    def _restore_user(
        self,
        z: zipfile.ZipFile,
        folder: str,
        owner: str,
        summary: Summary,
        cancelled: Cancel | None,
    ) -> Summary:
        convs = causerie_format.read_conversations(z, folder)
        self._stream(convs, owner, "causerie", summary, cancelled)
        restore = KnowledgeRestore(self.knowledge, owner)
        names = set(z.namelist())
        for name, step in (
            (COLLECTIONS, restore.restore_collections),
            (DOCUMENTS, restore.restore_documents),
        ):
            if folder + name in names:  # a version 1 export has no knowledge files
                with z.open(folder + name) as f:
                    summary.errors.extend(str(e) for e in step(f))
        summary.count(restore.added)
        summary.count({"documents already there": restore.unchanged})
        return summary

    def _stream(
        self,
        convs: Iterable[ImportedConversation | Skipped | FileError],
        owner: str,
        source: str,
        summary: Summary,
        cancelled: Cancel | None = None,
    ) -> None:
        batch: list[ImportedConversation] = []
        for conv in convs:
            if cancelled is not None and cancelled():
                # Between transactions: what was written stays, and a re-import adds the rest.
                raise Cancelled
            if isinstance(conv, FileError):
                summary.errors.append(str(conv))
                continue
            if isinstance(conv, Skipped):
                summary.skipped[conv.reason] = summary.skipped.get(conv.reason, 0) + 1
                continue
            batch.append(conv)
            if len(batch) >= BATCH:
                self._write(batch, owner, source, summary)
                batch = []
        self._write(batch, owner, source, summary)

    def _write(
        self, batch: list[ImportedConversation], owner: str, source: str, summary: Summary
    ) -> None:
        if not batch:
            return
        with self.db.session() as s:
            pending = Pending()
            for conv in batch:
                created, added = write(s, owner, source, conv, pending)
                summary.messages_added += added
                if created:
                    summary.conversations_added += 1
                elif added:
                    summary.conversations_updated += 1
                else:
                    summary.unchanged += 1
                if created or added:
                    for kind, n in conv.dropped.items():
                        summary.not_shown[kind] = summary.not_shown.get(kind, 0) + n
            pending.flush(s)
