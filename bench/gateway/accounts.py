"""Accounts for the bench: users made the way an operator makes them, an API key per client."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from bench.gateway.procs import python_module

ADMIN = "soak-admin"
PASSWORD = "soak-password"


def create_admin(config: Path, data: Path, name: str = ADMIN) -> None:
    """`causerie users create --admin NAME`, the password on stdin, as an operator does."""
    cmd = python_module("causerie", "users", "create", name, "--admin", "--password-stdin")
    cmd += ["--config", str(config), "--data-dir", str(data)]
    subprocess.run(cmd, input=PASSWORD + "\n", text=True, check=True, capture_output=True)


def login(client: httpx.Client, name: str) -> dict[str, str]:
    """Sign the client in; the CSRF header its writes must carry."""
    r = client.post("/api/auth/login", json={"name": name, "password": PASSWORD})
    r.raise_for_status()
    return {"X-CSRF-Token": r.json()["csrf_token"]}


def create_keys(url: str, config: Path, data: Path, users: int, keys: int) -> list[str]:
    """An administrator (`causerie users create --admin`), `users` users made through the
    admin API, and `keys` API keys spread over those users, in the order of their users.

    From the admin's creation on, the running server needs credentials on every call.
    """
    create_admin(config, data)
    names = [f"soak-user-{i}" for i in range(users)]
    with httpx.Client(base_url=url, timeout=60) as admin:
        csrf = login(admin, ADMIN)
        for name in names:
            body = {"name": name, "password": PASSWORD}
            admin.post("/api/admin/users", json=body, headers=csrf).raise_for_status()
    out = []
    for i, name in enumerate(names):
        with httpx.Client(base_url=url, timeout=60) as web:
            csrf = login(web, name)
            for client in range(i, keys, users):
                r = web.post("/api/keys", json={"name": f"client-{client}"}, headers=csrf)
                r.raise_for_status()
                out.append(r.json()["key"])
    return out
