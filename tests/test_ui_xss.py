"""Hostile model output must stay inert in the browser: no script, no remote load, no navigation.

Each payload aims at a canary: `window.__pwned` for script, a counting HTTP server on
127.0.0.1 for remote loads. The text reaches the UI two ways:
- streamed by a model: a scripted OpenAI-compatible upstream (a stand-in for a remote
  provider) sends it token by token through Causerie's provider, SSE and the streaming
  renderer, which is then re-rendered once complete;
- stored: inserted in the database as an assistant reply (and as a title and user message),
  then read through the API like any old conversation. A real model cannot be made to say
  these bytes, so this is the honest way to render exact text through the same code path.
Assertions are on the canaries, never on markup.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bench.ui.upstream import ScriptedUpstream, remote_model_toml

from tests.browser import Canary, Tab, seed_conversation
from tests.support import LiveServer


def payloads(c: str) -> list[str]:
    """Markdown/HTML a hostile or confused model could write; c is the canary's URL."""
    return [
        "<script>window.__pwned = 'script'</script>",
        f"<script src='{c}/script.js'></script>",
        "<img src=x onerror=\"window.__pwned='img-onerror'\">",
        f"<img src='{c}/img.png'>",
        f"![tracking pixel]({c}/md-image.png)",
        f'![pixel with title]({c}/md-image2.png "title")',
        "<svg onload=\"window.__pwned='svg-onload'\"><circle r=10></circle></svg>",
        "<svg><script>window.__pwned='svg-script'</script></svg>",
        f"<svg><image href='{c}/svg-image.png'></image></svg>",
        "<svg><a xlink:href=\"javascript:window.__pwned='svg-link'\"><text>svg</text></a></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__pwned='mxss'\">",
        f"<iframe src='{c}/iframe'></iframe>",
        "<iframe srcdoc=\"<script>parent.__pwned='srcdoc'</script>\"></iframe>",
        f"<link rel=stylesheet href='{c}/style.css'>",
        f"<style>@import url('{c}/import.css'); body {{ background: url('{c}/bg.png') }}</style>",
        f"<div style=\"background:url('{c}/inline-style.png')\">styled</div>",
        f"<object data='{c}/object'></object>",
        f"<video poster='{c}/poster.png'></video>",
        f"<form action='{c}/form'><button>submit</button></form>",
        "<meta http-equiv=refresh content=\"0;url=javascript:window.__pwned='meta'\">",
        f"<base href='{c}/'>",
        "<details open ontoggle=\"window.__pwned='details'\">x</details>",
        "<a href='#' onclick=\"window.__pwned='onclick'\">onclick link</a>",
        "<a href=\"javascript:window.__pwned='html-link'\">html js link</a>",
        "[markdown js link](javascript:window.__pwned='md-link')",
        "[encoded js link](javascript&#58;window.__pwned='md-encoded')",
        "[entity js link](&#106;avascript:window.__pwned='md-entity')",
        "[spaced js link](<javascript:window.__pwned='md-spaced'>)",
        "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[vbscript link](vbscript:msgbox(1))",
        "<javascript:window.__pwned='autolink'>",
        "[reference js link][ref]\n\n[ref]: javascript:window.__pwned='md-ref'",
        "[relative link](/api/conversations)",
        "`<img src=x onerror=window.__pwned='code'>`",
        "```html\n</code></pre><img src=x onerror=\"window.__pwned='fence'\">\n```",
        "$\\href{javascript:window.__pwned='katex'}{katex link}$",
        f"$$\\includegraphics{{{c}/katex.png}}$$",
        f"| a | b |\n|---|---|\n| <img src={c}/table.png> | [t](javascript:window.__pwned='t') |",
    ]


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with Canary() as c:
        yield c


@pytest.fixture(scope="module")
def upstream(canary: Canary) -> Iterator[ScriptedUpstream]:
    scripts = {"xss": "\n\n".join(payloads(canary.url))}
    with ScriptedUpstream(scripts, tokens_per_second=400) as up:
        yield up


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("ui-xss")
    (base / "causerie.toml").write_text(remote_model_toml("hostile", upstream, "xss"))
    with LiveServer(base / "causerie.toml", base / "data") as live:
        yield live


@pytest.fixture
def tab(tab: Tab) -> Tab:
    """The shared tab, also recording dialogs, popups and CSP violations."""
    t = tab
    t.check_errors = False  # the payloads' blocked loads are logged as console errors
    t.dialogs: list[str] = []
    t.popups: list[str] = []
    t.page.on("dialog", lambda d: (t.dialogs.append(d.message), d.dismiss()))
    t.context.on("page", lambda p: t.popups.append(p.url))
    # Record CSP violations: with the sanitizer working there should be none to block.
    t.page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    return t


def _assert_inert(tab: Tab, canary: Canary, url: str) -> None:
    page = tab.page
    page.wait_for_timeout(800)  # time for any load or handler to fire
    _assert_canaries(tab, canary, url)
    # Click everything that looks like a link but is not a plain web link.
    for link in page.locator(".msg .markdown a:not([href^='http'])").all():
        link.click(timeout=5000)
    page.wait_for_timeout(300)
    _assert_canaries(tab, canary, url)


def _assert_canaries(tab: Tab, canary: Canary, url: str) -> None:
    page = tab.page
    assert page.evaluate("window.__pwned") is None
    assert canary.hits == []
    assert tab.dialogs == []
    assert tab.popups == []
    assert page.url == url  # nothing navigated the page
    assert page.evaluate("window.__csp") == []  # the sanitizer stopped it before the CSP


def test_streamed_hostile_output_is_inert(tab: Tab, canary: Canary) -> None:
    page = tab.open().page
    page.click("#model-btn")
    page.click("#model-menu [data-model=hostile]")
    tab.send("Say something nasty.")
    tab.wait_replies(1, timeout=60)
    url = page.url
    # What the model wrote is shown as text, not dropped.
    text = page.inner_text(".msg.assistant .markdown")
    assert "<script>window.__pwned = 'script'</script>" in text
    _assert_inert(tab, canary, url)
    # Web links the model gives open in a new tab, never in this one.
    web = page.locator(".msg.assistant .markdown a[href^='http']")
    assert web.count() >= 2
    for target in web.evaluate_all("els => els.map(e => [e.target, e.rel])"):
        assert target == ["_blank", "noopener noreferrer nofollow"]


def test_stored_hostile_text_is_inert(tab: Tab, canary: Canary, server: LiveServer) -> None:
    hostile = payloads(canary.url)
    conv = seed_conversation(
        server.data_dir,
        [("user", hostile[2] + "\n" + hostile[0]), ("assistant", "\n\n".join(hostile))],
        title="<img src=x onerror=\"window.__pwned='title'\">",
    )
    page = tab.open(f"/#/c/{conv}").page
    page.wait_for_selector(".msg.assistant .markdown:not(.lazy)")
    assert "onerror" in page.inner_text(".msg.user .bubble")
    assert "onerror" in page.inner_text(f".conv[data-id='{conv}'] .conv-link")
    _assert_inert(tab, canary, page.url)
    # Copy and edit put the text in a textarea, never in HTML.
    page.hover(".msg.user")
    page.click(".msg.user [data-action=edit]")
    assert page.input_value(".msg.user .edit-input").startswith("<img src=x onerror")
    page.keyboard.press("Escape")
    _assert_inert(tab, canary, page.url)


def test_csp_blocks_what_a_sanitizer_bug_would_let_through(tab: Tab, canary: Canary) -> None:
    """The second wall: markup injected past the sanitizer still cannot run or load."""
    page = tab.open().page
    page.evaluate(
        """c => {
        const box = document.createElement('div');
        box.innerHTML = `<img src="${c}/csp-img.png">`
            + `<img src="x" onerror="window.__pwned = 'csp-handler'">`
            + `<iframe src="${c}/csp-frame"></iframe>`;
        document.body.append(box);
        const s = document.createElement('script');
        s.textContent = "window.__pwned = 'csp-inline'";
        document.body.append(s);
    }""",
        canary.url,
    )
    page.wait_for_timeout(800)
    assert page.evaluate("window.__pwned") is None
    assert canary.hits == []
    blocked = " ".join(page.evaluate("window.__csp"))
    assert "img-src" in blocked and "script-src" in blocked
    tab.errors.clear()  # Chromium logs each blocked load as a console error
