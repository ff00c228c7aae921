"""Accounts: logins, API keys, CSRF, roles, and isolation between two users on every route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.accounts_support import ADMIN, ADMIN_PASSWORD, Site, create_user, site
from tests.knowledge_support import K, create_collection, upload, wait_job
from tests.pg_support import DATABASES, empty_database
from tests.support import SMOL, smol_settings


@pytest.fixture(scope="module", params=DATABASES)
async def web(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    """An app whose database already holds an administrator (as after `users create`)."""
    data = tmp_path_factory.mktemp("accounts")
    settings = smol_settings(data, database_url=empty_database(request, request.param, data))
    create_user(settings, ADMIN, ADMIN_PASSWORD, role="admin")
    async with site(settings) as s:
        yield s


@pytest.fixture(scope="module")
async def admin(web: Site) -> httpx.AsyncClient:
    return await web.login(ADMIN, ADMIN_PASSWORD)


@pytest.fixture(scope="module")
async def pair(web: Site, admin: httpx.AsyncClient) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """alice and bob, each a plain user with an API key, made through the admin API."""
    out = []
    for name in ("alice", "bob"):
        r = await admin.post("/api/admin/users", json={"name": name, "password": f"{name}-pw-123"})
        assert r.status_code == 201, r.text
        key, _ = await web.user_key(name, f"{name}-pw-123")
        out.append(await web.client(key))
    return out[0], out[1]


def _openai_error(r: httpx.Response, status: int, etype: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    if etype:
        assert err["type"] == etype
    return err


# -- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", f"/v1/models/{SMOL}"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/embeddings"),
        ("GET", "/api/conversations"),
        ("POST", "/api/conversations"),
        ("GET", "/api/me"),
        ("GET", "/api/keys"),
        ("GET", "/api/usage"),
        ("GET", f"{K}/collections"),
        ("GET", "/api/admin/users"),
    ],
)
async def test_every_api_route_needs_credentials_once_users_exist(
    web: Site, method: str, path: str
) -> None:
    anonymous = await web.client()
    r = await anonymous.request(method, path, json={})
    _openai_error(r, 401, "authentication_error")


async def test_health_ready_and_ui_shell_stay_open(web: Site) -> None:
    anonymous = await web.client()
    assert (await anonymous.get("/health")).status_code == 200
    assert (await anonymous.get("/ready")).status_code == 200
    page = await anonymous.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    state = (await anonymous.get("/api/auth/state")).json()
    assert state == {"mode": "accounts", "authenticated": False}


async def test_wrong_password_and_unknown_user_are_the_same_401(web: Site) -> None:
    c = await web.client()
    wrong = await c.post("/api/auth/login", json={"name": ADMIN, "password": "nope-nope"})
    unknown = await c.post("/api/auth/login", json={"name": "nobody", "password": "nope-nope"})
    assert _openai_error(wrong, 401) == _openai_error(unknown, 401)
    assert "set-cookie" not in wrong.headers


async def test_login_sets_a_hardened_session_cookie(web: Site) -> None:
    c = await web.client()
    r = await c.post("/api/auth/login", json={"name": ADMIN, "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    cookies = r.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("causerie_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    assert "secure" not in session.lower()  # plain http here; https sets Secure
    csrf = next(h for h in cookies if h.startswith("causerie_csrf="))
    assert "HttpOnly" not in csrf  # the page must read it to echo it
    assert "password_hash" not in r.text
    me = (await c.get("/api/me")).json()
    assert me["name"] == ADMIN and me["role"] == "admin" and me["authenticated_via"] == "session"


async def test_cookie_requests_that_change_things_need_the_csrf_header(web: Site) -> None:
    c = await web.login(ADMIN, ADMIN_PASSWORD)
    token = c.headers.pop("X-CSRF-Token")
    missing = await c.post("/api/conversations", json={"title": "csrf"})
    assert _openai_error(missing, 403)["code"] == "csrf_failed"
    forged = await c.post(
        "/api/conversations", json={"title": "csrf"}, headers={"X-CSRF-Token": "forged"}
    )
    _openai_error(forged, 403)
    assert (await c.get("/api/conversations")).status_code == 200  # reads need no token
    ok = await c.post("/api/conversations", json={"title": "csrf"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 201


async def test_logout_ends_the_session(web: Site) -> None:
    c = await web.login(ADMIN, ADMIN_PASSWORD)
    cookie = {"causerie_session": c.cookies["causerie_session"]}
    assert (await c.post("/api/auth/logout")).status_code == 204
    assert "causerie_session" not in c.cookies
    # The jar dropped it: replay the old one by hand, which the server must have forgotten.
    assert (await c.get("/api/me", cookies=cookie)).status_code == 401


async def test_api_key_is_shown_once_stored_hashed_and_revocable(
    web: Site, pair: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    alice = await web.login("alice", "alice-pw-123")
    r = await alice.post("/api/keys", json={"name": "laptop"})
    created = r.json()
    key = created["key"]
    assert key.startswith("csk-") and len(key) > 40 and key.startswith(created["prefix"])
    listed = (await alice.get("/api/keys")).json()["data"]
    assert all("key" not in k and key not in str(k) for k in listed)
    assert created["id"] in [k["id"] for k in listed]
    with_key = await web.client(key)
    assert (await with_key.get("/v1/models")).status_code == 200
    assert (await with_key.get("/api/me")).json()["authenticated_via"] == "key"
    assert (await alice.delete(f"/api/keys/{created['id']}")).json()["revoked_at"]
    _openai_error(await with_key.get("/v1/models"), 401, "authentication_error")


async def test_malformed_authorization_is_401(web: Site) -> None:
    c = await web.client()
    for header in ("Basic abc", "Bearer ", "csk-nothing", "Bearer csk-unknown-key"):
        r = await c.get("/v1/models", headers={"Authorization": header})
        _openai_error(r, 401, "authentication_error")


async def test_plain_users_cannot_administer(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    alice, _ = pair
    for method, path in [
        ("GET", "/api/admin/users"),
        ("POST", "/api/admin/users"),
        ("PATCH", "/api/admin/users/x"),
        ("GET", "/api/admin/usage"),
    ]:
        r = await alice.request(method, path, json={"name": "eve", "password": "12345678"})
        _openai_error(r, 403, "permission_error")


async def test_disabling_a_user_stops_their_keys_and_sessions(
    web: Site, admin: httpx.AsyncClient
) -> None:
    r = await admin.post("/api/admin/users", json={"name": "carol", "password": "carol-pw-1"})
    carol_id = r.json()["id"]
    key, _ = await web.user_key("carol", "carol-pw-1")
    session = await web.login("carol", "carol-pw-1")
    by_key = await web.client(key)
    assert (await by_key.get("/v1/models")).status_code == 200
    r = await admin.patch(f"/api/admin/users/{carol_id}", json={"disabled": True})
    assert r.json()["disabled"] is True
    _openai_error(await by_key.get("/v1/models"), 401)
    _openai_error(await session.get("/api/me"), 401)
    login = await (await web.client()).post(
        "/api/auth/login", json={"name": "carol", "password": "carol-pw-1"}
    )
    _openai_error(login, 401)
    await admin.patch(f"/api/admin/users/{carol_id}", json={"disabled": False})
    assert (await by_key.get("/v1/models")).status_code == 200


async def test_duplicate_user_names_are_refused(admin: httpx.AsyncClient) -> None:
    r = await admin.post("/api/admin/users", json={"name": ADMIN, "password": "another-pw"})
    _openai_error(r, 400, "invalid_request_error")
    short = await admin.post("/api/admin/users", json={"name": "dave", "password": "short"})
    assert _openai_error(short, 400)["param"] == "password"


# -- isolation ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def alices(pair: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> dict[str, str]:
    """One of each of alice's objects: conversation, messages, collection, document, key."""
    alice, _ = pair
    conv = (await alice.post("/api/conversations", json={"title": "alice's secret"})).json()
    r = await alice.post(
        f"/api/conversations/{conv['id']}/messages",
        json={"content": "Say hello.", "max_tokens": 4},
    )
    assert r.status_code == 200, r.text
    messages = (await alice.get(f"/api/conversations/{conv['id']}")).json()["messages"]
    col = await create_collection(alice, "alice-notes")
    job = await upload(alice, col, "notes.txt", b"Alice keeps her notes here.", "text/plain")
    done = await wait_job(alice, job["id"])
    assert done["status"] == "succeeded", done
    key = (await alice.post("/api/keys", json={"name": "second"})).json()
    resp = await alice.post(
        "/v1/responses", json={"model": SMOL, "input": "Say hello.", "max_output_tokens": 4}
    )
    assert resp.status_code == 200, resp.text
    chat = await _stored_chat(alice, {"owner": "alice"})
    return {
        "resp": resp.json()["id"],
        "chat": chat,
        "conv": conv["id"],
        "user_msg": messages[0]["id"],
        "reply": messages[-1]["id"],
        "col": col,
        "doc": done["document_id"],
        "job": job["id"],
        "key": key["id"],
    }


async def _stored_chat(client: httpx.AsyncClient, metadata: dict[str, str]) -> str:
    """The id of a new stored chat completion with this metadata."""
    r = await client.post(
        "/v1/chat/completions",
        json={
            "model": SMOL,
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 2,
            "store": True,
            "metadata": metadata,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["id"]


# Every route that names one of alice's objects; bob must get 404, exactly as for a
# made-up id, and the body must not differ either (no existence oracle).
OBJECT_ROUTES = [
    ("GET", "/api/conversations/{conv}", None),
    ("PATCH", "/api/conversations/{conv}", {"title": "pwned"}),
    ("PUT", "/api/conversations/{conv}/branch", {"message_id": "{reply}"}),
    ("POST", "/api/conversations/{conv}/messages", {"content": "hi", "max_tokens": 1}),
    ("POST", "/api/conversations/{conv}/messages/{reply}/regenerate", {"max_tokens": 1}),
    ("GET", "/api/conversations/{conv}/collections", None),
    ("PUT", "/api/conversations/{conv}/collections", {"collections": []}),
    ("GET", "/api/conversations/{conv}/grounding", None),
    ("POST", "/api/conversations/{conv}/own-collection", {"label": "Files"}),
    ("GET", f"{K}/collections/{{col}}", None),
    ("PATCH", f"{K}/collections/{{col}}", {"name": "pwned"}),
    ("GET", f"{K}/collections/{{col}}/documents", None),
    ("POST", f"{K}/collections/{{col}}/urls", {"url": "http://127.0.0.1:9/x"}),
    ("GET", f"{K}/collections/{{col}}/jobs", None),
    ("GET", f"{K}/jobs/{{job}}", None),
    ("POST", f"{K}/jobs/{{job}}/cancel", None),
    ("GET", f"{K}/documents/{{doc}}", None),
    ("GET", f"{K}/documents/{{doc}}/passage?start=0&end=5", None),
    ("POST", f"{K}/search", {"query": "notes", "collections": ["{col}"]}),
    ("GET", "/v1/responses/{resp}", None),
    ("GET", "/v1/responses/{resp}/input_items", None),
    ("POST", "/v1/responses/{resp}/cancel", None),
    ("POST", "/v1/responses", {"model": SMOL, "input": "hi", "previous_response_id": "{resp}"}),
    ("DELETE", "/v1/responses/{resp}", None),
    ("GET", "/v1/chat/completions/{chat}", None),
    ("POST", "/v1/chat/completions/{chat}", {"metadata": {"k": "v"}}),
    ("GET", "/v1/chat/completions/{chat}/messages", None),
    ("DELETE", "/v1/chat/completions/{chat}", None),
    ("DELETE", "/api/keys/{key}", None),
    ("DELETE", f"{K}/documents/{{doc}}", None),
    ("DELETE", f"{K}/collections/{{col}}", None),
    ("DELETE", "/api/conversations/{conv}", None),
]


def _fill(value: object, ids: dict[str, str]) -> object:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _shape(r: httpx.Response) -> tuple[int, str, str | None]:
    err = r.json()["error"]
    return r.status_code, err["type"], err["code"]


async def test_another_users_objects_are_404_on_every_route(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], alices: dict[str, str]
) -> None:
    alice, bob = pair
    fake = {k: "0" * 32 for k in alices}
    for method, path, body in OBJECT_ROUTES:
        theirs = await bob.request(method, _fill(path, alices), json=_fill(body, alices))
        missing = await bob.request(method, _fill(path, fake), json=_fill(body, fake))
        assert theirs.status_code == 404, (method, path, theirs.text)
        assert _shape(theirs) == _shape(missing), (method, path)
        # Same words as for a made-up id (the id the caller sent may be echoed).
        text = theirs.text
        for value in alices.values():
            text = text.replace(value, "0" * 32)
        assert text == missing.text, (method, path)
        assert "alice" not in theirs.text.lower()
    # Nothing of alice's changed or vanished.
    conv = (await alice.get(f"/api/conversations/{alices['conv']}")).json()
    assert conv["title"] == "alice's secret" and len(conv["messages"]) == 2
    assert (await alice.get(f"{K}/documents/{alices['doc']}")).status_code == 200
    keys = (await alice.get("/api/keys")).json()["data"]
    assert next(k for k in keys if k["id"] == alices["key"])["revoked_at"] is None
    assert (await alice.get(f"/v1/responses/{alices['resp']}")).status_code == 200
    mine = (await alice.get(f"/v1/chat/completions/{alices['chat']}")).json()
    assert mine["metadata"] == {"owner": "alice"}


async def test_document_upload_into_another_users_collection_is_404(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], alices: dict[str, str]
) -> None:
    _, bob = pair
    r = await bob.post(
        f"{K}/collections/{alices['col']}/documents",
        files={"file": ("x.txt", b"bob's words", "text/plain")},
    )
    _openai_error(r, 404)


async def test_another_users_objects_are_never_listed(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], alices: dict[str, str]
) -> None:
    alice, bob = pair
    assert (await alice.get("/api/conversations")).json()["data"]
    paths = ("/api/conversations", "/api/conversations?q=secret", f"{K}/collections")
    for path in (*paths, "/v1/chat/completions", "/v1/chat/completions?metadata[owner]=alice"):
        listing = (await bob.get(path)).json()
        assert listing["data"] == [], (path, listing)
    keys = (await bob.get("/api/keys")).json()["data"]
    assert alices["key"] not in {k["id"] for k in keys}
    assert (await bob.get("/api/usage")).json()["data"] == []


async def test_stored_completions_filter_by_metadata_on_each_database(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], alices: dict[str, str]
) -> None:
    """The metadata filter is SQL (json_extract on SQLite, ->> on PostgreSQL): both here."""
    alice, _ = pair
    tricky = 'l\'été "quoted" 100%'  # quotes and a LIKE wildcard: compared, not matched
    ids = []
    for n, note in (("1", tricky), ("2", "plain")):
        ids.append(await _stored_chat(alice, {"owner": "alice", "n": n, "note": note}))

    async def listed(**query: str) -> list[str]:
        r = await alice.get("/v1/chat/completions", params=query)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["data"]]

    assert await listed(**{"metadata[owner]": "alice"}) == [alices["chat"], *ids]
    assert await listed(**{"metadata[owner]": "alice", "metadata[n]": "2"}) == [ids[1]]
    assert await listed(**{"metadata[note]": tricky}) == [ids[0]]
    assert await listed(**{"metadata[note]": "l'été%"}) == []
    assert await listed(**{"metadata[n]": "1", "model": SMOL}) == [ids[0]]
    assert await listed(**{"metadata[n]": "1", "model": "other"}) == []
    assert await listed(**{"metadata[owner]": "bob"}) == []


async def test_another_users_collections_cannot_ground_a_chat(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], alices: dict[str, str]
) -> None:
    _, bob = pair
    own = (await bob.post("/api/conversations", json={})).json()["id"]
    attach = await bob.put(
        f"/api/conversations/{own}/collections", json={"collections": [alices["col"]]}
    )
    _openai_error(attach, 404)
    for ref in (alices["col"], "alice-notes"):
        r = await bob.post(
            "/v1/chat/completions",
            json={
                "model": SMOL,
                "messages": [{"role": "user", "content": "What are the notes?"}],
                "max_tokens": 4,
                "collections": [ref],
            },
        )
        _openai_error(r, 404)


async def test_usage_is_per_user_and_the_admin_sees_all(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    alices: dict[str, str],
    admin: httpx.AsyncClient,
) -> None:
    alice, _ = pair
    r = await alice.post(
        "/v1/chat/completions",
        json={"model": SMOL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3},
    )
    spent = r.json()["usage"]
    rows = (await alice.get("/api/usage")).json()["data"]
    assert [row["model"] for row in rows] == [SMOL]
    # The conversation turn (fixture) and this call: both counted, to the token.
    assert rows[0]["requests"] >= 2
    assert rows[0]["completion_tokens"] >= spent["completion_tokens"]
    everyone = (await admin.get("/api/admin/usage")).json()["data"]
    assert {"alice"} <= {row["user"] for row in everyone}
    assert "bob" not in {row["user"] for row in everyone}


async def test_single_user_mode_needs_no_login(tmp_path: Path) -> None:
    async with site(smol_settings(tmp_path)) as s:
        c = await s.client()
        assert (await c.get("/api/auth/state")).json() == {
            "mode": "single-user",
            "authenticated": True,
        }
        me = (await c.get("/api/me")).json()
        assert me["id"] == "local" and me["authenticated_via"] == "local"
        # Clients that must send some key (the openai SDK) still work without accounts.
        sdk = await s.client("sk-anything")
        assert (await sdk.get("/v1/models")).status_code == 200
