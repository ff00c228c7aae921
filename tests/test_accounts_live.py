"""Accounts over real sockets: login lockout shared by two server processes on one
database, and authentication before the request body is even parsed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from bench.ui.upstream import ScriptedUpstream, remote_model_toml

from tests.support import LiveServer

PER_ACCOUNT, PER_ADDRESS, WINDOW = 3, 6, 8
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two `causerie serve` processes on one data directory, with two accounts."""
    base = tmp_path_factory.mktemp("accounts-live")
    config = base / "causerie.toml"
    with ScriptedUpstream({"answer": "Hello."}, tokens_per_second=200) as upstream:
        config.write_text(
            f"login_failures_per_account = {PER_ACCOUNT}\n"
            f"login_failures_per_address = {PER_ADDRESS}\n"
            f"login_window_seconds = {WINDOW}\n" + remote_model_toml("remote", upstream, "answer")
        )
        data = base / "data"
        for name, password in PASSWORDS.items():
            subprocess.run(
                [sys.executable, "-m", "causerie", "users", "create", name, "--password-stdin",
                 "--config", str(config), "--data-dir", str(data)],
                input=password + "\n", text=True, check=True, capture_output=True,
            )  # fmt: skip
        with LiveServer(config, data) as first, LiveServer(config, data) as second:
            yield first, second


def _login(server: LiveServer, name: str, password: str, address: str) -> httpx.Response:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 (a local reverse proxy): each test
    # signs in from its own client address, so that address counts stay apart.
    return httpx.post(
        f"{server.url}/api/auth/login",
        json={"name": name, "password": password},
        headers={"X-Forwarded-For": address},
        timeout=30,
    )


def _locked(r: httpx.Response) -> float:
    """Retry-After of a lockout response (checked to be one)."""
    assert r.status_code == 429, r.text
    error = r.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "too_many_login_attempts"
    assert "Try again in" in error["message"] and "set-cookie" not in r.headers
    wait = float(r.headers["Retry-After"])
    assert 1 <= wait <= WINDOW
    return wait


def test_failed_logins_lock_the_account_on_every_process(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = servers
    for _ in range(PER_ACCOUNT):
        assert _login(first, "bob", "wrong password", "198.51.100.1").status_code == 401
    # The other process knows; even the right password is refused (it would be a hint).
    wait = _locked(_login(second, "bob", PASSWORDS["bob"], "198.51.100.1"))
    # The name typed in another case, from elsewhere: still the same locked account.
    elsewhere = _login(first, "BOB ", "wrong again", "198.51.100.9")
    assert _locked(elsewhere) and "account" in elsewhere.json()["error"]["message"]
    # Another account from the same address is not affected.
    assert _login(first, "alice", PASSWORDS["alice"], "198.51.100.1").status_code == 200

    time.sleep(wait)
    r = _login(second, "bob", PASSWORDS["bob"], "198.51.100.1")
    assert r.status_code == 200, r.text
    assert r.json()["user"]["name"] == "bob"


def test_failed_logins_lock_the_address(servers: tuple[LiveServer, LiveServer]) -> None:
    first, second = servers
    # Guessing across many names stays under each account's limit, not the address's.
    for i in range(PER_ADDRESS):
        server = (first, second)[i % 2]
        assert _login(server, f"guess{i}", "password1", "203.0.113.7").status_code == 401
    r = _login(first, "alice", PASSWORDS["alice"], "203.0.113.7")
    assert _locked(r) and "address" in r.json()["error"]["message"]
    assert _login(second, "alice", PASSWORDS["alice"], "203.0.113.8").status_code == 200


def test_a_success_forgets_earlier_typos(servers: tuple[LiveServer, LiveServer]) -> None:
    first, _ = servers
    for _ in range(2):
        for _ in range(PER_ACCOUNT - 1):
            assert _login(first, "alice", "typo", "192.0.2.1").status_code == 401
        assert _login(first, "alice", PASSWORDS["alice"], "192.0.2.2").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/api/conversations",
        "/api/conversations/nope/messages",
        "/api/keys",
    ],
)
def test_bad_json_without_credentials_is_401(
    servers: tuple[LiveServer, LiveServer], path: str
) -> None:
    first, _ = servers
    headers = {"Content-Type": "application/json"}
    r = httpx.post(f"{first.url}{path}", content=b'{"model": ', headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["type"] == "authentication_error"
    wrong_key = {**headers, "Authorization": "Bearer csk-not-a-key"}
    r = httpx.post(f"{first.url}{path}", content=b"{", headers=wrong_key)
    assert r.status_code == 401, r.text


def test_an_unreadable_upload_without_credentials_is_401(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    first, _ = servers
    url = f"{first.url}/api/knowledge/collections/x/documents"
    r = httpx.post(url, content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 401, r.text


def test_bad_json_with_credentials_is_400(servers: tuple[LiveServer, LiveServer]) -> None:
    first, _ = servers
    login = _login(first, "alice", PASSWORDS["alice"], "192.0.2.50")
    assert login.status_code == 200, login.text
    with httpx.Client(base_url=first.url, cookies=login.cookies, timeout=30) as web:
        web.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        key = web.post("/api/keys", json={"name": "bad-json"}).json()["key"]
        # A session without its CSRF header is refused before the body is read, too.
        r = web.post("/api/conversations", content=b"{", headers={"X-CSRF-Token": ""})
        assert r.status_code == 403, r.text
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    r = httpx.post(f"{first.url}/v1/chat/completions", content=b'{"model": ', headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == "The request body is not valid JSON."
    # The login form itself is public: its bad JSON stays a 400.
    r = httpx.post(f"{first.url}/api/auth/login", content=b"{", headers=headers)
    assert r.status_code == 400, r.text
