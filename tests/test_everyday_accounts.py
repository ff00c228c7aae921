"""Data made in single-user mode stays reachable once accounts exist (CLI and API)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from causerie.settings import Settings
from tests.accounts_support import site
from tests.browser import seed_conversation
from tests.support import app_client

PASSWORD = "correct horse battery"


def _causerie(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causerie", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _make_local_data(client: httpx.AsyncClient) -> tuple[str, str]:
    """A conversation and a collection, as a single user makes them (no account)."""
    r = await client.post("/api/conversations", json={"title": "Avant les comptes"})
    assert r.status_code == 201, r.text
    c = await client.post("/api/knowledge/collections", json={"name": "Notes"})
    assert c.status_code == 201, c.text
    return r.json()["id"], c.json()["id"]


async def _visible(client: httpx.AsyncClient) -> tuple[list[str], list[str]]:
    convs = (await client.get("/api/conversations")).json()["data"]
    cols = (await client.get("/api/knowledge/collections")).json()["data"]
    return [c["id"] for c in convs], [c["id"] for c in cols]


async def test_first_admin_from_the_cli_takes_over_the_local_data(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models=[])  # no model: none is needed
    async with app_client(settings) as local:
        conv, col = await _make_local_data(local)
    made = _causerie(
        "users", "create", "--admin", "root", "--password-stdin", "--data-dir", str(tmp_path),
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "took over the data made before accounts: 1 conversation(s), 1 collection(s)" in (
        made.stdout
    )
    async with site(settings) as s:
        root = await s.login("root", PASSWORD)
        assert await _visible(root) == ([conv], [col])
        r = await root.get(f"/api/conversations/{conv}")
        assert r.status_code == 200 and r.json()["title"] == "Avant les comptes"
        # A second administrator finds nothing left to take, and sees nothing of root's.
        r = await root.post(
            "/api/admin/users", json={"name": "ops", "password": PASSWORD, "role": "admin"}
        )
        assert r.status_code == 201 and r.json()["claimed"] == {}, r.text
        assert await _visible(await s.login("ops", PASSWORD)) == ([], [])


async def test_first_admin_from_the_api_takes_over_and_claim_local_is_explicit(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, models=[])  # no model: none is needed
    async with site(settings) as s:
        local = await s.client()
        conv, col = await _make_local_data(local)
        # Single-user mode: the local user may create the first account over the API.
        r = await local.post(
            "/api/admin/users", json={"name": "root", "password": PASSWORD, "role": "admin"}
        )
        assert r.status_code == 201, r.text
        assert r.json()["claimed"] == {"conversations": 1, "collections": 1}
        root = await s.login("root", PASSWORD)
        assert await _visible(root) == ([conv], [col])
    # Left with the local user anyway (written by a script, say): --claim-local hands it over.
    late = seed_conversation(tmp_path, [("user", "Plus tard"), ("assistant", "Oui.")])
    made = _causerie(
        "users", "create", "bea", "--claim-local", "--password-stdin",
        "--data-dir", str(tmp_path), stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "bea took over the data made before accounts: 1 conversation(s)" in made.stdout
    async with site(settings) as s:
        bea = await s.login("bea", PASSWORD)
        assert await _visible(bea) == ([late], [])


async def test_cli_reset_password_and_unlock(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models=[])
    data = ["--data-dir", str(tmp_path)]
    assert _causerie("users", "create", "eve", "--password-stdin", *data, stdin=PASSWORD + "\n")
    async with site(settings) as s:
        c = await s.client()
        for _ in range(5):
            r = await c.post("/api/auth/login", json={"name": "eve", "password": "wrong guess"})
            assert r.status_code == 401
        r = await c.post("/api/auth/login", json={"name": "eve", "password": PASSWORD})
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_login_attempts"
        unlocked = _causerie("users", "unlock", "eve", *data)
        assert unlocked.returncode == 0, unlocked.stderr
        assert "unlocked eve (5 failed sign-in(s) forgotten)" in unlocked.stdout
        r = await c.post("/api/auth/login", json={"name": "eve", "password": PASSWORD})
        assert r.status_code == 200, r.text
        new = "another long passphrase"
        reset = _causerie("users", "reset-password", "eve", "--password-stdin", *data, stdin=new)
        assert reset.returncode == 0 and "password of eve changed" in reset.stdout, reset
        fresh = await s.client()  # without the session (and CSRF check) of the login above
        r = await fresh.post("/api/auth/login", json={"name": "eve", "password": PASSWORD})
        assert r.status_code == 401
        r = await fresh.post("/api/auth/login", json={"name": "eve", "password": new})
        assert r.status_code == 200, r.text
    missing = _causerie("users", "unlock", "nobody", *data)
    assert missing.returncode == 1 and "nobody" in missing.stderr, missing
