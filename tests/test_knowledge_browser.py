"""Knowledge in the web UI, in Debian's Chromium: upload with progress, cancel, add by URL,
attach a collection to a chat, ask, open the cited passage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import chromium
from tests.knowledge_support import encrypt_pdf, make_pdf, web_site
from tests.support import LiveServer, default_model, write_config

LIGHTHOUSE = [
    "Lighthouses of Brittany. A survey of the lights of the Iroise sea.",
    "The lighthouse of Ar-Men stands on a rock off the island of Sein. It was built between "
    "1867 and 1881. Its keepers were relieved by boat when the sea allowed it. "
    "The light was automated in 1990.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base: Path = tmp_path_factory.mktemp("kui")
    # Private addresses allowed: the page added by URL is served on 127.0.0.1.
    extra = "[knowledge]\nallow_private_urls = true\n"
    # The default model: the test reads its cited reply, which SmolLM2-135M writes by luck
    # ("The answer is: 2018-01-22 12:32:53." to the grounded prompt that shows an example).
    config = write_config(base / "causerie.toml", [default_model()], extra=extra)
    with LiveServer(config, base / "data") as live:
        yield live


@pytest.fixture(scope="module")
def page(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        tab.goto(server.url + "/")
        tab.wait_for_selector("body[data-ready='1']")
        yield tab


def _files(tmp: Path) -> dict[str, Path]:
    files = {
        "lights.pdf": make_pdf(LIGHTHOUSE),
        "secret.pdf": encrypt_pdf(make_pdf(["hidden"])),
        "long.txt": "\n\n".join(
            f"Paragraph {i} is about harbour {i} and its fishing boats. " * 6 for i in range(250)
        ).encode(),
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp / name
        out[name].write_bytes(data)
    return out


def test_upload_attach_ask_and_open_the_cited_passage(
    page: Any, server: LiveServer, tmp_path: Path
) -> None:
    files = _files(tmp_path)
    page.click("#open-knowledge")
    page.fill(".new-collection input", "brittany")
    page.click(".new-collection button[type=submit]")
    section = page.locator(".collection[data-name='brittany']")
    section.wait_for()

    # A long file shows progress and can be cancelled; a broken one fails readably.
    section.locator("input.file").set_input_files(str(files["long.txt"]))
    long_job = section.locator(".job", has_text="long.txt")
    page.wait_for_function(
        "() => { const p = document.querySelector('.job progress'); return p && p.value > 0; }",
        timeout=120_000,
    )
    long_job.locator(".cancel-job").click()
    page.wait_for_selector(".job.cancelled", timeout=120_000)
    assert "cancelled" in long_job.locator(".job-status").inner_text()

    section.locator("input.file").set_input_files(str(files["secret.pdf"]))
    page.wait_for_selector(".job.failed", timeout=120_000)
    assert "encrypted" in section.locator(".job.failed .job-status").inner_text()

    section.locator("input.file").set_input_files(str(files["lights.pdf"]))
    page.wait_for_selector(".job.succeeded", timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.collection .docs li')]"
        ".some(li => li.textContent.includes('lights.pdf'))"
    )

    # Ticking the collection starts a chat that answers from it.
    section.locator("input.attach").check()
    page.wait_for_function("() => location.hash.startsWith('#/c/')")
    page.wait_for_selector("#knowledge-chip:not([hidden])")
    assert "brittany" in page.inner_text("#knowledge-chip")
    page.locator("#knowledge .dialog-actions .btn.primary").click()
    conv_id = page.evaluate("() => location.hash.slice(4)")
    httpx.patch(f"{server.url}/api/conversations/{conv_id}", json={"temperature": 0})

    page.fill("#input", "When was the Ar-Men light automated?")
    page.keyboard.press("Enter")
    panel = page.locator("article.msg.assistant .sources-panel")
    panel.wait_for(timeout=120_000)
    item = panel.locator("li", has_text="1990")
    item.locator(".source-link").click()
    dialog = page.locator("#passage")
    dialog.wait_for()
    assert "automated in 1990" in dialog.locator("mark.passage-cited").inner_text()
    assert "page 2" in dialog.locator(".hint").inner_text()
    dialog.locator(".btn.primary").click()

    # The [n] markers are buttons that open their source too.
    markers = page.locator("article.msg.assistant .markdown .cite")
    assert markers.count() >= 1, page.inner_html("article.msg.assistant .markdown")
    markers.first.click()
    page.locator("#passage mark.passage-cited").wait_for()
    dialog.locator(".btn.primary").click()

    # After a reload, the sources and markers come back from the server.
    page.reload()
    page.wait_for_selector("article.msg.assistant .sources-panel")
    assert page.locator("article.msg.assistant .markdown .cite").count() >= 1
    assert "brittany" in page.inner_text("#knowledge-chip")


def test_add_a_web_page_by_url_and_see_a_refused_address_explained(page: Any) -> None:
    html = (
        b"<html><head><title>Tides</title></head><body><h1>Tides of Sein</h1>"
        + (b"<p>The tide at the island of Sein rises by seven metres at spring tides.</p>")
        + b"</body></html>"
    )
    with web_site({"/tides.html": (200, {"Content-Type": "text/html"}, html)}) as (url, seen):
        page.click("#open-knowledge")
        page.fill(".new-collection input", "web")
        page.click(".new-collection button[type=submit]")
        section = page.locator(".collection[data-name='web']")
        section.wait_for()

        section.locator(".add-url input").fill(f"{url}/tides.html")
        section.locator(".add-url button[type=submit]").click()
        section.locator(".job.succeeded", has_text="tides.html").wait_for(timeout=120_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll(\".collection[data-name='web'] .docs li\")]"
            ".some(li => li.textContent.includes('tides'))"
        )
        assert [r["path"] for r in seen] == ["/tides.html"]

        # The cloud metadata address stays refused even with private addresses allowed.
        section.locator(".add-url input").fill("http://169.254.169.254/latest/meta-data/")
        section.locator(".add-url button[type=submit]").click()
        failed = section.locator(".job.failed", has_text="169.254.169.254")
        failed.wait_for(timeout=60_000)
        assert "169.254.169.254" in failed.locator(".job-status").inner_text()
        page.locator("#knowledge .dialog-actions .btn.primary").click()
