"""A fake web for web search tests: a SearXNG-like engine and the pages it points at.

One real HTTP server on 127.0.0.1 answers `GET /search?q=&format=json&language=` as
SearXNG does, and serves the pages its results link to, each holding made-up facts no
model can know. The query picks the engine's misbehaviour (a word in it):
  slowengine    answers after SLOW_ENGINE seconds
  brokenengine  HTTP 500
  garbled       a body that is not JSON
  nothingatall  zero results
  trouble       results that are a PDF, a huge page, a slow page, a redirect to a
                link-local address, besides the good page
Brave's (`/res/v1/web/search`, X-Subscription-Token) and Tavily's (`POST /search`,
bearer key) APIs are answered too, with the good page, when the key is KEY.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.knowledge_support import make_pdf

KEY = "test-key-0123"
SLOW_ENGINE = 30.0
SLOW_PAGE = 30.0
HUGE = 4 * 1024 * 1024  # past the test config's max_page_bytes
FACT = "The Vireltan lighthouse on Osk island was first lit in 1874 by keeper Maribel Quenault."
FACT_FR = "Le phare de Vireltan, sur l'île d'Osk, fut allumé pour la première fois en 1874."
PDF_FACT = "The Osk island ferry to Vireltan harbour carries at most 212 passengers a day."
PAGE = f"""<html><head><title>Vireltan lighthouse</title></head><body>
<nav>Home | News | Contact</nav>
<h1>The Vireltan lighthouse</h1>
<p>{FACT}</p>
<p>Its lamp burned whale oil until 1902, when paraffin replaced it.</p>
<p lang="fr">{FACT_FR}</p>
</body></html>"""


@dataclass
class FakeWeb:
    """The fake engine's URL and what it was asked (queries, languages, page paths, keys)."""

    url: str
    pdf: bytes = b""  # made once: on a loaded machine fpdf takes a while
    searches: list[dict[str, Any]] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def page(self, path: str) -> str:
        return f"{self.url}{path}"


def _results(web: FakeWeb, query: str) -> list[dict[str, str]]:
    good = {"url": web.page("/vireltan"), "title": "Vireltan lighthouse", "content": "1874"}
    if "trouble" not in query:
        return [good]
    return [
        good,
        {"url": web.page("/ferry.pdf"), "title": "Ferry timetable", "content": ""},
        {"url": web.page("/huge"), "title": "Huge page", "content": ""},
        {"url": web.page("/slow"), "title": "Slow page", "content": ""},
        {"url": web.page("/metadata"), "title": "Redirect", "content": ""},
    ]


def _handler(web: FakeWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            args = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/search":
                self._searxng(args)
            elif url.path == "/res/v1/web/search":
                web.searches.append(
                    {**args, "engine": "brave", "key": self.headers.get("X-Subscription-Token")}
                )
                items = [{**r, "description": r["content"]} for r in _results(web, args["q"])]
                self._json({"web": {"results": items}})
            else:
                web.pages.append(url.path)
                self._page(url.path)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            auth = self.headers.get("Authorization", "")
            web.searches.append({"q": body["query"], "engine": "tavily", "key": auth[7:]})
            self._json({"results": _results(web, body["query"])})

        def _json(self, data: Any) -> None:
            self._send(200, json.dumps(data).encode(), "application/json")

        def _searxng(self, args: dict[str, str]) -> None:
            web.searches.append({**args, "engine": "searxng"})
            q = args.get("q", "")
            if args.get("format") != "json":
                self._send(403, b"Forbidden", "text/plain")  # as SearXNG without json
            elif "slowengine" in q:
                time.sleep(SLOW_ENGINE)
                self._json({"results": []})
            elif "brokenengine" in q:
                self._send(500, b"Internal Server Error", "text/plain")
            elif "garbled" in q:
                self._send(200, b"<html>not json", "application/json")
            elif "nothingatall" in q:
                self._json({"query": q, "results": []})
            else:
                self._json({"query": q, "results": _results(web, q)})

        def _page(self, path: str) -> None:
            if path == "/vireltan":
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/ferry.pdf":
                self._send(200, web.pdf, "application/pdf")
            elif path == "/huge":
                self._send(200, b"<p>" + b"word " * (HUGE // 5) + b"</p>", "text/html")
            elif path == "/slow":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                try:
                    for _ in range(int(SLOW_PAGE * 10)):
                        self.wfile.write(b"<p>slow</p>")
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass  # given up by the reader, as it should
            elif path == "/metadata":  # a result that redirects into the cloud's metadata
                self._send(302, b"", "text/plain", Location="http://169.254.169.254/latest/")
            else:
                self._send(404, b"not found", "text/plain")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_web() -> Iterator[FakeWeb]:
    """The fake engine and its pages, while they run."""
    web = FakeWeb("", make_pdf([PDF_FACT]))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(web))
    server.daemon_threads = True
    web.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield web
    finally:
        server.shutdown()
        server.server_close()
