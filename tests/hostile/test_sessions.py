"""A stale or unknown session cookie must not lock its user out (API and browser)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from bench.ui.upstream import ScriptedUpstream, remote_model_toml

from tests.browser import Tab, create_user
from tests.support import LiveServer

PASSWORD = "correct horse battery"
COOKIE = "causerie_session"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("hostile-sessions")
    with ScriptedUpstream({"answer": "Hello."}, tokens_per_second=200) as upstream:
        config = base / "causerie.toml"
        config.write_text(remote_model_toml("remote", upstream, "answer"))
        data = base / "data"
        create_user(config, data, "alice", PASSWORD)
        with LiveServer(config, data) as live:
            yield live


def stale_cookie(server: LiveServer) -> str:
    """A session token that was real once: signed in, then ended on the server."""
    with httpx.Client(base_url=server.url) as c:
        r = c.post("/api/auth/login", json={"name": "alice", "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = c.cookies[COOKIE]
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        assert c.post("/api/auth/logout").status_code == 204
    return token


@pytest.mark.parametrize("kind", ["stale", "unknown"])
def test_a_dead_cookie_counts_as_signed_out(server: LiveServer, kind: str) -> None:
    token = stale_cookie(server) if kind == "stale" else "not-a-session-at-all"
    with httpx.Client(base_url=server.url, cookies={COOKIE: token}) as c:
        state = c.get("/api/auth/state")
        assert state.status_code == 200, state.text
        assert state.json()["authenticated"] is False

        out = c.post("/api/auth/logout")
        assert out.status_code == 204, out.text
        assert f'{COOKIE}=""' in out.headers.get("set-cookie", "")  # cleared

    with httpx.Client(base_url=server.url, cookies={COOKIE: token}) as c:
        r = c.post("/api/auth/login", json={"name": "alice", "password": PASSWORD})
        assert r.status_code == 200, r.text
        fresh = r.cookies[COOKIE]
        assert fresh != token  # replaced
    me = httpx.get(f"{server.url}/api/me", cookies={COOKIE: fresh})
    assert me.json()["name"] == "alice"
    # Elsewhere a dead cookie is still refused, not taken for someone.
    r = httpx.get(f"{server.url}/api/conversations", cookies={COOKIE: token})
    assert r.status_code == 401


def test_the_ui_shows_the_sign_in_form_over_a_stale_cookie(tab: Tab, server: LiveServer) -> None:
    tab.check_errors = False  # Chromium logs the refused stale session (401) itself
    tab.context.add_cookies([{"name": COOKIE, "value": stale_cookie(server), "url": server.url}])
    page = tab.page
    page.goto(server.url)
    page.wait_for_selector("#login")
    page.fill("#login-name", "alice")
    page.fill("#login-password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-ready]")
    assert page.locator("#login").count() == 0
