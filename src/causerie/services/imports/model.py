"""What every importer produces: conversations as trees of visible messages, vendor-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ImportedMessage:
    source_id: str
    parent_source_id: str | None  # None: a first message
    role: str  # user | assistant
    content: str
    created_at: datetime
    model: str | None = None
    status: str = "complete"
    finish_reason: str | None = None
    error: str | None = None


@dataclass
class ImportedConversation:
    source_id: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[ImportedMessage]  # parents before their children
    current_source_id: str | None = None  # the leaf of the branch the user was on
    model: str | None = None  # the vendor's default, for replies that do not name theirs
    system_prompt: str | None = None
    local_model: str | None = None  # a model of this server (a Causerie export's own)
    temperature: float | None = None
    dropped: dict[str, int] = field(default_factory=dict)  # hidden entries by kind, counted


@dataclass
class Skipped:
    """An export entry that is not a conversation (a project, a folder) or is unusable."""

    source_id: str
    reason: str


@dataclass
class FileError:
    """A file of the export that could not be read to its end; where it stopped."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"
