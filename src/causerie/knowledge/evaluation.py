"""Retrieval evaluation on Debian's FAQ, in English and French (packages debian-faq, -fr).

Each numbered question heading is a query; the text of its section (without the
heading) is the one relevant passage. Both languages number their questions alike,
so French questions can be asked of the English FAQ (cross-lingual).
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causerie.errors import CauserieError
from causerie.knowledge.embeddings import make_embedder
from causerie.knowledge.extract import Block, Extracted
from causerie.knowledge.service import KnowledgeService
from causerie.settings import KnowledgeConfig
from causerie.store.db import Database, make_engine
from causerie.store.models import LOCAL_USER_ID

FAQ_DIR = Path("/usr/share/doc/debian/FAQ")
FAQ_FILES = {"en": ("*.en.html", FAQ_DIR), "fr": ("*.fr.html", FAQ_DIR / "fr")}
PAIRS = (("en", "en"), ("fr", "fr"), ("fr", "en"))
MODES = ("text", "vector", "hybrid")
_NUMBERED = re.compile(r"^\s*(\d+(?:\.\d+)+)\.?\s+(.+)$", re.S)


class MissingData(CauserieError):
    """The FAQ packages are not installed."""


@dataclass(frozen=True)
class Question:
    """One FAQ entry: its number, its heading (the query) and its section (the answer)."""

    number: str
    question: str
    body: str


@dataclass
class Scores:
    """Recall@5 and nDCG@10 of one mode on one language pair."""

    recall_at_5: float
    ndcg_at_10: float
    queries: int
    ms_per_query: float


@dataclass
class Report:
    """Every score of a run, by embedder, pair ('fr->en') and mode."""

    scores: dict[str, dict[str, dict[str, Scores]]] = field(default_factory=dict)
    index_seconds: dict[str, float] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "index_seconds": self.index_seconds,
            "chunks": self.chunks,
            "scores": {
                emb: {pair: {m: vars(s) for m, s in modes.items()} for pair, modes in pairs.items()}
                for emb, pairs in self.scores.items()
            },
        }


def load_faq(lang: str, root: Path | None = None) -> list[Question]:
    """The numbered questions of the installed FAQ in one language."""
    from bs4 import BeautifulSoup

    pattern, default_dir = FAQ_FILES[lang]
    directory = root / ("fr" if lang == "fr" else "") if root else default_dir
    files = sorted(directory.glob(pattern))
    if not files:
        raise MissingData(
            f"The Debian FAQ ({lang}) is not installed: apt-get install debian-faq debian-faq-fr"
        )
    out = []
    for path in files:
        soup = BeautifulSoup(path.read_bytes(), "html.parser")
        for section in soup.select("div.section"):
            title = section.find(["h2", "h3", "h4"], class_="title")
            match = _NUMBERED.match(title.get_text(" ", strip=True)) if title else None
            if match is None:
                continue
            for part in section.select("div.titlepage, div.section"):
                part.decompose()
            body = "\n".join(
                " ".join(t.get_text(" ").split())
                for t in section.find_all(["p", "pre", "li", "dt"])
            ).strip()
            if body:
                out.append(Question(match.group(1), " ".join(match.group(2).split()), body))
    return out


def _metrics(ranked: list[str], gold: str) -> tuple[float, float]:
    if gold not in ranked:
        return 0.0, 0.0
    rank = ranked.index(gold) + 1
    return float(rank <= 5), (1 / math.log2(rank + 1)) if rank <= 10 else 0.0


def evaluate(
    embedders: list[str],
    limit: int | None = None,
    say: Callable[[str], None] = lambda _: None,
    root: Path | None = None,
    database_url: str | None = None,
) -> Report:
    """Index both FAQs with each embedder and score every mode on every pair.

    In a temporary SQLite database, or in database_url (an empty one, e.g. PostgreSQL).
    """
    faq = {lang: load_faq(lang, root) for lang in ("en", "fr")}
    numbers = {q.number for q in faq["en"]} & {q.number for q in faq["fr"]}
    if limit:
        numbers = set(sorted(numbers, key=_number_key)[:limit])
    faq = {lang: [q for q in qs if q.number in numbers] for lang, qs in faq.items()}
    report = Report()
    for name in embedders:
        with tempfile.TemporaryDirectory(prefix="causerie-eval-") as tmp:
            db = Database(make_engine(database_url or f"sqlite:///{Path(tmp) / 'eval.db'}"))
            db.prepare()
            try:
                threads = KnowledgeConfig().embed_threads  # as the server runs it
                embedder = make_embedder(name, threads)  # type: ignore[arg-type]
                service = KnowledgeService(db, embedder)
                report.scores[name] = _run(service, faq, name, report, say)
            finally:
                db.engine.dispose()
    return report


def _run(
    service: KnowledgeService,
    faq: dict[str, list[Question]],
    name: str,
    report: Report,
    say: Callable[[str], None],
) -> dict[str, dict[str, Scores]]:
    collections = {}
    started = time.perf_counter()
    chunks = 0
    for lang, questions in faq.items():
        say(f"{name}: indexing {len(questions)} {lang} answers")
        col = service.create_collection(LOCAL_USER_ID, f"faq-{lang}-{name}")["id"]
        collections[lang] = col
        for q in questions:
            doc = Extracted("text", [Block(q.body)])
            service.index(
                LOCAL_USER_ID, col, name=q.number, source=q.number, sha256=q.number,
                size=len(q.body), extracted=doc,
            )  # fmt: skip
        chunks += sum(d["chunk_count"] for d in service.list_documents(LOCAL_USER_ID, col)["data"])
    report.index_seconds[name] = round(time.perf_counter() - started, 2)
    report.chunks[name] = chunks
    out: dict[str, dict[str, Scores]] = {}
    for q_lang, d_lang in PAIRS:
        questions = faq[q_lang]
        vectors = service.embed([q.question for q in questions], as_query=True)
        pair: dict[str, Scores] = {}
        for mode in MODES:
            recall = ndcg = 0.0
            started = time.perf_counter()
            for q, vec in zip(questions, vectors, strict=True):
                hits = service.search(
                    LOCAL_USER_ID, q.question, [collections[d_lang]], k=30, mode=mode,
                    query_vector=vec,
                )  # fmt: skip
                ranked = list(dict.fromkeys(h.document_name for h in hits))
                r, n = _metrics(ranked, q.number)
                recall, ndcg = recall + r, ndcg + n
            elapsed = (time.perf_counter() - started) * 1000 / max(len(questions), 1)
            count = max(len(questions), 1)
            pair[mode] = Scores(
                round(recall / count, 4), round(ndcg / count, 4), len(questions), round(elapsed, 2)
            )
        out[f"{q_lang}->{d_lang}"] = pair
        say(f"{name}: {q_lang}->{d_lang} done")
    return out


def _number_key(number: str) -> tuple[int, ...]:
    return tuple(int(p) for p in number.split("."))


def format_report(report: Report) -> str:
    """A plain-text table: one line per embedder, pair and mode, then the verdicts."""
    lines = [f"{'embedder':<8} {'pair':<7} {'mode':<7} {'recall@5':>9} {'nDCG@10':>8} {'ms/q':>7}"]
    for emb, pairs in report.scores.items():
        for pair, modes in pairs.items():
            for mode, s in modes.items():
                lines.append(
                    f"{emb:<8} {pair:<7} {mode:<7} {s.recall_at_5:>9.3f} {s.ndcg_at_10:>8.3f} "
                    f"{s.ms_per_query:>7.1f}"
                )
        lines.append(
            f"{emb}: indexed {report.chunks[emb]} chunks in {report.index_seconds[emb]} s "
            f"({report.chunks[emb] / max(report.index_seconds[emb], 1e-9):.1f} chunks/s)"
        )
        for pair in ("en->en", "fr->fr"):
            gain = pairs[pair]["hybrid"].ndcg_at_10 - pairs[pair]["text"].ndcg_at_10
            lines.append(
                f"{emb}: {pair} hybrid - full-text nDCG@10 = {gain:+.3f} (target >= +0.05)"
            )
        lines.append(
            f"{emb}: fr->en hybrid recall@5 = {pairs['fr->en']['hybrid'].recall_at_5:.3f} "
            "(target >= 0.6)"
        )
    return "\n".join(lines)
