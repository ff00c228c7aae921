"""In the web UI, a reply sentence the sources do not hold is visibly flagged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.answers_support import fake_upstream
from tests.browser import chromium
from tests.knowledge_support import K
from tests.support import LiveServer

NOTES = b"# Ar-Men\n\nThe Ar-Men light was automated in 1990 and has had no keepers since.\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base: Path = tmp_path_factory.mktemp("aui")
    with fake_upstream() as url:
        config = base / "causerie.toml"
        config.write_text(
            'default_model = "mixed"\n[[models]]\nname = "mixed"\n'
            f'provider = "openai-compatible"\nbase_url = "{url}"\nupstream_model = "mixed"\n'
        )
        with LiveServer(config, base / "data") as live:
            yield live


def test_unsupported_sentence_is_flagged_in_the_ui(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        col = http.post(f"{K}/collections", json={"name": "notes"}).json()["id"]
        job = http.post(
            f"{K}/collections/{col}/documents", files={"file": ("notes.md", NOTES)}
        ).json()["data"][0]
        while job["status"] in ("queued", "running"):
            job = http.get(f"{K}/jobs/{job['id']}").json()
        assert job["status"] == "succeeded", job
        conv = http.post("/api/conversations", json={"model": "mixed"}).json()["id"]
        http.put(f"/api/conversations/{conv}/collections", json={"collections": ["notes"]})
    with chromium() as browser:
        page: Any = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{server.url}/#/c/{conv}")
        page.wait_for_selector("body[data-ready='1']")
        page.fill("#input", "When was the Ar-Men light automated?")
        page.keyboard.press("Enter")
        flagged = page.locator("article.msg.assistant .unsupported-list")
        flagged.wait_for(timeout=60_000)
        assert "gold coins" in flagged.inner_text()
        assert "automated in 1990" not in flagged.inner_text()  # the supported one is not
