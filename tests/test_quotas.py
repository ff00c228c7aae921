"""Rate limits and token quotas per user and per key, shared by processes on one database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.accounts_support import ADMIN, ADMIN_PASSWORD, Site, create_user, site
from tests.support import SMOL, LiveServer, smol_model, smol_settings, write_config

CHAT = {"model": SMOL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}


def _fresh_minute(needed: float = 20) -> None:
    """Start a per-minute count early enough in a minute that it cannot straddle two."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.2)


def _assert_429(r: httpx.Response, code: str = "rate_limit_exceeded") -> float:
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert err["type"] == "rate_limit_error" and err["code"] == code
    retry_after = float(r.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


@pytest.fixture(scope="module")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    settings = smol_settings(tmp_path_factory.mktemp("quotas"))
    create_user(settings, ADMIN, ADMIN_PASSWORD, role="admin")
    create_user(settings, "limited", "limited-pw", requests_per_minute=2)
    create_user(settings, "frugal", "frugal-pw")
    async with site(settings) as s:
        yield s


async def test_requests_per_minute_per_user(web: Site) -> None:
    key, _ = await web.user_key("limited", "limited-pw")
    c = await web.client(key)
    await asyncio.to_thread(_fresh_minute)
    for _ in range(2):
        assert (await c.post("/v1/chat/completions", json=CHAT)).status_code == 200
    retry_after = _assert_429(await c.post("/v1/chat/completions", json=CHAT))
    assert retry_after <= 60
    # The limit is the user's: a second key of the same user shares it.
    other, _ = await web.user_key("limited", "limited-pw")
    _assert_429(await (await web.client(other)).post("/v1/chat/completions", json=CHAT))
    # Reads are not model calls: they are not counted or refused.
    assert (await c.get("/v1/models")).status_code == 200
    # Conversation turns are model calls too.
    conv = (await c.post("/api/conversations", json={})).json()["id"]
    r = await c.post(f"/api/conversations/{conv}/messages", json={"content": "hi"})
    _assert_429(r)


async def test_tokens_per_day_per_key(web: Site) -> None:
    key, _ = await web.user_key("frugal", "frugal-pw", tokens_per_day=1)
    c = await web.client(key)
    first = await c.post("/v1/chat/completions", json=CHAT)
    assert first.status_code == 200  # under quota when it starts; its tokens then count
    retry_after = _assert_429(await c.post("/v1/chat/completions", json=CHAT))
    assert retry_after <= 86400
    # The user's other keys are not bound by this key's quota.
    free, _ = await web.user_key("frugal", "frugal-pw")
    assert (await (await web.client(free)).post("/v1/chat/completions", json=CHAT)).is_success
    usage = (await c.get("/api/usage")).json()["data"]
    assert usage[0]["requests"] == 2 and usage[0]["total_tokens"] > 2


async def test_admin_sets_a_users_daily_tokens(web: Site) -> None:
    admin = await web.login(ADMIN, ADMIN_PASSWORD)
    created = await admin.post(
        "/api/admin/users", json={"name": "capped", "password": "capped-pw", "tokens_per_day": 1}
    )
    assert created.status_code == 201
    key, _ = await web.user_key("capped", "capped-pw")
    c = await web.client(key)
    assert (await c.post("/v1/chat/completions", json=CHAT)).status_code == 200
    _assert_429(await c.post("/v1/chat/completions", json=CHAT))
    lifted = await admin.patch(
        f"/api/admin/users/{created.json()['id']}", json={"tokens_per_day": None}
    )
    assert lifted.json()["tokens_per_day"] is None
    assert (await c.post("/v1/chat/completions", json=CHAT)).status_code == 200


# -- several processes on one database ---------------------------------------------------


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, ...]]:
    """Two `causerie serve` processes sharing one SQLite file, an admin made by the CLI."""
    base: Path = tmp_path_factory.mktemp("shared")
    config = write_config(base / "causerie.toml", [smol_model(n_parallel=1)])
    data = base / "data"
    settings = smol_settings(data)
    create_user(settings, ADMIN, ADMIN_PASSWORD, role="admin")
    servers = [LiveServer(config, data), LiveServer(config, data)]
    try:
        for server in servers:
            server.start()
        yield tuple(servers)
    finally:
        for server in servers:
            server.stop()


def test_processes_sharing_a_database_share_the_limits(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    login = httpx.post(f"{a.url}/api/auth/login", json={"name": ADMIN, "password": ADMIN_PASSWORD})
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    made = httpx.post(
        f"{a.url}/api/keys",
        json={"name": "shared", "requests_per_minute": 3},
        cookies=login.cookies,
        headers=csrf,
    )
    key = made.json()["key"]
    auth = {"Authorization": f"Bearer {key}"}
    _fresh_minute()
    statuses = []
    for server in (a, b, a, b, a, b):
        r = httpx.post(f"{server.url}/v1/chat/completions", json=CHAT, headers=auth, timeout=60)
        statuses.append(r.status_code)
        if r.status_code == 429:
            _assert_429(r)
    assert statuses == [200, 200, 200, 429, 429, 429]
    # Usage written by both processes, summed in one place.
    usage = httpx.get(f"{b.url}/api/usage", headers=auth).json()["data"]
    assert usage[0]["requests"] == 3


def test_no_secret_reaches_the_logs(two_servers: tuple[LiveServer, LiveServer]) -> None:
    a, _ = two_servers
    login = httpx.post(f"{a.url}/api/auth/login", json={"name": ADMIN, "password": ADMIN_PASSWORD})
    token = login.cookies["causerie_session"]
    csrf = login.json()["csrf_token"]
    key = httpx.post(
        f"{a.url}/api/keys",
        json={"name": "log-check"},
        cookies=login.cookies,
        headers={"X-CSRF-Token": csrf},
    ).json()["key"]
    httpx.get(f"{a.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    bad = httpx.get(f"{a.url}/v1/models", headers={"Authorization": f"Bearer {key}x"})
    assert bad.status_code == 401 and key not in bad.text
    httpx.post(f"{a.url}/api/auth/login", json={"name": ADMIN, "password": "wrong-password"})
    time.sleep(0.5)  # let the access log line reach the file
    log = a.log.read_text()
    assert "GET /v1/models" in log  # the log is there, and it does log requests
    for secret in (key, key[12:], token, csrf, ADMIN_PASSWORD, "wrong-password"):
        assert secret not in log
