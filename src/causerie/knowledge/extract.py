"""Text extraction from uploaded files, keeping pages (PDF) and headings (HTML, Markdown).

The format is decided from the content, not the name: a file whose name or declared
type says one thing and whose bytes say another is refused rather than guessed at.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from causerie.errors import InvalidRequest

# A DOCX is a zip: refuse archives that would expand far beyond their size (zip bombs).
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100

_EXTENSIONS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
}
_MEDIA_TYPES = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
}
MEDIA_TYPE = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}


class ExtractionError(InvalidRequest):
    """A file that cannot be turned into text, with a reason a person can act on."""

    code = "unreadable_document"

    def __init__(self, message: str, *, code: str | None = None, **figures: str):
        super().__init__(message, code=code)
        # What the UI needs to word the reason in its own language (file name, format).
        self.figures = figures


@dataclass
class Block:
    """A run of text from one page and under one heading."""

    text: str
    page: int | None = None
    section: str | None = None


@dataclass
class Extracted:
    """A document's text as blocks; offsets later refer to `text` (blocks joined)."""

    format: str
    blocks: list[Block] = field(default_factory=list)
    title: str | None = None


def sniff(data: bytes) -> str | None:
    """The format the bytes themselves announce, or None for plain text."""
    head = data[:1024].lstrip()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    lowered = head.lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in lowered[:512]:
        return "html"
    return None


def detect_format(data: bytes, filename: str | None, media_type: str | None) -> str:
    """The format to extract with, refusing files whose label contradicts their content."""
    claimed = _EXTENSIONS.get(PurePosixPath(filename or "").suffix.lower())
    declared = _MEDIA_TYPES.get((media_type or "").split(";")[0].strip().lower())
    label = claimed or declared
    actual = sniff(data)
    if actual == "zip":
        actual = "docx" if label == "docx" else "zip"
    if actual == "zip":
        raise ExtractionError(
            f"'{filename}' is a zip archive, not a supported document.",
            code="unsupported_archive",
            name=str(filename),
        )
    if label in ("pdf", "docx") and actual != label:
        raise ExtractionError(
            f"'{filename}' is labelled {label.upper()} but its content is not a {label.upper()} "
            "file.",
            code="content_mismatch",
            name=str(filename),
            label=label.upper(),
        )
    if actual in ("pdf", "docx"):
        if label not in (None, actual):
            raise ExtractionError(
                f"'{filename}' is labelled {label} but its content is a {actual.upper()} file."
            )
        return actual
    if actual == "html" and label in (None, "text", "html"):
        return "html"
    if label is None and media_type and not media_type.startswith("text/"):
        raise ExtractionError(f"Unsupported document type '{media_type}'.")
    return label or "text"


def extract(data: bytes, filename: str | None = None, media_type: str | None = None) -> Extracted:
    """Extract the text of a document; raises ExtractionError with a clear reason."""
    if not data.strip():
        name = filename or "document"
        raise ExtractionError(f"'{name}' is empty.", code="empty_document", name=name)
    fmt = detect_format(data, filename, media_type)
    out = _EXTRACTORS[fmt](data)
    out.blocks = [b for b in out.blocks if b.text.strip()]
    if not out.blocks:
        name = filename or "document"
        raise ExtractionError(
            f"No text could be extracted from '{name}'.", code="no_text", name=name
        )
    return out


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise ExtractionError("The file looks binary, not text.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _text(data: bytes) -> Extracted:
    return Extracted("text", [Block(_decode(data))])


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _markdown(data: bytes) -> Extracted:
    blocks: list[Block] = []
    section: str | None = None
    lines: list[str] = []
    in_code = False
    title = None
    for line in _decode(data).splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            blocks.append(Block("\n".join(lines), section=section))
            section, lines = match.group(2).strip(), []
            title = title or section
        lines.append(line)
    blocks.append(Block("\n".join(lines), section=section))
    return Extracted("markdown", blocks, title)


def _html(data: bytes) -> Extracted:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    body = soup.body or soup
    blocks: list[Block] = []
    section: str | None = None
    parts: list[str] = []
    for tag in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "dt"]):
        if tag.find_parent(["p", "li", "pre", "td", "dt"]) is not None:
            continue  # nested: its text is already in the outer element
        raw = tag.get_text(" " if tag.name != "pre" else "")
        text = raw.strip("\n") if tag.name == "pre" else " ".join(raw.split())
        if not text.strip():
            continue
        if tag.name.startswith("h"):
            blocks.append(Block("\n".join(parts), section=section))
            section, parts = text, [text]
        else:
            parts.append(text)
    blocks.append(Block("\n".join(parts), section=section))
    if not any(b.text.strip() for b in blocks):
        blocks = [Block(body.get_text("\n", strip=True))]
    return Extracted("html", blocks, title)


def _pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("The PDF is encrypted (password-protected); it cannot be read.")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError(f"The PDF is malformed: {exc}") from None
    return Extracted("pdf", [Block(t, page=i + 1) for i, t in enumerate(pages)], title)


def _check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile:
        raise ExtractionError("The DOCX file is malformed (not a valid zip archive).") from None
    if total > MAX_UNZIPPED_BYTES or total > MAX_ZIP_RATIO * max(len(data), 1):
        raise ExtractionError("The DOCX file expands to too much data to be read safely.")


def _docx(data: bytes) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    _check_zip(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ExtractionError(f"The DOCX file is malformed: {exc}") from None
    blocks: list[Block] = []
    section: str | None = None
    parts: list[str] = []
    for para in document.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        text = para.text.strip()
        if style.startswith("Heading") or style == "Title":
            if text:
                blocks.append(Block("\n".join(parts), section=section))
                section, parts = text, [text]
            continue
        if text:
            parts.append(text)
    blocks.append(Block("\n".join(parts), section=section))
    for table in document.tables:
        rows = [" | ".join(c.text.strip() for c in row.cells) for row in table.rows]
        blocks.append(Block("\n".join(rows), section=section))
    title = document.core_properties.title or None
    return Extracted("docx", blocks, title)


_EXTRACTORS = {
    "pdf": _pdf,
    "docx": _docx,
    "html": _html,
    "markdown": _markdown,
    "text": _text,
}
