"""Everyday use in real headless Chromium, in French: long conversations, errors by code.

One `causerie serve` on SmolLM2 (n_ctx 4096, 2 slots: 2,048 tokens a request) and one
browser for the module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import Tab, seed_conversation, serious_violations, smol_models_toml
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
    # The finished reply is read out once, politely, to screen readers.
    announcer = page.locator("#announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_contain_text("Réponse\u202f:")
    reply = tab.api(f"/api/conversations/{conv}")["messages"][-1]["content"]
    assert announcer.text_content() == f"Réponse\u202f: {reply}"


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


def test_a_very_long_message_is_collapsed_until_expanded(tab: Tab, server: LiveServer) -> None:
    paste = "\n".join(f"Ligne {i} du journal collé." for i in range(2000))
    conv = seed_conversation(server.data_dir, [("user", paste), ("assistant", "Vu.")])
    page = tab.open(f"/#/c/{conv}").page
    bubble = page.locator(".msg.user .bubble")
    assert bubble.bounding_box()["height"] < 600  # not a 66,000-px bubble
    assert bubble.text_content() == paste  # collapsed, not cut: all of it is there
    expand = page.get_by_role("button", name="Afficher plus")
    expect(expand).to_have_attribute("aria-expanded", "false")
    expand.click()
    expect(page.get_by_role("button", name="Afficher moins")).to_have_attribute(
        "aria-expanded", "true"
    )
    assert bubble.bounding_box()["height"] > 20_000
    # A short message has no such button.
    short = seed_conversation(server.data_dir, [("user", "Bonjour"), ("assistant", "Salut.")])
    tab.open(f"/#/c/{short}")
    expect(page.locator(".msg.user .bubble")).to_have_text("Bonjour")
    assert page.locator(".msg.user .expand").count() == 0


# Over plain HTTP on a LAN the page is not a secure context: navigator.clipboard is absent.
NO_CLIPBOARD = """
Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined });
window.__copied = [];
document.addEventListener('copy', (e) => {
  const el = e.target;
  window.__copied.push(el.value.slice(el.selectionStart, el.selectionEnd));
});
"""


def test_copy_works_without_the_clipboard_api_and_says_when_it_fails(
    tab: Tab, server: LiveServer
) -> None:
    answer = "Voici la réponse à copier."
    conv = seed_conversation(server.data_dir, [("user", "Question"), ("assistant", answer)])
    tab.page.add_init_script(NO_CLIPBOARD)
    page = tab.open(f"/#/c/{conv}").page
    assert page.evaluate("navigator.clipboard") is None
    copy = page.locator(".msg.assistant .msg-actions [data-action='copy']")
    copy.click()
    expect(copy).to_have_class(re.compile("copied"))
    assert page.evaluate("window.__copied") == [answer]
    # Where even that is refused, the user is told rather than left guessing.
    page.evaluate("document.execCommand = () => false")
    page.locator(".msg.user .msg-actions [data-action='copy']").click()
    expect(page.locator(".toast.error")).to_contain_text("La copie a échoué")


def _collection(server: LiveServer, name: str) -> dict | None:
    found = httpx.get(f"{server.url}/api/knowledge/collections").json()["data"]
    return next((c for c in found if c["name"] == name), None)


def _wait_for(done: Any) -> None:
    """Until done() is true (a request the page sent is being served), at most 5 s."""
    for _ in range(50):
        if done():
            return
        time.sleep(0.1)
    assert done()


def test_collections_by_keyboard_titles_plurals_rename_and_delete(
    tab: Tab, server: LiveServer, tmp_path: Path
) -> None:
    files = []
    for name, heading in (("tarte.md", "Tarte aux pommes"), ("soupe.md", "Soupe à l'oignon")):
        files.append(tmp_path / name)
        files[-1].write_text(f"# {heading}\n\nUne recette simple et bonne, pas à pas.\n")
    httpx.post(f"{server.url}/api/knowledge/collections", json={"name": "recettes"})
    page = tab.open("/").page
    page.click("#open-knowledge")
    section = page.locator(".collection[data-name='recettes']")
    expect(section.locator(".doc-count")).to_have_text("0 document")
    # Listening from now on: Playwright turns on file-chooser interception without waiting
    # for Chromium, so an expect_file_chooser() begun with the key press could miss it.
    choosers: list[Any] = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    for expected, path in enumerate(files, start=1):
        # Keyboard only: Tab to "Add files", Enter opens the file chooser.
        section.locator("header .btn").first.focus()  # from the collection's own header
        for _ in range(30):
            if page.evaluate("document.activeElement.textContent") == "Ajouter des fichiers":
                break
            page.keyboard.press("Tab")
        expect(section.get_by_role("button", name="Ajouter des fichiers")).to_be_focused()
        page.keyboard.press("Enter")
        for _ in range(100):
            if len(choosers) == expected:
                break
            page.wait_for_timeout(100)
        assert len(choosers) == expected, "Enter on 'Add files' opened no file chooser"
        choosers[-1].set_files(str(path))
        expect(section.locator(".doc-count")).to_have_text(
            "1 document" if expected == 1 else "2 documents", timeout=60_000
        )
    # The document's own title, its file name beside it.
    item = section.locator(".docs li", has_text="Tarte aux pommes")
    expect(item.locator(".doc-file")).to_have_text("tarte.md")

    # Deleting a document can be undone for a few seconds; nothing is sent until then.
    docs = f"/api/knowledge/collections/{_collection(server, 'recettes')['id']}/documents"
    item.get_by_role("button", name="Supprimer").click()
    expect(item).to_have_count(0)
    expect(section.locator(".doc-count")).to_have_text("1 document")
    note = page.locator("#knowledge .toast", has_text="« tarte.md » supprimé.")
    note.get_by_role("button", name="Annuler").click()
    expect(item.locator(".doc-file")).to_have_text("tarte.md")
    expect(section.locator(".doc-count")).to_have_text("2 documents")
    assert len(httpx.get(server.url + docs).json()["data"]) == 2
    item.get_by_role("button", name="Supprimer").click()
    expect(item).to_have_count(0)
    assert len(httpx.get(server.url + docs).json()["data"]) == 2  # not yet
    note.locator(".toast-close").click()  # as when the toast expires
    expect(note).to_have_count(0)
    _wait_for(lambda: len(httpx.get(server.url + docs).json()["data"]) == 1)
    # Closing the page within the undo window still deletes what the user deleted.
    section.locator(".docs li").get_by_role("button", name="Supprimer").click()
    expect(section.locator(".doc-count")).to_have_text("0 document")
    tab.reload()
    _wait_for(lambda: not httpx.get(server.url + docs).json()["data"])
    page.click("#open-knowledge")

    section.get_by_role("button", name="Renommer").click()
    page.locator(".rename-input").fill("cuisine")
    page.keyboard.press("Enter")
    renamed = page.locator(".collection[data-name='cuisine']")
    expect(renamed).to_be_visible()
    assert _collection(server, "cuisine") and not _collection(server, "recettes")
    delete = renamed.locator("header").get_by_role("button", name="Supprimer")
    delete.click()
    delete.click()
    expect(renamed).to_have_count(0)
    assert _collection(server, "cuisine") is None


CONTRAST = """(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const fg = getComputedStyle(el, '::placeholder').color;
  let node = el;
  let bg = 'rgba(0, 0, 0, 0)';
  while (node && /rgba\\(.*, 0\\)|transparent/.test(bg)) {
    bg = getComputedStyle(node).backgroundColor;
    node = node.parentElement;
  }
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.mark.parametrize(
    "tab_options",
    [{"locale": "fr-FR", "color_scheme": scheme} for scheme in ("light", "dark")],
    ids=["light", "dark"],
)
def test_accessibility_of_the_main_views(tab: Tab, server: LiveServer) -> None:
    conv = seed_conversation(
        server.data_dir,
        [("user", "Un exemple ?"), ("assistant", "Oui :\n\n```python\nprint('salut')\n```")],
        title="Exemple",
        model="smollm2",
    )
    if not _collection(server, "a11y"):
        httpx.post(f"{server.url}/api/knowledge/collections", json={"name": "a11y"})
    page = tab.open(f"/#/c/{conv}").page
    page.wait_for_selector(".msg.assistant .code-block")
    found = {"chat": serious_violations(page)}
    assert page.locator("#input").evaluate(CONTRAST) >= 4.5

    # A skip link comes first in the tab order, shows when focused, leads to the composer.
    first = page.evaluate(
        "document.querySelector('a[href], button:not([hidden]), input, textarea, select').id"
    )
    assert first == "skip-link"
    page.locator("#skip-link").focus()
    assert page.locator("#skip-link").bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    expect(page.locator("#input")).to_be_focused()

    # The conversation menu: role=menu, arrow keys, focus back to its opener.
    more = page.locator(f".conv[data-id='{conv}'] .conv-more")
    more.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#conv-menu [data-act='rename']")).to_be_focused()
    found["menu"] = serious_violations(page)
    page.keyboard.press("ArrowDown")
    expect(page.locator("#conv-menu [data-act='delete']")).to_be_focused()
    page.keyboard.press("ArrowDown")  # wraps around
    expect(page.locator("#conv-menu [data-act='rename']")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#conv-menu")).to_be_hidden()
    expect(more).to_be_focused()

    # Dialogs: no serious violation, and focus back to what opened them.
    for opener, name in (("#open-prefs", "settings"), ("#open-knowledge", "documents")):
        page.locator(opener).focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("dialog[open]")
        page.wait_for_timeout(300)  # the documents dialog loads its collections
        found[name] = serious_violations(page)
        page.keyboard.press("Escape")
        expect(page.locator(opener)).to_be_focused()
    assert all(not v for v in found.values()), found


FACT = "Le code d'accès du phare de Kerlaouen est 4817-ZÈBRE. Il change chaque printemps."


def _choose_by_keyboard(page: Any, name: str, path: Path) -> None:
    """From the message box, Shift+Tab to the paperclip, Enter, and pick the file."""
    choosers: list[Any] = []  # listening first: see the collections test above
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    page.locator("#input").focus()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name=name)).to_be_focused()
    page.keyboard.press("Enter")
    for _ in range(100):
        if choosers:
            break
        page.wait_for_timeout(100)
    assert choosers, "Enter on the paperclip opened no file chooser"
    choosers[0].set_files(str(path))


def test_files_attached_from_the_composer_ground_the_next_answer(
    tab: Tab, server: LiveServer, tmp_path: Path
) -> None:
    fact, empty = tmp_path / "kerlaouen.txt", tmp_path / "vide.txt"
    fact.write_text(FACT)
    empty.write_bytes(b"")
    page = tab.open("/").page
    expect(page.locator("#open-knowledge")).to_have_text("Documents")  # named, not an icon
    _choose_by_keyboard(page, "Joindre des fichiers", fact)
    chip = page.locator(".attachment", has_text="kerlaouen.txt")
    expect(chip).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(chip.locator(".attachment-status")).to_have_text("prêt")
    # The chat was started for it, and answers from its own collection from now on.
    conv = tab.conv_id()
    expect(page.locator("#knowledge-chip")).to_contain_text("Fichiers de la discussion")
    own = tab.api(f"/api/conversations/{conv}/collections")["data"]
    assert [c["conversation_id"] for c in own] == [conv] and own[0]["document_count"] == 1

    # A file that cannot be read says why, in French, and can be taken back.
    page.locator("#attach-input").set_input_files(str(empty))
    failed = page.locator(".attachment", has_text="vide.txt")
    expect(failed).to_have_attribute("data-state", "failed", timeout=60_000)
    expect(failed).to_contain_text("échec\u202f: « vide.txt » est vide.")
    failed.get_by_role("button", name="Retirer vide.txt").click()
    expect(failed).to_have_count(0)

    tab.send("Quel est le code d'accès du phare de Kerlaouen ?")
    expect(chip).to_have_count(0)  # sent: the file now belongs to the chat
    tab.wait_replies(1)
    panel = page.locator("article.msg.assistant .sources-panel")
    expect(panel).to_contain_text("kerlaouen.txt")
    expect(panel.locator(".source-snippet").first).to_contain_text("4817")
    # A second file goes into the same collection; removing it deletes its document.
    again = tmp_path / "encore.txt"
    again.write_text("Le phare de Kerlaouen a été allumé en 1902.")
    page.locator("#attach-input").set_input_files(str(again))
    chip = page.locator(".attachment", has_text="encore.txt")
    expect(chip).to_have_attribute("data-state", "ready", timeout=60_000)
    chip.get_by_role("button", name="Retirer encore.txt").click()
    expect(chip).to_have_count(0)
    docs = f"/api/knowledge/collections/{own[0]['id']}/documents"
    for _ in range(50):
        names = [d["name"] for d in tab.api(docs)["data"]]
        if names == ["kerlaouen.txt"]:
            break
        page.wait_for_timeout(100)
    assert names == ["kerlaouen.txt"]
    assert tab.api(f"/api/conversations/{conv}/collections")["data"][0]["id"] == own[0]["id"]


@pytest.mark.parametrize("tab_options", [{"locale": "en-US"}], ids=["en"])
def test_the_paperclip_in_english(tab: Tab, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    page = tab.open("/").page
    expect(page.locator("#open-knowledge")).to_have_text("Documents")
    assert "Documents:" in (page.locator("#open-knowledge").get_attribute("title") or "")
    _choose_by_keyboard(page, "Attach files", empty)
    chip = page.locator(".attachment", has_text="empty.txt")
    expect(chip).to_contain_text("failed: “empty.txt” is empty.", timeout=60_000)
    expect(page.locator("#knowledge-chip")).to_contain_text("Chat files")
