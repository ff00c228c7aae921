"""The web mode of `causerie eval answers`: the QA set's documents as a web on 127.0.0.1.

A SearXNG-compatible engine (`GET /search?q=&format=json`) ranks the documents of the
eval's collections with Causerie's own hybrid search and links each to a page of this
server (`/doc/<id>`, the document's text as HTML). The `web` variant then answers through
web search only (no collections): search, fetch, extraction and evidence across pages, as
a user with a search engine gets, the time to first token including all of it.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from causerie.knowledge.tables import Document
from causerie.store.models import LOCAL_USER_ID

RESULTS = 10


class CollectionWeb:
    """The engine and its pages, serving nothing until `serve` names the collections."""

    def __init__(self) -> None:
        self.service: Any = None
        self.collections: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def serve(self, service: Any, collections: Sequence[str]) -> None:
        """Search these collections of the knowledge service from now on."""
        self.service, self.collections = service, list(dict.fromkeys(collections))

    def results(self, query: str) -> list[dict[str, str]]:
        """One result per document, in the order of its best passage."""
        if self.service is None or not query.strip():
            return []
        hits = self.service.search(LOCAL_USER_ID, query, self.collections, k=RESULTS)
        seen: dict[str, dict[str, str]] = {}
        for hit in hits:
            url = f"{self.url}/doc/{hit.document_id}"
            result = {"url": url, "title": hit.document_name, "content": hit.text[:200]}
            seen.setdefault(hit.document_id, result)
        return list(seen.values())

    def page(self, doc_id: str) -> bytes | None:
        """The document's text as an HTML page, None if there is no such document."""
        if self.service is None:
            return None
        with self.service.db.session() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                return None
            paras = "".join(f"<p>{html.escape(p)}</p>" for p in doc.text.split("\n\n"))
            title = html.escape(doc.name)
        return f"<html><head><title>{title}</title></head><body>{paras}</body></html>".encode()

    def __enter__(self) -> CollectionWeb:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(web: CollectionWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/search":
                query = parse_qs(url.query).get("q", [""])[0]
                self._send(200, json.dumps({"results": web.results(query)}).encode(), "json")
            elif url.path.startswith("/doc/") and (page := web.page(url.path[5:])):
                self._send(200, page, "html")
            else:
                self._send(404, b"not found", "plain")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            ctype = {"json": "application/json", "html": "text/html; charset=utf-8"}
            self.send_header("Content-Type", ctype.get(kind, "text/plain"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
