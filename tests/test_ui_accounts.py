"""The web UI on a server with accounts: sign in, chat (CSRF-checked writes), sign out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.ui.upstream import ScriptedUpstream, remote_model_toml
from playwright.sync_api import expect

from tests.browser import Tab, create_user, serious_violations
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
    create_user(config, data, "alice", PASSWORD)
    create_user(config, data, "carol", PASSWORD)  # changes her password
    create_user(config, data, "root", PASSWORD, "--admin")
    with LiveServer(config, data) as live:
        yield live


@pytest.fixture
def tab(tab: Tab) -> Tab:
    """The shared tab on the sign-in form (whose refusals Chromium logs as errors)."""
    tab.check_errors = False
    tab.page.goto(tab.server.url)
    tab.page.wait_for_selector("#login")
    return tab


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


@pytest.mark.parametrize("tab_options", [{"locale": "fr-FR"}])
def test_sign_in_errors_are_worded_in_french(tab: Tab) -> None:
    page = tab.page
    error = page.locator(".login-error")
    for attempt in range(6):  # 5 failures are allowed per account in 15 minutes
        page.fill("#login-name", "bruno")
        page.fill("#login-password", "mauvais mot de passe")
        page.click("#login button[type=submit]")
        if attempt == 0:
            expect(error).to_have_text("Nom d’utilisateur ou mot de passe incorrect.")
            # The server's own words stay on hover.
            assert error.locator("span").get_attribute("title") == "Wrong user name or password."
    expect(error).to_have_text("Trop de connexions échouées. Réessayez dans 15 minutes.")


def sign_in(tab: Tab, name: str, password: str = PASSWORD) -> Any:
    page = tab.page
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-ready]")
    page.click("#open-prefs")
    return page


def _login_status(server: LiveServer, name: str, password: str) -> int:
    r = httpx.post(f"{server.url}/api/auth/login", json={"name": name, "password": password})
    return r.status_code


def test_api_keys_are_created_copied_and_revoked_from_settings(tab: Tab) -> None:
    page = sign_in(tab, "alice")
    page.fill("#key-name", "laptop")
    page.click("#key-create")
    key = page.locator("#new-key-value")
    expect(key).to_have_text(re.compile(r"^\S{30,}$"))
    models = f"{tab.server.url}/v1/models"
    secret = key.inner_text()
    assert httpx.get(models, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page.click("#new-key-copy")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    row = page.locator("#key-list li", has_text="laptop")
    expect(row).to_contain_text(secret[:12])
    revoke = row.get_by_role("button")
    revoke.click()
    expect(revoke).to_have_text("Revoke for good?")  # a second click is needed
    revoke.click()
    expect(row.locator(".revoked")).to_be_visible()
    assert httpx.get(models, headers={"Authorization": f"Bearer {secret}"}).status_code == 401


@pytest.mark.parametrize("tab_options", [{"locale": "fr-FR"}])
def test_a_user_changes_her_password_in_french(tab: Tab, server: LiveServer) -> None:
    page = sign_in(tab, "carol")
    elsewhere = httpx.Client(base_url=server.url)  # carol signed in on another device
    elsewhere.post("/api/auth/login", json={"name": "carol", "password": PASSWORD})
    assert elsewhere.get("/api/me").status_code == 200
    status = page.locator("#password-status")
    page.fill("#password-current", "not my password")
    page.fill("#password-new", "a brand new secret")
    page.click("#password-save")
    expect(status).to_have_text("Le mot de passe actuel est incorrect.")
    page.fill("#password-current", PASSWORD)
    page.click("#password-save")
    expect(status).to_contain_text("Mot de passe changé")
    assert _login_status(server, "carol", PASSWORD) == 401
    assert _login_status(server, "carol", "a brand new secret") == 200
    # The other device's session ended with the change.
    assert elsewhere.get("/api/me").status_code == 401
    elsewhere.close()
    tab.reload()  # this session stayed signed in
    assert page.locator("#login").count() == 0


def test_an_admin_manages_users_from_the_users_page(tab: Tab, server: LiveServer) -> None:
    page = sign_in(tab, "root")
    page.click("#open-users")
    dialog = page.locator("#users-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("tr[data-name='alice']")).to_be_visible()
    assert not serious_violations(page)  # the users page, and Settings' account part below it
    page.fill("#new-user-name", "dan")
    page.fill("#new-user-password", "dan's first password")
    page.click("#new-user-create")
    expect(page.locator("#users-status")).to_have_text("dan: created.")
    assert _login_status(server, "dan", "dan's first password") == 200

    row = dialog.locator("tr[data-name='dan']")
    row.get_by_label("Tokens per day (dan)").fill("5000")
    row.get_by_role("button", name="Save").click()
    expect(page.locator("#users-status")).to_have_text("dan: saved.")
    row.get_by_label("New password (dan)").fill("dan's second password")
    row.get_by_role("button", name="Reset password").click()
    expect(page.locator("#users-status")).to_contain_text("dan: password reset")
    assert _login_status(server, "dan", "dan's first password") == 401
    assert _login_status(server, "dan", "dan's second password") == 200
    row.get_by_role("button", name="Disable").click()
    expect(row).to_have_class("disabled")
    assert _login_status(server, "dan", "dan's second password") == 401

    with httpx.Client(base_url=server.url) as admin:
        r = admin.post("/api/auth/login", json={"name": "root", "password": PASSWORD})
        users = {u["name"]: u for u in admin.get("/api/admin/users").json()["data"]}
        usage = admin.get("/api/admin/usage?days=30").json()["data"]
    assert users["dan"]["tokens_per_day"] == 5000 and users["dan"]["disabled"], users["dan"]
    assert r.status_code == 200
    # The usage column adds up the admin API's figures for each user.
    for name, user in users.items():
        used = sum(u["total_tokens"] for u in usage if u["user_id"] == user["id"])
        cell = dialog.locator(f"tr[data-name='{name}'] td.used")
        expect(cell).to_have_text(f"{used:,}")
