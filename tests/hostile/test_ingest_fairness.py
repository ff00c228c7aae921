"""One user's slow or numerous ingestion jobs never hold up another user's: jobs of one
user run in turn, other users' beside them (knowledge.ingest_workers)."""

from __future__ import annotations

from pathlib import Path

from causerie.settings import KnowledgeConfig, Settings
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
