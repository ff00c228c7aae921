"""Main-text extraction of web pages: knowledge/extract.py against trafilatura.

Pages: the Debian FAQ's HTML chapters (package debian-faq, English), real pages with a
navigation header and footer around the text. For each extractor: seconds per page, words
kept, the share of the FAQ's question headings and of its paragraphs (8+ words) found
(the text that must be kept) and of
navigation words kept (the boilerplate that should go). Run:
    python -m bench.extraction [--dir /usr/share/doc/debian/FAQ]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from bs4 import BeautifulSoup

from causerie.knowledge.extract import extract

NAV = re.compile(r"\b(Next|Previous|Contents|Up)\b")


def ours(html: bytes) -> str:
    return "\n".join(b.text for b in extract(html, media_type="text/html").blocks)


def trafilatura_text(html: bytes) -> str:
    import trafilatura

    return trafilatura.extract(html.decode("utf-8", "replace"), include_comments=False) or ""


def texts(html: bytes, tags: list[str]) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    return [" ".join(h.get_text(" ").split()) for h in soup.find_all(tags)]


def kept(pieces: list[str], flat: str) -> int:
    """Pieces whose opening words (past a heading's number) are in the extracted text."""
    return sum(1 for p in pieces if p and p.split(" ", 1)[-1][:40] in flat)


def run(directory: Path) -> dict:
    pages = sorted(directory.glob("*.en.html"))
    out = {}
    for name, fn in (("extract.py", ours), ("trafilatura", trafilatura_text)):
        seconds = words = found = total = nav = paras = paras_found = 0.0
        for path in pages:
            html = path.read_bytes()
            start = time.perf_counter()
            text = fn(html)
            seconds += time.perf_counter() - start
            flat = " ".join(text.split())
            words += len(flat.split())
            heads = texts(html, ["h2", "h3"])
            total += len(heads)
            found += kept(heads, flat)
            body = [p for p in texts(html, ["p"]) if len(p.split()) >= 8]
            paras += len(body)
            paras_found += kept(body, flat)
            nav += len(NAV.findall(flat))
        out[name] = {
            "pages": len(pages),
            "ms_per_page": round(1000 * seconds / max(1, len(pages)), 1),
            "words": int(words),
            "headings_kept": round(found / max(1, total), 3),
            "paragraphs_kept": round(paras_found / max(1, paras), 3),
            "nav_words": int(nav),
        }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=Path("/usr/share/doc/debian/FAQ"))
    print(json.dumps(run(parser.parse_args().dir), indent=2))
