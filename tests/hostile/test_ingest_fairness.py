"""One user's slow or numerous ingestion jobs never hold up another user's: jobs of one
user run in turn, other users' beside them (knowledge.ingest_workers)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from causerie.knowledge.jobs import claim_job
from causerie.knowledge.tables import Collection, Job
from causerie.settings import KnowledgeConfig, Settings
from causerie.store.db import Database, make_engine
from causerie.store.models import User, utcnow
from tests.accounts_support import create_user, site
from tests.knowledge_support import K, create_collection, drip, upload, wait_job, web_site

NOTE = b"# Harbour\n\nThe ferry to the island leaves at nine.\n"


async def test_a_slow_user_does_not_hold_up_another(tmp_path: Path) -> None:
    knowledge = KnowledgeConfig(allow_private_urls=True)
    settings = Settings(data_dir=tmp_path, models=[], knowledge=knowledge)
    for name in ("slow", "quick"):
        create_user(settings, name, f"{name} password 123")
    # A page taking about 6 s: one of the slow user's jobs, with uploads queued behind it.
    with web_site({"/slow.txt": drip(0.15, 40)}) as (url, _):
        async with site(settings) as s:
            slow = await s.login("slow", "slow password 123")
            quick = await s.login("quick", "quick password 123")
            col = await create_collection(slow, "many")
            r = await slow.post(f"{K}/collections/{col}/urls", json={"url": f"{url}/slow.txt"})
            fetching = r.json()["id"]
            queued = [
                (await upload(slow, col, f"n{i}.md", NOTE + bytes([48 + i]), "text/markdown"))["id"]
                for i in range(3)
            ]
            mine = await create_collection(quick, "mine")
            job = await upload(quick, mine, "harbour.md", NOTE, "text/markdown")
            done = await wait_job(quick, job["id"], timeout=30)
            assert done["status"] == "succeeded", done
            # The other user's slow job is still fetching, and their uploads wait their turn.
            assert (await slow.get(f"{K}/jobs/{fetching}")).json()["status"] == "running"
            states = [(await slow.get(f"{K}/jobs/{j}")).json()["status"] for j in queued]
            assert states == ["queued"] * 3, states
            for j in [fetching, *queued]:
                assert (await wait_job(slow, j, timeout=60))["status"] == "succeeded"


def test_the_claim_serves_users_in_turn_across_servers(tmp_path: Path) -> None:
    """The database claim decides fairness for every server: a user with a job running
    anywhere waits, and of the others, the one served least recently goes first."""
    db = Database(make_engine(f"sqlite:///{tmp_path / 'queue.db'}"))
    db.prepare()
    with db.session() as s:
        for user in "abc":
            s.add(User(id=user, name=user))
            s.flush()  # no relationship orders the inserts: the user first
            s.add(Collection(id=user * 32, owner_id=user, name="notes"))
            s.flush()
        for user, n in (("a", 2), ("b", 2), ("c", 1)):  # a's are the oldest
            for i in range(n):
                s.add(Job(owner_id=user, collection_id=user * 32, name=f"{user}{i}", source="x"))
                s.flush()

    def claim(server: str) -> str | None:
        with db.session() as s:
            job_id = claim_job(s, server, utcnow() + timedelta(seconds=30))
            return None if job_id is None else s.get_one(Job, job_id).name

    def finish(name: str) -> None:
        with db.session() as s:
            done = update(Job).where(Job.name == name)
            s.execute(done.values(status="succeeded", updated_at=utcnow()))

    try:
        assert [claim("one"), claim("two"), claim("one")] == ["a0", "b0", "c0"]
        assert claim("two") is None  # everyone has a job running: a1 and b1 wait
        for name in ("c0", "b0", "a0"):
            finish(name)
        # a was served last: b's job goes first, though a's is older.
        assert [claim("two"), claim("one"), claim("two")] == ["b1", "a1", None]
    finally:
        db.engine.dispose()
