"""Accounts under attack: a password reset ends sessions; one lockout per account."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.accounts_support import ADMIN, ADMIN_PASSWORD, Site, create_user, site
from tests.support import smol_settings

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    settings = smol_settings(tmp_path_factory.mktemp("hostile-accounts"))
    create_user(settings, ADMIN, ADMIN_PASSWORD, role="admin")
    async with site(settings) as s:
        yield s


async def test_a_password_reset_ends_the_users_sessions(web: Site) -> None:
    admin = await web.login(ADMIN, ADMIN_PASSWORD)
    r = await admin.post("/api/admin/users", json={"name": "bob", "password": PASSWORD})
    assert r.status_code == 201, r.text
    bob_id = r.json()["id"]
    old = await web.login("bob", PASSWORD)  # e.g. the attacker who knew the password
    assert (await old.get("/api/conversations")).status_code == 200

    new_password = "a brand new passphrase"
    r = await admin.patch(f"/api/admin/users/{bob_id}", json={"password": new_password})
    assert r.status_code == 200, r.text
    assert (await old.get("/api/conversations")).status_code == 401
    assert (await old.post("/api/conversations", json={})).status_code in (401, 403)
    await web.login("bob", new_password)  # the owner signs in again


async def test_name_and_email_share_one_lockout(web: Site) -> None:
    admin = await web.login(ADMIN, ADMIN_PASSWORD)
    r = await admin.post(
        "/api/admin/users",
        json={"name": "carol", "password": PASSWORD, "email": "carol@example.com"},
    )
    assert r.status_code == 201, r.text
    guesser = await web.client()
    statuses = []
    for name in ["carol", "carol@example.com"] * 3:  # 6 guesses, 3 through each alias
        r = await guesser.post("/api/auth/login", json={"name": name, "password": "guess guess"})
        statuses.append(r.status_code)
    assert statuses == [401] * 5 + [429]
    # Locked by name, the right password does not work by email either.
    r = await guesser.post(
        "/api/auth/login", json={"name": "carol@example.com", "password": PASSWORD}
    )
    assert r.status_code == 429, r.text
