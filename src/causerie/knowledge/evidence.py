"""Sources of evidence for a grounded turn: the user's documents, the web, the next one.

Each source turns the question into scored passages of one kind (`Hit`), so evidence
selection, the prompt and the citation checker (knowledge/grounding.py, citations.py)
treat them alike and number them together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from causerie.knowledge.service import Hit

# A passage, its cosine to the question, and whether it is worth citing.
Scored = tuple[Hit, float, bool]


@dataclass(frozen=True)
class Ask:
    """What every source is asked: the search text, its vector, for whom, in which language."""

    text: str  # the question, with the earlier user turn for a follow-up
    question: str
    vector: np.ndarray
    owner: str
    language: str  # "en" or "fr"


@dataclass
class Found:
    """A source's passages, and what it reports of its own work (the web step's pages)."""

    scored: list[Scored]
    urls: dict[int, str] = field(default_factory=dict)  # passage (chunk id) -> page URL
    report: dict[str, Any] | None = None


class EvidenceSource(Protocol):
    """Something a grounded turn can take evidence from."""

    name: str

    def gather(self, ask: Ask) -> Found:
        """Scored passages for the question (called in a worker thread)."""
        ...
