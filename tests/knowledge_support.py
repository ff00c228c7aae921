"""Helpers for the knowledge tests: document fixtures made on the spot, job polling."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile

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
