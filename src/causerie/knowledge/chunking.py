"""Chunks that remember where they came from: document offsets, page and section."""

from __future__ import annotations

import re
from dataclasses import dataclass

from causerie.knowledge.extract import Block

TARGET_WORDS = 120  # small enough to cite precisely, large enough to carry context
MAX_CHARS = 1200
BLOCK_SEPARATOR = "\n\n"

# A sentence ends at . ! ? … (optionally closed by quotes/brackets) before whitespace,
# or at a blank line / line break before a list item or heading-like line.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”»)\]]*\s+|\n\s*\n|\n(?=\s*[-*•\d#])")


@dataclass(frozen=True)
class Chunk:
    """A passage of a document with its anchors (offsets index the document's text)."""

    ordinal: int
    text: str
    start: int
    end: int
    page: int | None
    section: str | None


def join_blocks(blocks: list[Block]) -> tuple[str, list[int]]:
    """The document's full text and the offset where each block starts."""
    offsets, pos = [], 0
    for block in blocks:
        offsets.append(pos)
        pos += len(block.text) + len(BLOCK_SEPARATOR)
    return BLOCK_SEPARATOR.join(b.text for b in blocks), offsets


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text, whitespace trimmed."""
    spans, pos = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    out = []
    for start, end in spans:
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            out.append((start + lead, start + lead + len(stripped)))
    return out


# A full stop after these is not a sentence end ("Susan G. Kleinmann", "a.k.a. bullseye").
_NO_END = re.compile(r"(?:\b[A-Z]|\b[a-z](?:\.[a-z])+|\b(?:cf|vs|Dr|Mr|Mrs|St))\.$")


def whole_sentence_spans(text: str) -> list[tuple[int, int]]:
    """sentence_spans with a sentence cut after an initial or abbreviation rejoined."""
    spans: list[tuple[int, int]] = []
    for s, e in sentence_spans(text):
        if spans and _NO_END.search(text[spans[-1][0] : spans[-1][1]]):
            spans[-1] = (spans[-1][0], e)
        else:
            spans.append((s, e))
    return spans


def _long_pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split a sentence longer than MAX_CHARS at word boundaries."""
    out = []
    while end - start > MAX_CHARS:
        cut = text.rfind(" ", start, start + MAX_CHARS)
        cut = cut if cut > start else start + MAX_CHARS
        out.append((start, cut))
        start = cut + 1
    out.append((start, end))
    return out


def chunk_blocks(blocks: list[Block]) -> tuple[str, list[Chunk]]:
    """The document text and its chunks; a chunk never spans two pages or sections."""
    text, offsets = join_blocks(blocks)
    chunks: list[Chunk] = []
    for block, base in zip(blocks, offsets, strict=True):
        spans = [
            piece for s, e in sentence_spans(block.text) for piece in _long_pieces(block.text, s, e)
        ]
        group: list[tuple[int, int]] = []
        words = 0
        for span in spans:
            n = len(block.text[span[0] : span[1]].split())
            too_long = group and (span[1] - group[0][0] > MAX_CHARS)
            if group and (words + n > TARGET_WORDS or too_long):
                chunks.append(_make(len(chunks), text, base, group, block))
                group, words = [], 0
            group.append(span)
            words += n
        if group:
            chunks.append(_make(len(chunks), text, base, group, block))
    return text, chunks


def _make(ordinal: int, text: str, base: int, group: list[tuple[int, int]], block: Block) -> Chunk:
    start, end = base + group[0][0], base + group[-1][1]
    return Chunk(ordinal, text[start:end], start, end, block.page, block.section)
