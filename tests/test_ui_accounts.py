"""The web UI on a server with accounts: sign in, chat (CSRF-checked writes), sign out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.ui.upstream import ScriptedUpstream, remote_model_toml
from playwright.sync_api import expect

from tests.browser import Tab, chromium
from tests.support import LiveServer

PASSWORD = "correct horse battery"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream({"answer": "Hello, **Alice**."}, tokens_per_second=200) as up:
        yield up


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("ui-accounts")
    config = base / "causerie.toml"
    config.write_text(remote_model_toml("remote", upstream, "answer"))
    data = base / "data"
    subprocess.run(
        [sys.executable, "-m", "causerie", "users", "create", "alice", "--password-stdin",
         "--config", str(config), "--data-dir", str(data)],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True,
    )  # fmt: skip
    with LiveServer(config, data) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def tab(browser: Any, server: LiveServer) -> Iterator[Tab]:
    """A fresh browser context on the sign-in form."""
    tab = Tab(browser, server)
    try:
        tab.page.goto(server.url)
        tab.page.wait_for_selector("#login")
        yield tab
    finally:
        tab.close()


def test_sign_in_chat_and_sign_out(tab: Tab) -> None:
    page = tab.page
    assert page.locator("body[data-ready]").count() == 0  # nothing loads before login
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(ARTIFACTS / "ui-login.png"))

    page.fill("#login-name", "alice")
    page.fill("#login-password", "wrong password")
    page.click("#login button[type=submit]")
    expect(page.locator(".login-error")).not_to_be_empty()
    assert page.locator("#login").is_visible()
    tab.errors.clear()  # Chromium logs the refused login (401) itself

    page.fill("#login-password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-ready]")
    assert page.locator("#login").count() == 0

    # Writes carry the CSRF token: creating the chat and streaming the answer work.
    tab.send("Hi!")
    tab.wait_replies(1, timeout=30)
    expect(page.locator(".msg.assistant strong")).to_have_text("Alice")
    conv = tab.conv_id()

    tab.reload()
    page.wait_for_selector(f".conv[data-id='{conv}']")  # still signed in
    page.click("#open-prefs")
    expect(page.locator("#account-name")).to_have_text("alice")
    page.click("#logout")
    page.wait_for_selector("#login")
    # The session is gone on the server too.
    cookies = {c["name"]: c["value"] for c in tab.context.cookies()}
    assert "causerie_session" not in cookies
    assert not tab.errors, tab.errors


def test_repeated_failed_sign_ins_say_when_to_try_again(tab: Tab) -> None:
    page = tab.page
    statuses = []
    for _ in range(6):  # the default allows 5 failures per account in 15 minutes
        page.fill("#login-name", "mallory")
        page.fill("#login-password", "guess guess")
        with page.expect_response("**/api/auth/login") as answer:
            page.click("#login button[type=submit]")
        statuses.append(answer.value.status)
    assert statuses == [401] * 5 + [429]
    error = page.locator(".login-error")
    expect(error).to_contain_text("Too many failed sign-ins")
    expect(error).to_contain_text("Try again in 15 minutes")
    assert page.locator("#login").is_visible()


def test_the_api_refuses_without_a_session(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/api/conversations")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"


def test_sign_in_errors_are_worded_in_french(browser: Any, server: LiveServer) -> None:
    tab = Tab(browser, server, locale="fr-FR")
    try:
        page = tab.page
        page.goto(server.url + "/")  # the sign-in screen: the app is not ready before it
        page.wait_for_selector("#login-name")
        error = page.locator(".login-error")
        for attempt in range(6):  # 5 failures are allowed per account in 15 minutes
            page.fill("#login-name", "bruno")
            page.fill("#login-password", "mauvais mot de passe")
            page.click("#login button[type=submit]")
            if attempt == 0:
                expect(error).to_have_text("Nom d’utilisateur ou mot de passe incorrect.")
                # The server's own words stay on hover.
                assert error.locator("span").get_attribute("title") == (
                    "Wrong user name or password."
                )
        expect(error).to_have_text("Trop de connexions échouées. Réessayez dans 15 minutes.")
    finally:
        tab.close()
