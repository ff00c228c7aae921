"""Helpers for the accounts tests: an app with users, one HTTP client per identity."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI

from causerie.app import create_app
from causerie.services.auth import AuthService
from causerie.settings import Settings
from causerie.store.db import Database, make_engine

ADMIN, ADMIN_PASSWORD = "root", "correct horse battery"


def create_user(settings: Settings, name: str, password: str, **kw: object) -> dict:
    """A user written to the database the way `causerie users create` does."""
    db = Database(make_engine(settings.db_url))
    try:
        db.prepare()
        return AuthService(db).create_user(name, password, **kw)  # type: ignore[arg-type]
    finally:
        db.engine.dispose()


@dataclass
class Site:
    """A started app and a way to open clients on it."""

    app: FastAPI
    stack: AsyncExitStack
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://causerie.test",
            headers=headers,
            timeout=120,
        )
        self.clients.append(await self.stack.enter_async_context(c))
        return c

    async def login(self, name: str, password: str) -> httpx.AsyncClient:
        """A client holding a session cookie and sending its CSRF token."""
        c = await self.client()
        r = await c.post("/api/auth/login", json={"name": name, "password": password})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    async def user_key(self, name: str, password: str, **limits: int) -> tuple[str, dict]:
        """Log in as a user and create an API key; (key, key object)."""
        c = await self.login(name, password)
        r = await c.post("/api/keys", json={"name": "test", **limits})
        assert r.status_code == 201, r.text
        return r.json()["key"], r.json()


@asynccontextmanager
async def site(settings: Settings, timeout: float = 60) -> AsyncIterator[Site]:
    """The app, started, its models ready."""
    app = create_app(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        s = Site(app, stack)
        probe = await s.client()
        deadline = time.monotonic() + timeout
        while (await probe.get("/ready")).status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("models did not load")
            await asyncio.sleep(0.1)
        yield s
