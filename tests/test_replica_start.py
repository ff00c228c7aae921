"""Several processes preparing one fresh database at the same moment, as replicas start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import causerie
from causerie.store.db import Database, make_engine, migration_scripts, revision
from causerie.store.models import LOCAL_USER_ID, User
from tests.pg_support import Postgres

PROCESSES = 4
ROUNDS = 4

# Each process is started (imports done, drivers loaded) before any round, then reads one
# database URL a line and prepares it, so the processes of a round start within
# milliseconds of each other, as replicas started together by an orchestrator do.
_WORKER = """
import sys, traceback
import psycopg, alembic.command  # loaded before the rounds: not part of the race
from causerie.store.db import Database, make_engine
print("ready", flush=True)
for line in sys.stdin:
    db = Database(make_engine(line.strip()))
    try:
        db.prepare()
    except Exception as exc:
        traceback.print_exc()
        print("failed", type(exc).__name__, str(exc).splitlines()[0], flush=True)
    else:
        print("ok", flush=True)
    finally:
        db.engine.dispose()
"""


@pytest.fixture(scope="module")
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    env = {**os.environ, "PYTHONPATH": str(Path(causerie.__file__).parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _prepare_together(procs: list[subprocess.Popen[str]], url: str) -> list[str]:
    """Every process prepares url at once; what each answered ("ok" or why it failed)."""
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(url + "\n")
    for p in procs:  # written first, flushed after: the lines leave as close together as can be
        assert p.stdin is not None
        p.stdin.flush()
    return [p.stdout.readline().strip() for p in procs if p.stdout is not None]


def _fresh(postgres_server: Postgres | None, directory: Path, n: int) -> str:
    if postgres_server is not None:
        return postgres_server.fresh()
    return f"sqlite:///{directory / f'round{n}' / 'causerie.db'}"


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_processes_preparing_one_fresh_database_at_once_all_succeed(
    kind: str,
    workers: list[subprocess.Popen[str]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    server = request.getfixturevalue("postgres") if kind == "postgresql" else None
    head = migration_scripts().get_current_head()
    for n in range(ROUNDS):
        url = _fresh(server, tmp_path, n)
        answers = _prepare_together(workers, url)
        assert answers == ["ok"] * PROCESSES, (n, answers)
        db = Database(make_engine(url))
        try:
            assert revision(db.engine) == head
            with db.session() as s:
                assert [u.id for u in s.query(User).all()] == [LOCAL_USER_ID]
        finally:
            db.engine.dispose()
