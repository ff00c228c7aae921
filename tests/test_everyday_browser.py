"""Everyday use in real headless Chromium, in French: long conversations, errors by code.

One `causerie serve` on SmolLM2 (n_ctx 4096, 2 slots: 2,048 tokens a request) and one
browser for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import Tab, seed_conversation, smol_models_toml
from tests.support import LiveServer

SLOT = 4096 // 2
README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("everyday")
    (base / "causerie.toml").write_text(smol_models_toml(["smollm2"]))
    with LiveServer(base / "causerie.toml", base / "data") as live:
        yield live


@pytest.fixture
def tab_options() -> dict[str, Any]:
    return {"locale": "fr-FR"}


def test_a_conversation_beyond_the_context_keeps_answering(tab: Tab, server: LiveServer) -> None:
    # Four long turns, about 4,600 tokens: more than twice what the model can read.
    turns = []
    for i in range(2):
        turns += [("user", README[i * 3600 : (i + 1) * 3600]), ("assistant", README[:3600])]
    conv = seed_conversation(server.data_dir, turns, title="Longue", model="smollm2")
    page = tab.open(f"/#/c/{conv}").page
    page.wait_for_selector(".msg.assistant")
    expect(page.locator("#context-note")).to_be_hidden()
    tab.send("Say hello.")
    tab.wait_replies(3)
    note = page.locator("#context-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("hors de la vue du modèle")
    # What the engine read (its own count) fitted the slot.
    reply = tab.api(f"/api/conversations/{conv}")["messages"][-1]
    assert reply["status"] == "complete" and reply["out_of_view"] >= 2, reply
    assert 0 < reply["usage"]["prompt_tokens"] < SLOT, reply["usage"]
    tab.reload()  # the note is stored with the reply, not only shown while it streams
    expect(page.locator("#context-note")).to_contain_text("hors de la vue du modèle")


def test_an_oversized_message_is_refused_in_french_with_its_size(
    tab: Tab, server: LiveServer
) -> None:
    conv = seed_conversation(server.data_dir, [("user", "Hello"), ("assistant", "Hi.")])
    page = tab.open(f"/#/c/{conv}").page
    page.wait_for_selector(".msg.assistant")
    paste = (README * 20)[:200_000]
    # As a paste does: the whole text at once (Playwright's fill types 200 KB too slowly).
    page.evaluate(
        """(text) => {
            const input = document.querySelector('#input');
            input.value = text;
            input.dispatchEvent(new Event('input', { bubbles: true }));
        }""",
        paste,
    )
    page.keyboard.press("Enter")
    toast = page.locator(".toast.error")
    expect(toast).to_contain_text("Ce message est trop long pour le modèle")
    expect(toast).to_contain_text("200\u202f000 caractères")
    # The server's own words stay within reach, and nothing typed is lost.
    assert "200000 characters" in (toast.locator(".toast-text").get_attribute("title") or "")
    assert page.input_value("#input") == paste
    tab.errors.clear()  # Chromium logs the refused request itself
    tab.send("Say hello.")  # the conversation goes on (English: SmolLM2 answers it briefly)
    tab.wait_replies(2)


def test_ingestion_failures_are_worded_in_french(tab: Tab, tmp_path: Path) -> None:
    empty, fake = tmp_path / "vide.txt", tmp_path / "rapport.pdf"
    empty.write_bytes(b"")
    fake.write_text("Ceci n'est pas un PDF.")
    page = tab.open("/").page
    page.click("#open-knowledge")
    page.fill(".new-collection input", "notes")
    page.click(".new-collection button[type=submit]")
    section = page.locator(".collection[data-name='notes']")
    section.wait_for()
    for path, text in (
        (empty, "« vide.txt » est vide."),
        (
            fake,
            "« rapport.pdf » est présenté comme un fichier PDF, mais son contenu n’en est pas un.",
        ),
    ):
        section.locator("input.file").set_input_files(str(path))
        job = section.locator(".job.failed", has_text=path.name)
        expect(job.locator(".job-status")).to_contain_text(text, timeout=60_000)
    tab.errors.clear()


def test_server_down_keeps_the_page_and_catches_up(tab: Tab, server: LiveServer) -> None:
    seen = seed_conversation(server.data_dir, [("user", "Hello"), ("assistant", "Hi.")])
    other = seed_conversation(
        server.data_dir, [("user", "Bonjour"), ("assistant", "Salut.")], title="Autre"
    )
    page = tab.open(f"/#/c/{seen}").page
    page.wait_for_selector(".msg.assistant")
    server.stop()
    try:
        # Another chat clicked while the server is down: the one on screen stays.
        page.click(f".conv[data-id='{other}'] .conv-link")
        expect(page.locator("#offline")).to_have_text(
            "Le serveur est injoignable. Nouvelle tentative…"
        )
        expect(page.locator(".msg.user")).to_have_text("Hello")
        tab.send("Toujours là ?")
        expect(page.locator(".toast.error").first).to_contain_text("Le serveur est injoignable")
        assert page.input_value("#input") == "Toujours là ?"
    finally:
        server.start()
    tab.errors.clear()  # Chromium logs the failed requests itself
    # Retried on its own: the banner goes and the chat asked for opens.
    expect(page.locator("#offline")).to_be_hidden()
    expect(page.locator(".msg.user").first).to_have_text("Bonjour")
    page.fill("#input", "Say hello.")
    page.keyboard.press("Enter")  # goes to the conversation on screen
    tab.wait_replies(2)
    assert tab.conv_id() == other
    assert len(tab.api(f"/api/conversations/{other}")["messages"]) == 4
    assert len(tab.api(f"/api/conversations/{seen}")["messages"]) == 2
    tab.errors.clear()


def test_sidebar_search_ignores_accents(tab: Tab, server: LiveServer) -> None:
    conv = seed_conversation(
        server.data_dir,
        [("user", "Une liste doublement chaînée ?"), ("assistant", "Oui.")],
        title="Listes",
    )
    page = tab.open("/").page
    page.fill("#search", "DOUBLEMENT CHAINEE")  # the README (seeded above) says chaînée
    page.wait_for_function(
        "id => document.querySelectorAll('.conv').length === 1"
        " && document.querySelector('.conv').dataset.id === id",
        arg=conv,
    )
