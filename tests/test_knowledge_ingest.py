"""Collections and ingestion through HTTP: every format, progress, cancel, dedupe, bad files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from causerie.settings import KnowledgeConfig
from tests.knowledge_support import (
    K,
    create_collection,
    encrypt_pdf,
    ingest,
    make_docx,
    make_pdf,
    search,
    upload,
    wait_job,
    web_site,
    zip_bomb_docx,
)
from tests.pg_support import DATABASES, empty_database
from tests.support import app_client, smol_settings

MAX_BYTES = 300_000

PDF_PAGES = [
    "Causerie keeps conversations in SQLite. The database file lives in the data directory.",
    "The lighthouse of Ar-Men stands on a rock off the island of Sein. Its keepers were "
    "relieved by boat when the sea allowed it.",
]
HTML = b"""<!doctype html><html><head><title>Cheese guide</title></head><body>
<nav>Home | About</nav>
<h1>Cheeses of France</h1><p>France makes hundreds of cheeses.</p>
<h2>Comte</h2><p>Comte is a hard cheese from the Jura mountains, aged for months.</p>
<h2>Roquefort</h2><p>Roquefort ripens in the natural caves of Combalou, where a blue mould
grows through the curd.</p><script>var ignored = "caves of javascript";</script>
</body></html>"""
MARKDOWN = b"""# Gardening notes

Some general remarks about the garden.

## Tomatoes

Tomatoes need a sunny wall and regular watering; pinch out the side shoots.

## Compost

A compost heap wants a mix of green and brown material, turned every few weeks.
"""


@pytest.fixture(scope="module", params=DATABASES)
async def kc(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    data = tmp_path_factory.mktemp("knowledge")
    settings = smol_settings(
        data,
        knowledge=KnowledgeConfig(max_document_bytes=MAX_BYTES, allow_private_urls=True),
        database_url=empty_database(request, request.param, data),
    )
    async with app_client(settings, timeout=120) as client:
        yield client


async def _passage(client: httpx.AsyncClient, hit: dict) -> str:
    r = await client.get(
        f"{K}/documents/{hit['document_id']}/passage",
        params={"start": hit["start"], "end": hit["end"]},
    )
    assert r.status_code == 200, r.text
    return r.json()["text"]


async def test_every_format_is_indexed_with_its_anchors(kc: httpx.AsyncClient) -> None:
    col = await create_collection(kc, "formats")
    docx = make_docx(
        [
            ("Introduction", ["This report covers the year."]),
            ("Bicycle repairs", ["A loose chain is tightened by moving the rear wheel back."]),
        ]
    )
    files = [
        ("manual.pdf", make_pdf(PDF_PAGES), "application/pdf"),
        ("report.docx", docx, "application/octet-stream"),
        ("cheese.html", HTML, "text/html"),
        ("garden.md", MARKDOWN, "text/markdown"),
        ("note.txt", "Le marché de Rennes ouvre le samedi matin, place des Lices.".encode(), ""),
    ]
    for name, data, media_type in files:
        job = await ingest(kc, col, name, data, media_type)
        assert job["status"] == "succeeded", job
        assert job["result"] == "indexed"
        assert job["progress"]["done"] == job["progress"]["total"] > 0
    docs = (await kc.get(f"{K}/collections/{col}/documents")).json()["data"]
    assert sorted(d["format"] for d in docs) == ["docx", "html", "markdown", "pdf", "text"]

    cases = [
        ("Who relieved the lighthouse keepers?", "manual.pdf", "keepers were", {"page": 2}),
        ("fix a loose bicycle chain", "report.docx", "rear wheel", {"section": "Bicycle repairs"}),
        ("Where does Roquefort ripen?", "cheese.html", "Combalou", {"section": "Roquefort"}),
        ("watering tomatoes", "garden.md", "sunny wall", {"section": "Tomatoes"}),
        ("marche samedi", "note.txt", "place des Lices", {}),  # accents ignored
    ]
    for query, doc, phrase, anchors in cases:
        hits = await search(kc, col, query)
        top = hits[0]
        assert top["document"] == doc, (query, hits)
        for key, value in anchors.items():
            assert top[key] == value, (query, top)
        assert phrase in await _passage(kc, top)
    hits = await search(kc, col, "javascript", mode="text")
    assert hits == []  # scripts are not text
    hits = await search(kc, col, "Home About", mode="text")
    assert all(h["document"] != "cheese.html" for h in hits)  # navigation is not text


async def test_duplicates_reindexing_and_deletion(kc: httpx.AsyncClient) -> None:
    col = await create_collection(kc, "versions")
    first = await ingest(kc, col, "policy.txt", b"Holidays must be requested two weeks ahead.", "")
    again = await ingest(kc, col, "copy.txt", b"Holidays must be requested two weeks ahead.", "")
    assert again["result"] == "duplicate"
    assert again["document_id"] == first["document_id"]
    assert len((await kc.get(f"{K}/collections/{col}/documents")).json()["data"]) == 1

    changed = await ingest(kc, col, "policy.txt", b"Expenses are refunded within a month.", "")
    assert changed["result"] == "reindexed"
    docs = (await kc.get(f"{K}/collections/{col}/documents")).json()["data"]
    assert [d["id"] for d in docs] == [changed["document_id"]]
    assert await search(kc, col, "holidays requested", mode="text") == []
    assert (await search(kc, col, "expenses refunded", mode="text"))[0]["document"] == "policy.txt"

    r = await kc.delete(f"{K}/documents/{changed['document_id']}")
    assert r.status_code == 204
    for mode in ("text", "vector", "hybrid"):
        assert await search(kc, col, "expenses refunded", mode=mode) == []
    r = await kc.get(f"{K}/documents/{changed['document_id']}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


async def test_progress_and_cancel(kc: httpx.AsyncClient) -> None:
    col = await create_collection(kc, "long")
    paragraphs = [
        f"Paragraph {i} tells about the harbour number {i}, its boats and its fishermen. " * 6
        for i in range(250)
    ]
    job = await upload(kc, col, "long.txt", "\n\n".join(paragraphs).encode(), "text/plain")
    assert job["status"] == "queued"
    while True:  # wait for real progress before cancelling
        current = (await kc.get(f"{K}/jobs/{job['id']}")).json()
        if current["progress"]["done"] > 0 or current["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.02)
    assert current["status"] == "running", current
    assert 0 < current["progress"]["done"] < current["progress"]["total"]
    r = await kc.post(f"{K}/jobs/{job['id']}/cancel")
    assert r.status_code == 200
    final = await wait_job(kc, job["id"])
    assert final["status"] == "cancelled"
    assert final["document_id"] is None
    assert (await kc.get(f"{K}/collections/{col}/documents")).json()["data"] == []
    assert await search(kc, col, "harbour fishermen", mode="text") == []
    # The worker is free again afterwards.
    ok = await ingest(kc, col, "short.txt", b"A short note about the harbour.", "text/plain")
    assert ok["status"] == "succeeded"


@pytest.mark.parametrize(
    ("name", "make", "media_type", "message"),
    [
        ("broken.pdf", lambda: b"%PDF-1.7\nnot really a pdf", "application/pdf", "malformed"),
        ("secret.pdf", lambda: encrypt_pdf(make_pdf(["hidden"])), "application/pdf", "encrypted"),
        ("blank.txt", lambda: b"   \n\n  ", "text/plain", "empty"),
        ("image.pdf", lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "application/pdf", "not a PDF"),
        ("letter.docx", lambda: make_pdf(["a pdf in disguise"]), "", "not a DOCX"),
        ("bomb.docx", zip_bomb_docx, "", "expands"),
        ("archive.txt", lambda: zip_bomb_docx(), "text/plain", "zip archive"),
        ("blank.pdf", lambda: make_pdf([""]), "application/pdf", "No text"),
    ],
)  # fmt: skip
async def test_bad_files_fail_clearly(
    kc: httpx.AsyncClient, name: str, make, media_type: str, message: str
) -> None:
    col = (await kc.get(f"{K}/collections")).json()["data"]
    col_id = next((c["id"] for c in col if c["name"] == "bad"), None)
    col_id = col_id or await create_collection(kc, "bad")
    job = await ingest(kc, col_id, name, make(), media_type)
    assert job["status"] == "failed"
    assert message.lower() in job["error"].lower(), job["error"]
    assert (await kc.get(f"{K}/collections/{col_id}/documents")).json()["data"] == []
    assert (await kc.get("/health")).status_code == 200


async def test_oversized_upload_is_refused_and_nothing_breaks(kc: httpx.AsyncClient) -> None:
    col = await create_collection(kc, "big")
    r = await kc.post(
        f"{K}/collections/{col}/documents",
        files={"file": ("big.txt", b"word " * (MAX_BYTES // 4), "text/plain")},
    )
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]
    ok = await ingest(kc, col, "small.txt", b"Small files still work.", "text/plain")
    assert ok["status"] == "succeeded"


async def test_unknown_collection_and_bad_requests(kc: httpx.AsyncClient) -> None:
    r = await kc.post(
        f"{K}/collections/nope/documents", files={"file": ("a.txt", b"hello", "text/plain")}
    )
    assert r.status_code == 404
    r = await kc.post(f"{K}/collections", json={"name": "dup"})
    r = await kc.post(f"{K}/collections", json={"name": "dup"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "duplicate"
    r = await kc.post(f"{K}/search", json={"query": "x", "collections": ["missing"]})
    assert r.status_code == 404
    any_col = (await kc.get(f"{K}/collections")).json()["data"][0]["id"]
    r = await kc.post(f"{K}/collections/{any_col}/urls", json={"url": "file:///etc/passwd"})
    assert r.status_code == 400


@pytest.fixture
def site() -> Iterator[tuple[str, list[dict[str, str]]]]:
    routes = {
        "/guide.html": (200, {"Content-Type": "text/html; charset=utf-8"}, HTML),
        "/moved": (302, {"Location": "/guide.html"}, b""),
        # The classic target of SSRF: a cloud's metadata service, behind a redirect.
        "/metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/unspecified": (302, {"Location": "http://0.0.0.0/"}, b""),
    }
    with web_site(routes) as served:
        yield served


async def test_ingest_by_url(kc: httpx.AsyncClient, site: tuple[str, list]) -> None:
    """Allowed by allow_private_urls (the site is on 127.0.0.1), redirects followed."""
    url, _ = site
    col = await create_collection(kc, "web")
    r = await kc.post(f"{K}/collections/{col}/urls", json={"url": f"{url}/moved"})
    assert r.status_code == 202
    job = await wait_job(kc, r.json()["id"])
    assert job["status"] == "succeeded", job
    hits = await search(kc, col, "Roquefort caves")
    assert hits[0]["section"] == "Roquefort"
    assert hits[0]["document"] == "moved"
    r = await kc.post(f"{K}/collections/{col}/urls", json={"url": f"{url}/missing"})
    job = await wait_job(kc, r.json()["id"])
    assert job["status"] == "failed"
    assert "HTTP 404" in job["error"]


async def test_redirect_to_a_refused_address_fails_the_job(
    kc: httpx.AsyncClient, site: tuple[str, list]
) -> None:
    """Every redirect hop is checked; link-local and unspecified stay refused even on an
    intranet, and nothing is fetched from them."""
    url, seen = site
    col = await create_collection(kc, "redirected")
    for path, kind in [("/metadata", "link-local"), ("/unspecified", "unspecified")]:
        r = await kc.post(f"{K}/collections/{col}/urls", json={"url": f"{url}{path}"})
        assert r.status_code == 202, r.text  # the first hop is allowed
        job = await wait_job(kc, r.json()["id"])
        assert job["status"] == "failed", job
        assert f"is a {kind} address" in job["error"], job["error"]
    assert [s["path"] for s in seen] == ["/metadata", "/unspecified"]
    assert (await kc.get(f"{K}/collections/{col}/documents")).json()["data"] == []


def test_fixtures_are_real_documents(tmp_path: Path) -> None:
    """The generated fixtures are what they claim to be (guards the tests above)."""
    assert make_pdf(["x"]).startswith(b"%PDF-")
    assert make_docx([("h", ["p"])]).startswith(b"PK")
