"""Browser-test helpers: Debian's Chromium under Playwright, and conversations seeded in the DB."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from causerie.store.db import Database, make_engine
from causerie.store.models import LOCAL_USER_ID, Conversation, Message, new_id
from tests.support import LiveServer

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling home, which this
# sandbox refuses; Playwright adds --headless and a fresh --user-data-dir itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for a test module (registered for every test by tests/conftest.py)."""
    with chromium() as b:
        yield b


@pytest.fixture
def tab_options() -> dict[str, Any]:
    """Browser-context options of `tab`; a module overrides this fixture (e.g. its locale)."""
    return {}


@pytest.fixture
def tab(browser: Any, server: LiveServer, tab_options: dict[str, Any]) -> Iterator[Tab]:
    """A fresh context and page on the module's `server`; no page errors unless allowed."""
    t = Tab(browser, server, **tab_options)
    try:
        yield t
        if t.check_errors:
            assert not t.errors, t.errors
    finally:
        t.close()


def create_user(config: Path, data: Path, name: str, password: str, *flags: str) -> None:
    """`causerie users create NAME --password-stdin [flags]`, as an administrator types it."""
    subprocess.run(
        [sys.executable, "-m", "causerie", "users", "create", name, "--password-stdin",
         "--config", str(config), "--data-dir", str(data), *flags],
        input=password + "\n", text=True, check=True, capture_output=True,
    )  # fmt: skip


def smol_models_toml(names: Sequence[str], extra: str = "") -> str:
    """TOML serving SmolLM2 under each of these names (a real model, loaded once per name)."""
    blocks = [extra] if extra else []
    for name in names:
        blocks.append(
            f'[[models]]\nname = "{name}"\nbuiltin = "smollm2-135m"\nn_ctx = 4096\n'
            "n_parallel = 2\nthreads = 2\n"
        )
    return "\n".join(blocks)


def seed_conversation(
    data_dir: Path,
    messages: Sequence[tuple[str, str]],
    *,
    title: str = "Seeded",
    model: str | None = None,
    status: str = "complete",
    updated_at: datetime | None = None,
) -> str:
    """Store a conversation directly, as if these (role, content) turns had happened.

    Used where the text must be exact (XSS payloads, benchmarks): a real model cannot be
    made to say it. The UI then reads it through the API like any other conversation.
    """
    db = Database(make_engine(f"sqlite:///{data_dir / 'causerie.db'}"))
    start = updated_at or datetime.now(UTC)
    first = start - timedelta(seconds=len(messages) + 1)
    try:
        with db.session() as s:
            conv = Conversation(
                id=new_id(),
                owner_id=LOCAL_USER_ID,
                title=title,
                model=model,
                created_at=first,
                updated_at=start,
            )
            s.add(conv)
            parent = None
            for i, (role, content) in enumerate(messages):
                msg = Message(
                    id=new_id(),
                    conversation_id=conv.id,
                    owner_id=LOCAL_USER_ID,
                    parent_id=parent,
                    role=role,
                    content=content,
                    status=status if role == "assistant" else "complete",
                    model=model if role == "assistant" else None,
                    created_at=first + timedelta(seconds=i),
                    updated_at=first + timedelta(seconds=i),
                )
                s.add(msg)
                s.flush()
                parent = msg.id
            conv.current_leaf_id = parent
            return conv.id
    finally:
        db.engine.dispose()


class Canary:
    """A real HTTP server on 127.0.0.1 that counts every request: XSS payloads aim at it."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Canary:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Tab:
    """One browser context + page, recording what a user would not want to see."""

    def __init__(self, browser: Any, server: LiveServer, **context: Any):
        from playwright.sync_api import expect

        # A loaded CI machine can take more than Playwright's 5 s default to settle a view.
        expect.set_options(timeout=20_000)
        self.server = server
        # Tests that provoke errors on purpose (a refused sign-in, a blocked payload) clear it.
        self.check_errors = True
        options = {"viewport": {"width": 1280, "height": 860}, "locale": "en-US", **context}
        self.context = browser.new_context(**options)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )

    def open(self, path: str = "/") -> Tab:
        self.page.goto(self.server.url + path)
        self.page.wait_for_selector("body[data-ready]")
        return self

    def reload(self) -> Tab:
        self.page.reload()
        self.page.wait_for_selector("body[data-ready]")
        return self

    def send(self, text: str) -> None:
        self.page.fill("#input", text)
        self.page.keyboard.press("Enter")

    def wait_replies(self, count: int, status: str = "complete", timeout: float = 90) -> None:
        """Until there are count assistant messages and the last one has this status."""
        self.page.wait_for_function(
            """([n, status]) => {
                const all = document.querySelectorAll('.msg.assistant');
                return all.length === n && all[n - 1].dataset.status === status;
            }""",
            arg=[count, status],
            timeout=timeout * 1000,
        )

    def conv_id(self) -> str:
        match = re.search(r"#/c/(\w+)", self.page.url)
        assert match, self.page.url
        return match.group(1)

    def api(self, path: str) -> Any:
        r = httpx.get(self.server.url + path, timeout=10)
        r.raise_for_status()
        return r.json()

    def close(self) -> None:
        self.context.close()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (rule: targets)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]} {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
