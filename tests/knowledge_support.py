"""Helpers for the knowledge tests: document fixtures made on the spot, job polling."""

from __future__ import annotations

import asyncio
import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

import httpx

K = "/api/knowledge"


def make_pdf(pages: list[str]) -> bytes:
    """A real PDF with one page per string (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, password: str = "secret") -> bytes:
    """The same PDF, password-protected (pypdf)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(sections: list[tuple[str, list[str]]]) -> bytes:
    """A real DOCX: each (heading, paragraphs) pair under a Heading 1 (python-docx)."""
    import docx

    document = docx.Document()
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for para in paragraphs:
            document.add_paragraph(para)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb_docx() -> bytes:
    """A zip named like a DOCX whose one member expands a thousandfold."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"\0" * (20 * 1024 * 1024))
    return out.getvalue()


async def create_collection(client: httpx.AsyncClient, name: str) -> str:
    r = await client.post(f"{K}/collections", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def upload(
    client: httpx.AsyncClient, collection: str, name: str, data: bytes, media_type: str
) -> dict:
    r = await client.post(
        f"{K}/collections/{collection}/documents", files={"file": (name, data, media_type)}
    )
    assert r.status_code == 202, r.text
    return r.json()["data"][0]


async def wait_job(client: httpx.AsyncClient, job_id: str, timeout: float = 120) -> dict:
    """Poll a job until it has a final status; returns it and every progress seen."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        job = (await client.get(f"{K}/jobs/{job_id}")).json()
        seen.append(job["progress"]["done"])
        if job["status"] not in ("queued", "running"):
            job["seen"] = seen
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']}")
        await asyncio.sleep(0.05)


async def ingest(
    client: httpx.AsyncClient, collection: str, name: str, data: bytes, media_type: str
) -> dict:
    """Upload and wait for the job to finish."""
    job = await upload(client, collection, name, data, media_type)
    return await wait_job(client, job["id"])


async def search(
    client: httpx.AsyncClient, collection: str, query: str, mode: str = "hybrid", k: int = 5
) -> list[dict]:
    r = await client.post(
        f"{K}/search", json={"query": query, "collections": [collection], "mode": mode, "k": k}
    )
    assert r.status_code == 200, r.text
    return r.json()["data"]


# A route of a test web site: (status, headers, body), or a function writing the response.
Route = tuple[int, dict[str, str], bytes] | Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def web_site(routes: dict[str, Route]) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A real web site on 127.0.0.1 (404 off its routes); yields its URL and the requests seen."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append({"path": self.path, "host": self.headers.get("Host", "")})
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
            elif callable(route):
                route(self)
            else:
                status, headers, body = route
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def drip(pause: float, total: int) -> Callable[[BaseHTTPRequestHandler], None]:
    """A route sending total bytes one at a time, pause seconds apart (a slow server)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(total))
        handler.end_headers()
        out: BinaryIO = handler.wfile  # type: ignore[assignment]
        try:
            for _ in range(total):
                out.write(b"x")
                out.flush()
                time.sleep(pause)
        except OSError:
            pass  # the client gave up, as it should

    return route


def flood(size: int) -> Callable[[BaseHTTPRequestHandler], None]:
    """A route sending size bytes of text without declaring a length."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            for _ in range(size // 65536 + 1):
                handler.wfile.write(b"word " * 13108)
        except OSError:
            pass
        handler.close_connection = True

    return route


# Every chunk's distinct terms, as the full-text index holds them: what knowledge_terms
# (migrations 0022 and 0023) must count, per collection.
_RECOUNT = {
    "sqlite": "SELECT c.collection_id, i.term, count(DISTINCT i.doc) "
    "FROM knowledge_fts_instance i JOIN knowledge_chunks c ON c.id = i.doc GROUP BY 1, 2",
    "postgresql": "SELECT c.collection_id, u.lexeme, count(*) FROM knowledge_chunks c, "
    "unnest(c.search_vector) AS u GROUP BY 1, 2",
}


def term_counts(url: str) -> tuple[dict, dict]:
    """(knowledge_terms, the same counted again from the full-text index) of a database."""
    from sqlalchemy import text

    from causerie.store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT collection_id, term, chunks FROM knowledge_terms"))
            recount = conn.execute(text(_RECOUNT[engine.dialect.name]))
            return {(c, t): n for c, t, n in stored}, {(c, t): n for c, t, n in recount}
    finally:
        engine.dispose()
