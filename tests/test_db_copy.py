"""`causerie db copy`: a SQLite install moved to PostgreSQL answers the same API calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from causerie.store.copy import row_counts
from causerie.store.db import make_engine
from tests.accounts_support import ADMIN, ADMIN_PASSWORD, create_user, site
from tests.core_support import conversation_events
from tests.knowledge_support import K, create_collection, ingest, search, term_counts
from tests.pg_support import Postgres
from tests.support import smol_settings


async def _answers(c: httpx.AsyncClient, conv: str, col: str) -> dict:
    """What a client reads of the install: a conversation, a collection, a search."""
    return {
        "conversation": (await c.get(f"/api/conversations/{conv}")).json(),
        "documents": (await c.get(f"{K}/collections/{col}/documents")).json(),
        "search": await search(c, col, "lighthouse keepers island"),
    }


async def test_a_sqlite_install_copied_to_postgresql_answers_the_same(
    postgres: Postgres, tmp_path: Path
) -> None:
    settings = smol_settings(tmp_path / "data")
    create_user(settings, ADMIN, ADMIN_PASSWORD, role="admin")
    async with site(settings) as s:
        c = await s.login(ADMIN, ADMIN_PASSWORD)
        conv = (await c.post("/api/conversations", json={"title": "moving"})).json()["id"]
        r = await c.post(
            f"/api/conversations/{conv}/messages", json={"content": "Hello", "max_tokens": 4}
        )
        assert conversation_events(r.text)[-1][0] == "done"
        col = await create_collection(c, "islands")
        text = b"The lighthouse keepers of the island were relieved every month."
        assert (await ingest(c, col, "keepers.txt", text, ""))["status"] == "succeeded"
        assert (await c.post("/api/keys", json={"name": "kept"})).status_code == 201
        before = await _answers(c, conv, col)

    target = postgres.fresh()
    cmd = [sys.executable, "-m", "causerie", "db", "copy", "--to", target]
    cmd += ["--data-dir", str(tmp_path / "data")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "every count checked" in done.stderr
    source, copied = make_engine(settings.db_url), make_engine(target)
    assert row_counts(copied) == row_counts(source)
    assert row_counts(copied)["knowledge_chunks"] > 0
    stored, recounted = term_counts(target)  # the copied chunks' terms, counted on arrival
    assert stored == recounted and len(stored) > 5
    source.dispose()
    copied.dispose()

    async with site(smol_settings(tmp_path / "pg", database_url=target)) as s:
        c = await s.login(ADMIN, ADMIN_PASSWORD)  # the password hash came along
        after = await _answers(c, conv, col)
        assert after == before
        vector = await search(c, col, "who relieved the keepers", mode="vector")
        assert [h["document"] for h in vector] == ["keepers.txt"]  # vectors came along
        new = await create_collection(c, "after the move")  # keys continue after copied ones
        assert (await ingest(c, new, "n.txt", b"A new note.", ""))["status"] == "succeeded"

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "not empty" in again.stderr
