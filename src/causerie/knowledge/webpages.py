"""The web as a source of evidence: search, read the top pages at once, score passages.

The web step has one time budget (web_search.time_budget): the engine gets half of it,
the pages what is left, fetched concurrently with the safe fetcher (every hop's address
checked, size and time bounded). A page still loading at the deadline is given up, so one
slow or broken page never holds the answer back; it is reported as unread with its reason.
A page read is kept for cache_ttl seconds (its passages and their vectors), so asking
again, or a follow-up, costs no fetch and no embedding.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from causerie.errors import CauserieError
from causerie.knowledge.chunking import Chunk, chunk_blocks
from causerie.knowledge.evidence import Ask, Found
from causerie.knowledge.extract import extract
from causerie.knowledge.fetch import Fetcher
from causerie.knowledge.service import Hit
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
    """A page read: its title, passages and their vectors (None until embedded)."""

    url: str
    title: str
    chunks: list[Chunk]
    vectors: np.ndarray | None = None
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
        pages = self._read(results, deadline, report)
        timings["read"] = time.monotonic() - started - timings["search"]
        found = self._score(pages, ask, timings)
        now = time.monotonic()
        report["seconds"] = round(now - started, 3)
        # Where the step's seconds went, for operators and bench/websearch.py.
        report["timings"] = {k: round(v, 3) for k, v in timings.items()}
        return Found(found[0], found[1], report)

    def _read(self, results: list[Result], deadline: float, report: dict) -> list[Page]:
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
                pages[todo[future]] = future.result()
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
        self, pages: list[Page], ask: Ask, timings: dict[str, float]
    ) -> tuple[list, dict[int, str]]:
        """Every passage as a Hit, scored like a document's; the best top_k of them."""
        fresh = [p for p in pages if p.vectors is None]
        timings["fetch_max"] = max((p.fetched for p in fresh), default=0.0)
        timings["extract_sum"] = sum(p.extracted for p in fresh)
        started = time.monotonic()
        texts = [c.text for p in fresh for c in p.chunks]
        if texts:  # one batch for all new pages: much faster than one call per page
            vectors = self.grounder.service.embedder.passages(texts)
            at = 0
            for page in fresh:
                page.vectors, at = vectors[at : at + len(page.chunks)], at + len(page.chunks)
                self.cache.put(page)
        timings["embedded"] = len(texts)
        timings["embed"] = time.monotonic() - started
        hits, vecs, urls = [], {}, {}
        for i, page in enumerate(pages):
            assert page.vectors is not None
            for chunk, vec in zip(page.chunks, page.vectors, strict=True):
                hit = _hit(-(i * IDS_PER_PAGE + chunk.ordinal + 1), page, chunk)
                hits.append(hit)
                vecs[hit.chunk_id] = vec
                urls[hit.chunk_id] = page.url
        scored = self.grounder.relevance(hits, ask.text, ask.vector, vecs)
        scored.sort(key=lambda s: -s[1])
        timings["score"] = time.monotonic() - started - timings["embed"]
        return scored[: self.grounder.config.top_k], urls


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
