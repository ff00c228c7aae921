from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import browser, tab, tab_options  # noqa: F401 (fixtures)
from tests.pg_support import DATABASES, Postgres, empty_database
from tests.support import (
    LiveServer,
    app_client,
    default_model,
    smol_model,
    smol_settings,
    write_config,
)


@pytest.fixture(scope="session")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """One in-process app on SmolLM2 shared by the whole session (fast breadth tests)."""
    async with app_client(smol_settings(tmp_path_factory.mktemp("app"))) as c:
        yield c


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real `causerie serve` process on SmolLM2, shared by the session."""
    base: Path = tmp_path_factory.mktemp("live")
    server = LiveServer(write_config(base / "causerie.toml", [smol_model()]), base / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The default model, joined from its wheels into a fresh data dir once for this run.

    Shared by every test on the default model: one start (~25 s) instead of one per file.
    """
    base: Path = tmp_path_factory.mktemp("default-model")
    server = LiveServer(write_config(base / "causerie.toml", [default_model()]), base / "data")
    try:
        yield server.start(timeout=600)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server with pgvector for the session, removed after it."""
    # Not in pytest's temporary tree: that is private to root (0700) and pgserver runs
    # the server as its own unprivileged user, which must reach the data directory.
    directory = Path(tempfile.mkdtemp(prefix="causerie-pg-"))
    directory.chmod(0o755)
    server = Postgres(directory)
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each supported kind: SQLite in tmp_path, a fresh PostgreSQL one."""
    url = empty_database(request, request.param, tmp_path)
    return url or f"sqlite:///{tmp_path / 'causerie.db'}"
