"""Who may call a route is declared on the route: private unless it says otherwise."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from causerie.app import create_app
from causerie.routers.auth import OPEN, PUBLIC, SIGN_IN, Access
from causerie.settings import Settings
from tests.accounts_support import create_user, site

PASSWORD = "a long enough password"


def _routes(app: FastAPI) -> list[APIRoute]:
    """Every API route as it is matched (included routers' dependencies merged in)."""
    found, stack = [], list(app.router.routes)
    while stack:
        route = stack.pop()
        if isinstance(route, APIRoute):
            found.append(route)
        stack.extend(getattr(getattr(route, "original_router", None), "routes", ()))
    return found


def test_only_the_sign_in_routes_and_the_probes_are_declared_open(tmp_path: Path) -> None:
    """The whole list of routes that take a request without credentials; every other
    route of the application needs them."""
    app = create_app(Settings(data_dir=tmp_path, models=[]))
    declared: dict[str, set[str]] = {}
    for route in _routes(app):
        names = [d.dependency.name for d in route.dependencies if isinstance(d.dependency, Access)]
        if names:
            declared.setdefault(names[-1], set()).add(route.path)
    assert declared == {
        "open": {"/health", "/ready", "/metrics", "/health/targets"},
        "public": {"/api/auth/login", "/api/auth/state"},
        "sign-in": {"/api/auth/logout"},
    }
    assert len(_routes(app)) > 50  # the walk above saw the included routers


async def test_a_new_route_is_private_unless_declared_public(tmp_path: Path) -> None:
    """Wherever its path is (under /api or elsewhere), a route added without a declaration
    refuses strangers; the same route declared PUBLIC or OPEN takes them."""
    settings = Settings(data_dir=tmp_path, models=[])
    create_user(settings, "alice", PASSWORD)
    added = APIRouter()
    for prefix in ("/api/new", "/ops"):
        added.add_api_route(f"{prefix}/private", lambda: {"ok": True})
        added.add_api_route(f"{prefix}/public", lambda: {"ok": True}, dependencies=[PUBLIC])
        added.add_api_route(f"{prefix}/open", lambda: {"ok": True}, dependencies=[OPEN])
        added.add_api_route(f"{prefix}/sign-in", lambda: {"ok": True}, dependencies=[SIGN_IN])
    async with site(settings) as s:
        s.app.include_router(added)
        s.app.router.routes.insert(0, s.app.router.routes.pop())  # before the UI at /
        stranger = await s.client()
        stale = await s.client()
        stale.cookies.set("causerie_session", "no-such-session")
        for prefix in ("/api/new", "/ops"):
            for client in (stranger, stale):
                r = await client.get(f"{prefix}/private")
                assert r.status_code == 401, (prefix, r.text)
                assert r.json()["error"]["type"] == "authentication_error"
                for name in ("public", "open"):
                    r = await client.get(f"{prefix}/{name}")
                    assert r.status_code == 200, (prefix, name, r.text)
            assert (await stranger.get(f"{prefix}/sign-in")).status_code == 401
            assert (await stale.get(f"{prefix}/sign-in")).status_code == 200
        alice = await s.login("alice", PASSWORD)
        assert (await alice.get("/ops/private")).json() == {"ok": True}
