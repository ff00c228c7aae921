"""The web UI in real headless Chromium against a real `causerie serve`.

Models: SmolLM2 under two names (real engine, real answers) for the chat flows, and
OpenAI-compatible remote models served by a scripted upstream on 127.0.0.1 (a stand-in for
a remote provider) where the test needs exact output, a slow stream or a failing provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.ui.upstream import ScriptedUpstream, remote_model_toml
from playwright.sync_api import expect

from tests.browser import Tab, seed_conversation, smol_models_toml
from tests.support import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LONG_ANSWER = " ".join(f"Sentence number {i} of a long, slow answer." for i in range(1, 200))
SCRIPTS = {
    "long": LONG_ANSWER,
    "answer": "The provider is back: **all good**.",
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(SCRIPTS, tokens_per_second=50) as up:
        yield up


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("ui")
    # No retries and a breaker that stays shut: the UI test wants each failure as it comes.
    toml = "\n".join(
        [
            "[routing]\nretries = 0\nbreaker_failures = 100\n",
            smol_models_toml(["smollm2", "smollm2-b"]),
            remote_model_toml("paced", upstream, "long"),
            remote_model_toml("remote", upstream, "answer"),
        ]
    )
    (base / "causerie.toml").write_text(toml)
    with LiveServer(base / "causerie.toml", base / "data") as live:
        yield live


def _seed(server: LiveServer, messages: list[tuple[str, str]], **kw: Any) -> str:
    return seed_conversation(server.data_dir, messages, **kw)


# -- screenshots ------------------------------------------------------------------------------

SHOWCASE = r"""Here is a **quick overview** of sorting in Python, with a table, code and math.

## Built-in options

| Function | Returns | Stable |
|---|---|:---:|
| `sorted(xs)` | a new list | yes |
| `xs.sort()` | `None` (in place) | yes |

1. Use `key=` to sort by a field.
2. Use `reverse=True` for descending order — see the [sorting guide](https://docs.python.org/3/howto/sorting.html).

```python
people = [("Ada", 36), ("Alan", 41), ("Grace", 85)]
by_age = sorted(people, key=lambda p: p[1], reverse=True)
print(by_age[0])  # ('Grace', 85)
```

A comparison sort needs about $\log_2(n!) \approx n \log_2 n$ comparisons:

$$T(n) = 2\,T\!\left(\tfrac{n}{2}\right) + O(n) = O(n \log n)$$
"""

SHOWCASE_FR = r"""Voici l’essentiel sur le **tri en Python**.

- `sorted(xs)` renvoie une *nouvelle* liste ;
- `xs.sort()` trie sur place.

```python
mots = ["poire", "abricot", "figue"]
print(sorted(mots, key=len))
```

Le coût moyen est $O(n \log n)$.
"""


def test_screenshots(browser: Any, server: LiveServer) -> None:
    """Main views for people to look at: saved under artifacts/ (not compared)."""
    ARTIFACTS.mkdir(exist_ok=True)
    for title in ("Weekend trip ideas", "Regex for e-mail addresses", "Explain CRDTs simply"):
        _seed(server, [("user", title), ("assistant", "…")], title=title)
    conv = _seed(
        server,
        [("user", "How do I sort a list in Python? Show a table, code and the math."),
         ("assistant", SHOWCASE)],
        title="Sorting in Python", model="smollm2",
    )  # fmt: skip
    conv_fr = _seed(
        server,
        [("user", "Comment trier une liste en Python ?"), ("assistant", SHOWCASE_FR)],
        title="Trier une liste en Python", model="smollm2",
    )  # fmt: skip
    views = [
        ("light", {"color_scheme": "light"}, f"/#/c/{conv}", None),
        ("dark", {"color_scheme": "dark"}, f"/#/c/{conv}", None),
        ("french", {"color_scheme": "light", "locale": "fr-FR"}, f"/#/c/{conv_fr}", None),
        ("empty", {"color_scheme": "light"}, "/", None),
        ("phone", {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                   "has_touch": True, "device_scale_factor": 2}, f"/#/c/{conv}", None),
        ("phone-sidebar", {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                           "has_touch": True, "device_scale_factor": 2}, f"/#/c/{conv}",
         "#open-sidebar"),
    ]  # fmt: skip
    for name, options, path, click in views:
        tab = Tab(browser, server, **options)
        try:
            page = tab.open(path).page
            if path != "/":
                page.wait_for_selector(".msg.assistant .katex")
            page.evaluate("document.fonts.ready")
            if click:
                page.click(click)
                page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"))
            assert not tab.errors, (name, tab.errors)
        finally:
            tab.close()
    assert all((ARTIFACTS / f"ui-{n}.png").stat().st_size > 10_000 for n, *_ in views)


def test_markdown_code_and_math_render(tab: Tab, server: LiveServer) -> None:
    conv = _seed(server, [("user", "Sort?"), ("assistant", SHOWCASE)], title="Rendering")
    page = tab.open(f"/#/c/{conv}").page
    page.wait_for_selector(".msg.assistant .katex")
    answer = page.locator(".msg.assistant .markdown")
    expect(answer.locator("table th")).to_have_count(3)
    expect(answer.locator("ol > li")).to_have_count(2)
    expect(answer.locator("h2")).to_have_text("Built-in options")
    assert answer.locator(".code-block .hljs-keyword").count() >= 1  # highlighted
    expect(answer.locator(".code-lang")).to_have_text("python")
    assert answer.locator(".katex").count() == 2  # inline and display math typeset
    assert answer.locator(".katex-display").count() == 1
    link = answer.locator("a", has_text="sorting guide")
    assert link.get_attribute("target") == "_blank"
    answer.locator(".code-block").hover()
    answer.locator("[data-action=copy-code]").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith('people = [("Ada", 36)') and copied.rstrip().endswith(
        "# ('Grace', 85)"
    )


def test_a_thousand_messages_open_at_the_end_and_render_as_you_scroll(
    tab: Tab, server: LiveServer
) -> None:
    turns = [("user", f"Question {i}?") for i in range(500)]
    messages = [m for i, q in enumerate(turns) for m in (q, ("assistant", f"**Answer {i}**"))]
    conv = _seed(server, messages, title="Long history")
    page = tab.open(f"/#/c/{conv}").page
    expect(page.locator(".msg")).to_have_count(1000)
    last = page.locator(".msg.assistant").last
    expect(last.locator("strong")).to_have_text("Answer 499")
    assert last.is_visible()  # opened at the newest message
    first = page.locator(".msg.assistant").first
    assert first.locator(".markdown.lazy").count() == 1  # not rendered until needed
    page.locator("#thread").evaluate("el => el.scrollTo(0, 0)")
    expect(first.locator("strong")).to_have_text("Answer 0")
    # The composer still answers right away.
    page.fill("#input", "still responsive")
    assert page.input_value("#input") == "still responsive"


def test_theme_follows_the_system(browser: Any, server: LiveServer) -> None:
    for scheme, background in (("light", "rgb(255, 255, 255)"), ("dark", "rgb(33, 33, 33)")):
        tab = Tab(browser, server, color_scheme=scheme)
        try:
            page = tab.open().page
            assert page.get_attribute("html", "data-theme") is None
            assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background
        finally:
            tab.close()


def test_phone_width_sidebar_is_a_drawer(browser: Any, server: LiveServer) -> None:
    tab = Tab(browser, server, viewport={"width": 390, "height": 844}, is_mobile=True,
              has_touch=True)  # fmt: skip
    try:
        page = tab.open().page
        sidebar = page.locator("#sidebar")
        assert sidebar.bounding_box()["x"] < -200  # off screen
        page.click("#open-sidebar")
        page.wait_for_function(
            "() => document.getElementById('sidebar').getBoundingClientRect().x === 0"
        )
        page.click("#backdrop", position={"x": 370, "y": 400})
        page.wait_for_function(
            "() => document.getElementById('sidebar').getBoundingClientRect().x < -200"
        )
        # The composer fits the screen.
        box = page.locator(".composer-box").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    finally:
        tab.close()


# -- chatting ---------------------------------------------------------------------------------


def test_send_streams_the_answer_and_keyboard_works(tab: Tab) -> None:
    page = tab.open().page
    expect(page.locator(".hero h1")).to_have_text("How can I help you today?")
    # Shift+Enter is a new line, not a send.
    page.fill("#input", "Describe the sea in two sentences.")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Be vivid.")
    assert page.input_value("#input") == "Describe the sea in two sentences.\nBe vivid."
    assert page.locator(".msg").count() == 0
    # Record every length the reply shows while it streams.
    page.evaluate(
        """() => {
        window.__lengths = [];
        new MutationObserver(() => {
            const m = document.querySelector('.msg.assistant[data-status=streaming] .markdown');
            if (m) window.__lengths.push(m.textContent.length);
        }).observe(document.getElementById('messages'),
                   {subtree: true, childList: true, characterData: true});
    }"""
    )
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg.user .bubble")
    expect(page.locator(".msg.user .bubble")).to_have_text(
        "Describe the sea in two sentences.\nBe vivid."
    )
    assert page.input_value("#input") == ""
    assert page.is_visible("#stop")
    tab.wait_replies(1)
    lengths = [n for n in page.evaluate("window.__lengths") if n > 0]
    assert len(set(lengths)) >= 2, f"the answer did not arrive in pieces: {lengths}"
    assert page.is_visible("#send") and not page.is_visible("#stop")
    answer = page.inner_text(".msg.assistant .markdown")
    assert answer.strip()
    # The URL names the conversation; the sidebar lists it under Today with its title.
    conv = tab.api(f"/api/conversations/{tab.conv_id()}")
    stored_words = re.findall(r"\w+", conv["messages"][1]["content"])
    assert stored_words[:5] == re.findall(r"\w+", answer)[:5]  # same text, rendered
    expect(page.locator(".conv-group h3")).to_have_text("Today")
    assert page.inner_text(".conv.active .conv-link").startswith(
        "Describe the sea in two sentences."
    )
    # Copy puts the message text on the clipboard.
    page.hover(".msg.assistant")
    page.click(".msg.assistant [data-action=copy]")
    assert page.evaluate("navigator.clipboard.readText()") == conv["messages"][1]["content"]


def _pick_and_send(tab: Tab, model: str, text: str) -> None:
    tab.page.click("#model-btn")
    tab.page.click(f"#model-menu [data-model={model}]")
    tab.send(text)


def _stop_while_streaming(tab: Tab, how: str) -> None:
    page = tab.page
    _pick_and_send(tab, "paced", "Tell me a long story.")
    page.wait_for_function(
        "() => document.querySelector('.msg.assistant .markdown')?.textContent.length > 40"
    )
    if how == "button":
        page.click("#stop")
    else:
        page.keyboard.press("Escape")
    tab.wait_replies(1, "interrupted", timeout=20)
    # Read back from the server (settle) the reply is drawn again: wait for that text.
    body = page.locator(".msg.assistant .markdown")
    expect(body).to_have_text(re.compile(r"^Sentence number 1 of a long, slow answer\."))
    shown = body.inner_text()
    assert len(shown) < len(LONG_ANSWER)
    assert page.is_visible(".msg.assistant .note.interrupted")
    assert not page.is_visible(".msg.assistant .error-box")  # stopped, not failed


def test_stop_button_keeps_a_marked_partial_answer(tab: Tab) -> None:
    tab.open()
    _stop_while_streaming(tab, "button")
    # The server kept what was shown, marked interrupted; a reload shows the same.
    conv_id = tab.conv_id()
    tab.page.wait_for_timeout(300)
    stored = tab.api(f"/api/conversations/{conv_id}")["messages"][-1]
    assert stored["status"] == "interrupted"
    assert stored["content"].startswith("Sentence number 1")
    tab.reload()
    tab.wait_replies(1, "interrupted")
    assert tab.page.is_visible(".msg.assistant .note.interrupted")


def test_escape_stops_too(tab: Tab) -> None:
    tab.open()
    _stop_while_streaming(tab, "escape")


def _watch_from_another_tab(tab: Tab, browser: Any, server: LiveServer) -> Tab:
    """Start a slow reply in tab; a second tab opens the same conversation meanwhile."""
    _pick_and_send(tab, "paced", "Tell me a long story.")
    tab.page.wait_for_function(
        "() => document.querySelector('.msg.assistant .markdown')?.textContent.length > 40"
    )
    other = Tab(browser, server).open(f"/#/c/{tab.conv_id()}")
    other.page.wait_for_selector(".msg.assistant[data-status=streaming]")
    expect(other.page.locator("#stop")).to_be_visible()
    assert not other.page.is_visible("#send")
    return other


def test_a_reply_streaming_in_another_tab_grows_and_ends_there_too(
    tab: Tab, browser: Any, server: LiveServer, upstream: ScriptedUpstream
) -> None:
    other = _watch_from_another_tab(tab.open(), browser, server)
    try:
        shown = other.page.locator(".msg.assistant .markdown")
        before = len(shown.inner_text())
        other.page.wait_for_function(
            "n => document.querySelector('.msg.assistant .markdown').textContent.length > n",
            arg=before + 40,
        )  # the text grows as the other tab's stream is stored
        upstream.tokens_per_second = 5000  # let the reply finish now
        other.wait_replies(1, "complete", timeout=20)
        expect(other.page.locator("#send")).to_be_visible()
        assert not other.page.is_visible("#stop")
        stored = tab.api(f"/api/conversations/{tab.conv_id()}")["messages"][-1]
        assert stored["status"] == "complete" and stored["content"] == LONG_ANSWER
        expect(shown).to_contain_text("Sentence number 199 of a long, slow answer.")
    finally:
        upstream.tokens_per_second = 50
        other.close()


def test_stop_in_another_tab_stops_the_reply(tab: Tab, browser: Any, server: LiveServer) -> None:
    other = _watch_from_another_tab(tab.open(), browser, server)
    try:
        other.page.click("#stop")
        # Both tabs end on the stored, stopped reply: the streaming one and the follower.
        other.wait_replies(1, "interrupted", timeout=20)
        tab.wait_replies(1, "interrupted", timeout=20)
        stored = tab.api(f"/api/conversations/{tab.conv_id()}")["messages"][-1]
        assert stored["stopped"] and len(stored["content"]) < len(LONG_ANSWER)
        assert other.page.inner_text(".msg.assistant .markdown").startswith("Sentence number 1")
        assert other.page.is_visible(".msg.assistant .note.interrupted")
        expect(other.page.locator("#send")).to_be_visible()
        assert not other.errors, other.errors
    finally:
        other.close()


def test_regenerate_and_edit_make_branches(tab: Tab) -> None:
    page = tab.open().page
    tab.send("Say hello.")
    tab.wait_replies(1)
    first_answer = page.get_attribute(".msg.assistant", "data-id")

    page.hover(".msg.assistant")
    page.click(".msg.assistant [data-action=regenerate]")
    page.wait_for_function(
        "id => document.querySelector('.msg.assistant').dataset.id !== id", arg=first_answer
    )
    tab.wait_replies(1)
    second_answer = page.get_attribute(".msg.assistant", "data-id")
    page.wait_for_selector(".msg.assistant .branch-pos")
    expect(page.locator(".msg.assistant .branch-pos")).to_have_text("2/2")
    page.click(".msg.assistant [data-action=prev]")
    page.wait_for_selector(f".msg.assistant[data-id='{first_answer}']")
    expect(page.locator(".msg.assistant .branch-pos")).to_have_text("1/2")
    page.click(".msg.assistant [data-action=next]")
    page.wait_for_selector(f".msg.assistant[data-id='{second_answer}']")

    # Edit the question: a new branch with its own answer, the old one a click away.
    page.hover(".msg.user")
    page.click(".msg.user [data-action=edit]")
    page.fill(".msg.user .edit-input", "Say goodbye.")
    page.click(".msg.user [data-action=save-edit]")
    page.wait_for_function(
        "() => document.querySelector('.msg.user .bubble')?.textContent === 'Say goodbye.'"
    )
    tab.wait_replies(1)
    page.wait_for_selector(".msg.user .branch-pos")
    expect(page.locator(".msg.user .branch-pos")).to_have_text("2/2")
    page.hover(".msg.user")
    page.click(".msg.user [data-action=prev]")
    page.wait_for_function(
        "() => document.querySelector('.msg.user .bubble')?.textContent === 'Say hello.'"
    )
    # Back on the first question, its latest answer (the regenerated one) is shown.
    assert page.get_attribute(".msg.assistant", "data-id") == second_answer
    expect(page.locator(".msg.user .branch-pos")).to_have_text("1/2")

    # Reload: the branch last chosen is still the one shown.
    tab.reload()
    page.wait_for_selector(f".msg.assistant[data-id='{second_answer}']")
    expect(page.locator(".msg.user .bubble")).to_have_text("Say hello.")


def test_edit_a_later_message(tab: Tab) -> None:
    page = tab.open().page
    tab.send("Hi.")
    tab.wait_replies(1)
    tab.send("What is 2+2?")
    tab.wait_replies(2)
    second_user = page.locator(".msg.user").nth(1)
    second_user.hover()
    second_user.locator("[data-action=edit]").click()
    second_user.locator(".edit-input").fill("What is 3+3?")
    second_user.locator(".edit-input").press("Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('.msg.user')[1]?.textContent.includes('3+3')"
    )
    tab.wait_replies(2)
    # The first exchange is untouched; only the edited turn has two versions.
    assert page.locator(".msg.user").nth(0).locator(".branch-pos").count() == 0
    expect(page.locator(".msg.user").nth(1).locator(".branch-pos")).to_have_text("2/2")


# -- the sidebar ------------------------------------------------------------------------------


def test_rename_search_and_delete_with_undo(tab: Tab, server: LiveServer) -> None:
    animals = _seed(
        server, [("user", "Tell me about the zebracorn."), ("assistant", "A striped unicorn.")],
        title="Animals",
    )  # fmt: skip
    plants = _seed(
        server, [("user", "Explain photosynthesis."), ("assistant", "Light to sugar.")],
        title="Plants",
    )  # fmt: skip
    page = tab.open().page
    row = page.locator(f".conv[data-id='{animals}']")
    row.wait_for()

    # Rename from the row's menu.
    row.hover()
    row.locator(".conv-more").click()
    page.click("#conv-menu [data-act=rename]")
    page.fill(".conv input.rename", "Mythical animals")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "id => document.querySelector(`.conv[data-id='${id}'] .conv-link`)?.textContent"
        " === 'Mythical animals'",
        arg=animals,
    )
    assert tab.api(f"/api/conversations/{animals}")["title"] == "Mythical animals"

    # Search finds message text as well as titles.
    page.fill("#search", "zebracorn")
    page.wait_for_function(
        "() => document.querySelectorAll('.conv').length === 1"
        " && document.querySelector('.conv .conv-link').textContent === 'Mythical animals'"
    )
    page.fill("#search", "plants")
    page.wait_for_function(
        "id => document.querySelectorAll('.conv').length === 1"
        " && document.querySelector('.conv').dataset.id === id",
        arg=plants,
    )
    page.fill("#search", "no such thing anywhere")
    page.wait_for_selector(".conv-empty")
    assert "no such thing anywhere" in page.inner_text(".conv-empty")
    page.fill("#search", "")
    page.wait_for_selector(f".conv[data-id='{plants}']")

    # Delete, then undo: nothing is lost.
    page.click(f".conv[data-id='{plants}'] .conv-link")
    page.wait_for_selector(".msg.assistant")
    row = page.locator(f".conv[data-id='{plants}']")
    row.hover()
    row.locator(".conv-more").click()
    page.click("#conv-menu [data-act=delete]")
    page.wait_for_selector(f".conv[data-id='{plants}']", state="detached")
    # Its page closes on the hash change that follows, a moment after the row goes.
    expect(page.locator(".msg")).to_have_count(0)
    page.click(".toast .toast-action")
    page.wait_for_selector(f".conv[data-id='{plants}']")
    assert tab.api(f"/api/conversations/{plants}")["title"] == "Plants"

    # Delete and let the undo window close: gone for good.
    row.hover()
    row.locator(".conv-more").click()
    page.click("#conv-menu [data-act=delete]")
    page.click(".toast .toast-close")
    for _ in range(50):
        if httpx.get(f"{server.url}/api/conversations/{plants}").status_code == 404:
            break
        page.wait_for_timeout(100)
    assert httpx.get(f"{server.url}/api/conversations/{plants}").status_code == 404
    tab.reload()
    page.wait_for_selector(f".conv[data-id='{animals}']")
    assert page.locator(f".conv[data-id='{plants}']").count() == 0


def test_sidebar_pages_in_older_chats_as_you_scroll(tab: Tab, server: LiveServer) -> None:
    from datetime import UTC, datetime, timedelta

    old = datetime.now(UTC) - timedelta(days=400)
    ids = [
        _seed(server, [("user", f"old question {i}")], title=f"Old chat {i:02d}",
              updated_at=old - timedelta(minutes=i))
        for i in range(45)
    ]  # fmt: skip
    page = tab.open().page
    page.wait_for_selector(".conv")
    last = f".conv[data-id='{ids[-1]}']"
    assert page.locator(last).count() == 0  # beyond the first page
    for _ in range(20):
        if page.locator(last).count():
            break
        page.locator("#conv-list").evaluate("el => el.scrollTo(0, el.scrollHeight)")
        page.wait_for_timeout(200)
    assert page.locator(last).count() == 1
    # Old chats are grouped under their day, with the year since it is not this one.
    heading = page.locator(".conv-group", has=page.locator(last)).locator("h3").inner_text()
    assert str(old.year) in heading or str((old - timedelta(days=1)).year) in heading


# -- models and settings ----------------------------------------------------------------------


def test_model_switch_and_chat_settings_are_remembered(tab: Tab) -> None:
    page = tab.open().page
    expect(page.locator("#model-name")).to_have_text("smollm2")
    page.click("#model-btn")
    options = page.locator("#model-menu [data-model]")
    assert options.evaluate_all("els => els.map(e => e.dataset.model)") == [
        "smollm2", "smollm2-b", "paced", "remote",
    ]  # fmt: skip
    page.click("#model-menu [data-model=smollm2-b]")
    expect(page.locator("#model-name")).to_have_text("smollm2-b")
    tab.send("Hello!")
    tab.wait_replies(1)
    expect(page.locator(".msg.assistant .msg-model")).to_have_text("smollm2-b")
    conv_id = tab.conv_id()
    assert tab.api(f"/api/conversations/{conv_id}")["model"] == "smollm2-b"

    # Per-chat settings: system prompt and temperature.
    page.click("#open-conv-settings")
    page.fill("#system-prompt", "Answer like a pirate.")
    page.uncheck("#temperature-default")
    page.eval_on_selector(
        "#temperature", "el => { el.value = '0.3'; el.dispatchEvent(new Event('input')); }"
    )
    page.click("#conv-settings-save")
    page.wait_for_function(
        "id => fetch(`/api/conversations/${id}`).then(r => r.json())"
        ".then(c => c.temperature === 0.3 && c.system_prompt === 'Answer like a pirate.')",
        arg=conv_id,
    )

    tab.reload()
    expect(page.locator("#model-name")).to_have_text("smollm2-b")
    page.click("#open-conv-settings")
    assert page.input_value("#system-prompt") == "Answer like a pirate."
    assert page.input_value("#temperature") == "0.3"
    assert not page.is_checked("#temperature-default")
    page.click("#conv-settings-cancel")

    # A new chat starts on the model picked last; switching back updates this chat.
    page.click("#new-chat")
    page.wait_for_selector(".main.empty")
    expect(page.locator("#model-name")).to_have_text("smollm2-b")
    page.go_back()
    page.wait_for_selector(".msg.assistant")
    page.click("#model-btn")
    page.click("#model-menu [data-model=smollm2]")
    page.wait_for_function(
        "id => fetch(`/api/conversations/${id}`).then(r => r.json())"
        ".then(c => c.model === 'smollm2')",
        arg=conv_id,
    )


def test_language_follows_the_browser_and_can_be_switched(browser: Any, server: Any) -> None:
    tab = Tab(browser, server, locale="fr-FR")
    try:
        page = tab.open().page
        assert page.get_attribute("html", "lang") == "fr"
        expect(page.locator(".hero h1")).to_have_text("Comment puis-je vous aider\u202f?")
        assert page.get_attribute("#input", "placeholder") == "Écrire à Causerie"
        expect(page.locator("#new-chat")).to_have_text("Nouvelle discussion")

        page.click("#open-prefs")
        page.select_option("#pref-lang", "en")
        expect(page.locator(".hero h1")).to_have_text("How can I help you today?")
        page.keyboard.press("Escape")
        tab.reload()
        assert page.get_attribute("html", "lang") == "en"
        expect(page.locator("#new-chat")).to_have_text("New chat")

        page.click("#open-prefs")
        page.select_option("#pref-lang", "fr")
        expect(page.locator("#open-prefs")).to_have_text("Paramètres")
        page.select_option("#pref-lang", "auto")  # back to the browser's language
        expect(page.locator("#open-prefs")).to_have_text("Paramètres")
        assert not tab.errors, tab.errors
    finally:
        tab.close()


def test_reload_keeps_draft_theme_and_conversation(tab: Tab, server: LiveServer) -> None:
    conv = _seed(server, [("user", "Keep me"), ("assistant", "Kept.")], title="Persistent")
    page = tab.open(f"/#/c/{conv}").page
    page.wait_for_selector(".msg.assistant")
    page.fill("#input", "half-written thought")
    page.click("#open-prefs")
    page.select_option("#pref-theme", "dark")
    page.click("#prefs button[type=submit]")
    tab.reload()
    expect(page.locator(".msg.assistant .markdown")).to_have_text("Kept.")
    assert page.input_value("#input") == "half-written thought"
    assert page.get_attribute("html", "data-theme") == "dark"
    expect(page.locator(".conv.active .conv-link")).to_have_text("Persistent")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(33, 33, 33)"
    # Another chat has its own (empty) draft.
    page.click("#new-chat")
    page.wait_for_selector(".main.empty")
    assert page.input_value("#input") == ""


# -- failures ---------------------------------------------------------------------------------


def test_provider_failure_shows_a_retryable_error(tab: Tab, upstream: ScriptedUpstream) -> None:
    page = tab.open().page
    page.click("#model-btn")
    page.click("#model-menu [data-model=remote]")
    upstream.failing = True
    try:
        tab.send("Are you there?")
        tab.wait_replies(1, "error", timeout=30)
        box = page.locator(".msg.assistant .error-box")
        assert box.is_visible()
        assert box.get_attribute("role") == "alert"
        assert "500" in box.inner_text() or "down" in box.inner_text()
        # The failure is stored: it is still explained after a reload.
        tab.reload()
        tab.wait_replies(1, "error")
        assert page.locator(".msg.assistant .error-box").is_visible()
    finally:
        upstream.failing = False
    page.click(".msg.assistant .error-box [data-action=retry]")
    tab.wait_replies(1, "complete", timeout=30)
    expect(page.locator(".msg.assistant .markdown")).to_have_text("The provider is back: all good.")
    expect(page.locator(".msg.assistant strong")).to_have_text("all good")
    # The failed attempt stays one click away.
    expect(page.locator(".msg.assistant .branch-pos")).to_have_text("2/2")


def test_provider_dropping_mid_answer_keeps_the_text_and_offers_retry(
    tab: Tab, upstream: ScriptedUpstream
) -> None:
    page = tab.open().page
    page.click("#model-btn")
    page.click("#model-menu [data-model=paced]")
    upstream.drop_after = 30
    try:
        tab.send("Tell me a long story.")
        # Text arrived before the failure: kept, as an interrupted answer.
        tab.wait_replies(1, "interrupted", timeout=30)
    finally:
        upstream.drop_after = None
    expect(page.locator(".msg.assistant .markdown")).to_contain_text("Sentence number 1 of")
    box = page.locator(".msg.assistant .error-box")
    expect(box).to_be_visible()
    expect(box).to_contain_text("The answer was cut off")
    expect(box).to_contain_text("dropped the connection")
    box.locator("[data-action=retry]").click()
    page.wait_for_function(
        "() => document.querySelector('.msg.assistant .markdown')?.textContent.length > 60"
    )
    page.click("#stop")
    tab.wait_replies(1, "interrupted", timeout=20)
    expect(page.locator(".msg.assistant .branch-pos")).to_have_text("2/2")


def test_a_refused_message_is_reported_and_the_text_kept(tab: Tab, server: LiveServer) -> None:
    conv = _seed(server, [("user", "Hello"), ("assistant", "Hi.")], title="Soon gone")
    page = tab.open(f"/#/c/{conv}").page
    page.wait_for_selector(".msg.assistant")
    # Deleted from another tab meanwhile: the server refuses the message with a 404.
    assert httpx.delete(f"{server.url}/api/conversations/{conv}").status_code == 204
    tab.send("Please keep this text.")
    page.wait_for_selector(".toast.error")
    assert conv in page.inner_text(".toast.error")
    assert page.input_value("#input") == "Please keep this text."
    tab.errors.clear()  # Chromium logs the refused request itself
