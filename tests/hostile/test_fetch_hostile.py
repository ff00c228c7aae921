"""A URL fetch is bounded as a whole by knowledge.fetch_timeout, even when the server
trickles its headers a byte at a time, and Cancel stops a fetch that is running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from causerie.settings import KnowledgeConfig, Settings
from tests.knowledge_support import K, create_collection, wait_job, web_site
from tests.support import app_client

TIMEOUT = 2.0
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"a" * 200


def trickle(handler: BaseHTTPRequestHandler) -> None:
    """Headers at 4 bytes/s: each read gets data, so per-read timeouts never fire."""
    try:
        for i in range(len(HEADERS)):
            handler.wfile.write(HEADERS[i : i + 1])
            handler.wfile.flush()
            time.sleep(0.25)
    except OSError:
        pass  # the fetcher hung up, as it should


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with web_site({"/slow": trickle}) as (url, _):
        yield url


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    knowledge = KnowledgeConfig(fetch_timeout=TIMEOUT, allow_private_urls=True)
    async with app_client(Settings(data_dir=tmp_path, models=[], knowledge=knowledge)) as c:
        yield c


async def _submit(client: httpx.AsyncClient, url: str) -> str:
    col = await create_collection(client, "web")
    r = await client.post(f"{K}/collections/{col}/urls", json={"url": url})
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def test_headers_at_a_few_bytes_per_second_hit_the_deadline(
    client: httpx.AsyncClient, site: str
) -> None:
    start = time.monotonic()
    job = await wait_job(client, await _submit(client, f"{site}/slow"), timeout=30)
    elapsed = time.monotonic() - start
    assert job["status"] == "failed", job
    assert f"took longer than {TIMEOUT:g} s" in job["error"]
    assert elapsed < TIMEOUT + 3, elapsed


async def test_cancel_stops_a_running_fetch(client: httpx.AsyncClient, site: str) -> None:
    job_id = await _submit(client, f"{site}/slow")
    while (await client.get(f"{K}/jobs/{job_id}")).json()["stage"] != "fetching":
        await asyncio.sleep(0.05)
    start = time.monotonic()
    r = await client.post(f"{K}/jobs/{job_id}/cancel")
    assert r.status_code == 200, r.text
    job = await wait_job(client, job_id, timeout=30)
    assert job["status"] == "cancelled" and job["error"] == "cancelled by the user", job
    assert time.monotonic() - start < 1.5  # well before the 2 s deadline would end it
