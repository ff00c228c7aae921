"""The web as a source of evidence: search, read the top pages at once, score passages.

The web step has one time budget (web_search.time_budget): the engine gets half of it,
the pages what is left, fetched concurrently with the safe fetcher (every hop's address
checked, size and time bounded). A page still loading at the deadline is given up, so one
slow or broken page never holds the answer back; it is reported as unread with its reason.
A page read is kept for cache_ttl seconds (its passages and their vectors), so asking
again, or a follow-up, costs no fetch and no embedding.

Embedding is what the step's time went to (bench/websearch.py): every passage of every page
was embedded at question time, one thread on two cores. Only `embed_passages` of them are
now: each page's passage holding the engine's snippet or most of the question's rare words
(its first one when neither says, as for a French question on English pages), then the
others by the same measure.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from causerie.errors import CauserieError
from causerie.knowledge.chunking import Chunk, chunk_blocks
from causerie.knowledge.evidence import Ask, Found
from causerie.knowledge.extract import extract
from causerie.knowledge.fetch import Fetcher
from causerie.knowledge.service import Hit
from causerie.knowledge.textmatch import coverage, stems
from causerie.knowledge.websearch import Result, SearchEngine
from causerie.settings import WebSearchConfig

if TYPE_CHECKING:
    from causerie.knowledge.grounding import Grounder

log = logging.getLogger(__name__)

WEB = "web"  # the collection id web passages carry
CACHE_PAGES = 512
ENGINE_SHARE = 0.5  # of the time budget, at most, for the search engine itself
IDS_PER_PAGE = 1000  # passage ids are negative: -(page * IDS_PER_PAGE + ordinal + 1)


@dataclass
class Page:
    """A page read: its title, passages, and the vectors of those embedded so far."""

    url: str
    title: str
    chunks: list[Chunk]
    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # by chunk ordinal
    fetched: float = 0.0  # seconds its fetch took, then its extraction and chunking
    extracted: float = 0.0


class PageCache:
    """Pages read recently, by URL, for a while (thread-safe; the oldest go first)."""

    def __init__(self, ttl: float, size: int = CACHE_PAGES):
        self.ttl = ttl
        self.size = size
        self._pages: OrderedDict[str, tuple[float, Page]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> Page | None:
        """The page read from url, if read less than ttl seconds ago."""
        with self._lock:
            entry = self._pages.get(url)
            if entry is None or entry[0] < time.monotonic():
                self._pages.pop(url, None)
                return None
            return entry[1]

    def put(self, page: Page) -> None:
        """Keep a page (nothing when the ttl is 0)."""
        if self.ttl <= 0:
            return
        with self._lock:
            self._pages[page.url] = (time.monotonic() + self.ttl, page)
            self._pages.move_to_end(page.url)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


class WebSearch:
    """Search the web for a question and score the passages of the pages read."""

    name = WEB

    def __init__(
        self,
        engine: SearchEngine,
        grounder: Grounder,
        config: WebSearchConfig,
        allow_private: bool,
    ):
        self.engine = engine
        self.grounder = grounder
        self.config = config
        self.allow_private = allow_private
        self.cache = PageCache(config.cache_ttl)
        self.ssl_context = httpx.create_ssl_context()  # one for every fetch (fetch.py)

    def gather(self, ask: Ask) -> Found:
        """Passages from the top results; the report says which pages were (not) read."""
        started = time.monotonic()
        deadline = started + self.config.time_budget
        report: dict[str, Any] = {
            "engine": self.engine.name,
            "query": ask.text,
            "language": ask.language,
            "read": [],
            "unread": [],
            "error": None,
        }
        timings: dict[str, float] = {}
        try:
            timeout = self.config.time_budget * ENGINE_SHARE
            results = self.engine.search(ask.text, ask.language, self.config.results, timeout)
        except CauserieError as exc:
            log.warning("web search failed: %s", exc.message)
            report["error"] = exc.message
            results = []
        timings["search"] = time.monotonic() - started
        pages = self._read(results, deadline, report, timings)
        timings["read"] = time.monotonic() - started - timings["search"]
        snippets = {r.url: r.snippet for r in results}
        found = self._score(pages, snippets, ask, timings)
        now = time.monotonic()
        report["seconds"] = round(now - started, 3)
        # Where the step's seconds went, for operators and bench/websearch.py.
        report["timings"] = {k: round(v, 3) for k, v in timings.items()}
        return Found(found[0], found[1], report)

    def _read(
        self, results: list[Result], deadline: float, report: dict, timings: dict[str, float]
    ) -> list[Page]:
        """The pages of the results, fetched concurrently until the deadline."""
        pages: dict[int, Page] = {}
        todo: dict[Future[Page], int] = {}
        cancelled = threading.Event()
        pool = ThreadPoolExecutor(max_workers=max(1, len(results)), thread_name_prefix="web")
        for i, result in enumerate(results):
            cached = self.cache.get(result.url)
            if cached is not None:
                pages[i] = cached
            else:
                todo[pool.submit(self._fetch, result, deadline, cancelled)] = i
        done, pending = wait(todo, timeout=max(0.0, deadline - time.monotonic()))
        for future in done:
            result = results[todo[future]]
            try:
                pages[todo[future]] = page = future.result()
                self.cache.put(page)
            except CauserieError as exc:
                report["unread"].append(_unread(result, exc.message))
            except Exception:  # a bug reading one page must not lose the answer
                log.exception("reading %s failed", result.url)
                report["unread"].append(_unread(result, "The page could not be read."))
        cancelled.set()  # pages still loading are given up (their sockets are shut)
        for future in pending:
            budget = self.config.time_budget
            report["unread"].append(
                _unread(results[todo[future]], f"Not read within the {budget:g} s budget.")
            )
        pool.shutdown(wait=False, cancel_futures=True)
        fresh = [pages[todo[f]] for f in done if todo[f] in pages]
        timings["fetch_max"] = max((p.fetched for p in fresh), default=0.0)
        timings["extract_sum"] = sum(p.extracted for p in fresh)
        ordered = [pages[i] for i in sorted(pages)]
        report["read"] = [{"url": p.url, "title": p.title} for p in ordered]
        return ordered

    def _fetch(self, result: Result, deadline: float, cancelled: threading.Event) -> Page:
        """One page: fetched safely within the time left, its main text cut into passages."""
        fetcher = Fetcher(
            max_bytes=self.config.max_page_bytes,
            # Past the deadline: at the deadline the step gives the page up (and cancels it).
            timeout=max(0.1, deadline - time.monotonic()) + 1.0,
            allow_private=self.allow_private,
            ssl_context=self.ssl_context,
        )
        started = time.monotonic()
        data, media_type = fetcher.fetch(result.url, cancelled)
        fetched = time.monotonic()
        extracted = extract(data, media_type=media_type or "text/html")
        _, chunks = chunk_blocks(extracted.blocks)
        title = result.title if result.title != result.url else extracted.title or result.url
        page = Page(result.url, title, chunks[: self.config.page_chunks])
        page.fetched, page.extracted = fetched - started, time.monotonic() - fetched
        return page

    def _score(
        self, pages: list[Page], snippets: dict[str, str], ask: Ask, timings: dict[str, float]
    ) -> tuple[list, dict[int, str]]:
        """The passages worth embedding, scored like a document's; the best top_k of them."""
        started = time.monotonic()
        chosen = candidates(pages, snippets, ask.text, self.config.embed_passages)
        missing = [(page, c) for page, c in chosen if c.ordinal not in page.vectors]
        if missing:  # one batch for all pages: much faster than one call per page
            vectors = self.grounder.service.embedder.passages([c.text for _, c in missing])
            for (page, chunk), vector in zip(missing, vectors, strict=True):
                page.vectors[chunk.ordinal] = vector  # kept with the page in the cache
        timings["embedded"] = len(missing)
        timings["embed"] = time.monotonic() - started
        hits, vecs, urls = [], {}, {}
        rank = {id(page): i for i, page in enumerate(pages)}
        for page, chunk in chosen:
            hit = _hit(-(rank[id(page)] * IDS_PER_PAGE + chunk.ordinal + 1), page, chunk)
            hits.append(hit)
            vecs[hit.chunk_id] = page.vectors[chunk.ordinal]
            urls[hit.chunk_id] = page.url
        scored = self.grounder.relevance(hits, ask.text, ask.vector, vecs)
        scored.sort(key=lambda s: -s[1])
        timings["score"] = time.monotonic() - started - timings["embed"]
        return scored[: self.grounder.config.top_k], urls


def candidates(
    pages: list[Page], snippets: dict[str, str], question: str, limit: int
) -> list[tuple[Page, Chunk]]:
    """The passages to embed: each page's best by the engine's snippet and the question's
    words, then the other passages by the same measure.

    The snippet is the engine's own excerpt for the query, so the passage that holds it is
    where the engine found the match, in any language. The question's words are weighted
    by their rarity among the passages read (BM25's IDF): a name or a file path counts
    more than a word every page has. With neither, a page's passages keep their order.
    """
    q_words = stems(question)
    texts = [[stems(c.text) for c in page.chunks] for page in pages]
    total = sum(len(t) for t in texts)
    df = Counter(w for page_texts in texts for t in page_texts for w in q_words & t)
    idf = {w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in df.items()}
    most = sum(idf.values()) or 1.0
    ranked = []
    for i, page in enumerate(pages):
        snippet = stems(snippets.get(page.url, ""))
        scores = [coverage(snippet, t) + sum(idf[w] for w in q_words & t) / most for t in texts[i]]
        order = sorted(range(len(page.chunks)), key=lambda j: (-scores[j], j))
        for place, j in enumerate(order):
            # Every page's best first (the engine found it relevant), then by score.
            ranked.append(((place > 0, -scores[j], place, i), page, page.chunks[j]))
    ranked.sort(key=lambda r: r[0])
    return [(page, chunk) for _, page, chunk in ranked[:limit]]


def _hit(chunk_id: int, page: Page, chunk: Chunk) -> Hit:
    return Hit(
        chunk_id=chunk_id,
        document_id=page.url,
        document_name=page.title,
        collection_id=WEB,
        text=chunk.text,
        page=None,
        section=chunk.section,
        start=chunk.start,
        end=chunk.end,
        score=0.0,
        text_rank=None,
        vector_rank=None,
        cosine=None,
    )


def _unread(result: Result, reason: str) -> dict[str, str]:
    return {"url": result.url, "title": result.title, "reason": reason}
