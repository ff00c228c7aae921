"""In the web UI: "Search the web" per conversation, numbered sources linking to their pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.answers_support import fake_upstream
from tests.browser import chromium
from tests.support import LiveServer
from tests.websearch_support import FakeWeb, fake_web


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, FakeWeb]]:
    base: Path = tmp_path_factory.mktemp("wui")
    with fake_upstream() as url, fake_web() as web:
        config = base / "causerie.toml"
        config.write_text(
            'default_model = "quote"\n[[models]]\nname = "quote"\n'
            f'provider = "openai-compatible"\nbase_url = "{url}"\nupstream_model = "quote"\n'
            "[knowledge]\nallow_private_urls = true\n"
            f'[web_search]\nprovider = "searxng"\nbase_url = "{web.url}"\ntime_budget = 4.0\n'
            "max_page_bytes = 1048576\nresults = 5\n"
        )
        with LiveServer(config, base / "data") as live:
            yield live, web


def test_search_the_web_shows_linked_sources_and_unread_pages(
    served: tuple[LiveServer, FakeWeb],
) -> None:
    server, web = served
    with chromium() as browser:
        page: Any = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{server.url}/#/")
        page.wait_for_selector("body[data-ready='1']")
        toggle = page.locator("#web-toggle")
        toggle.wait_for(state="visible")
        assert toggle.get_attribute("aria-pressed") == "false"
        toggle.click()
        assert toggle.get_attribute("aria-pressed") == "true"
        page.fill("#input", "When was the Vireltan lighthouse first lit?")
        page.keyboard.press("Enter")
        reply = page.locator("article.msg.assistant").last
        link = reply.locator(".sources-panel a.source-url").first
        link.wait_for(timeout=60_000)
        assert link.get_attribute("href") == web.page("/vireltan")
        assert "127.0.0.1" in link.inner_text()
        assert "Vireltan lighthouse" in reply.locator(".sources-panel").inner_text()
        assert "1874" in reply.inner_text()
        assert reply.locator("[data-action='cite']").count() >= 1  # the verified marker
        conv_id = page.evaluate("location.hash").split("/")[-1]
        page.fill("#input", "trouble: who lit it?")
        page.keyboard.press("Enter")
        # The second reply by position, not .last: the first one may be the last for a
        # moment, and its panel is re-drawn when the stream ends; expect() retries.
        unread = page.locator("article.msg.assistant").nth(1).locator(".unread-pages")
        for words in ("Huge page", "larger than the limit", "Redirect", "link-local"):
            expect(unread).to_contain_text(words, timeout=60_000)
    conv = httpx.get(f"{server.url}/api/conversations/{conv_id}").json()
    assert conv["web_search"] is True  # the toggle is the conversation's
