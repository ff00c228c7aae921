"""A database another process holds locked: writes wait for it, reads go on, nothing is lost."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from tests.accounts_support import site
from tests.support import smol_settings

LOCK_SECONDS = 1.5


async def test_locked_database_delays_writes_without_failing_them(tmp_path: Path) -> None:
    settings = smol_settings(tmp_path)
    async with site(settings) as s:
        c = await s.client()
        before = (await c.post("/api/conversations", json={"title": "before"})).json()["id"]
        # Another process takes the write lock (as a backup or a second server would).
        other = sqlite3.connect(tmp_path / "causerie.db", check_same_thread=False)
        other.execute("BEGIN EXCLUSIVE")
        other.execute("UPDATE conversations SET title = 'held' WHERE id = ?", (before,))
        release = threading.Timer(LOCK_SECONDS, other.rollback)
        release.start()
        try:
            started = time.monotonic()
            write = asyncio.create_task(c.post("/api/conversations", json={"title": "during"}))
            await asyncio.sleep(0.3)
            # WAL: readers are not blocked by the writer's lock.
            listing = await c.get("/api/conversations")
            assert listing.status_code == 200 and not write.done()
            assert (await c.get("/health")).status_code == 200
            r = await write
            waited = time.monotonic() - started
        finally:
            release.join()
            other.close()
        assert r.status_code == 201, r.text
        assert waited >= LOCK_SECONDS * 0.8  # it waited for the lock instead of failing
        titles = {x["title"] for x in (await c.get("/api/conversations")).json()["data"]}
        assert titles == {"before", "during"}  # the rolled-back change never showed
