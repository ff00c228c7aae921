"""Ingestion jobs belong to the process that took them: a second `causerie serve` on the
same data directory (here failing to bind the first one's port) must not fail, cancel or
lose the first one's jobs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.knowledge_support import K, drip, web_site
from tests.support import LiveServer

DOCS = {
    f"note-{i}.md": f"# Note {i}\n\nThe keeper of lighthouse {i} rows out at dawn.\n".encode()
    for i in range(3)
}


def _wait_all(client: httpx.Client, job_ids: list[str], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = [client.get(f"{K}/jobs/{j}").json() for j in job_ids]
        if all(j["status"] not in ("queued", "running") for j in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise TimeoutError(jobs)
        time.sleep(0.2)


def test_a_second_server_on_the_same_data_dir_leaves_live_jobs_alone(tmp_path: Path) -> None:
    config = tmp_path / "causerie.toml"
    config.write_text("models = []\n[knowledge]\nallow_private_urls = true\n")
    data = tmp_path / "data"
    # A slow page (about 8 s) holds the first server's worker so the uploads stay queued.
    with web_site({"/slow.txt": drip(0.2, 40)}) as (site, _), LiveServer(config, data) as first:
        _second_server_during_jobs(first, site, config, data)


def _second_server_during_jobs(first: LiveServer, site: str, config: Path, data: Path) -> None:
    with httpx.Client(base_url=first.url, timeout=30) as client:
        col = client.post(f"{K}/collections", json={"name": "notes"}).json()["id"]
        r = client.post(f"{K}/collections/{col}/urls", json={"url": f"{site}/slow.txt"})
        assert r.status_code == 202, r.text
        ids = []
        for name, body in DOCS.items():
            r = client.post(
                f"{K}/collections/{col}/documents",
                files={"file": (name, body, "text/markdown")},
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["data"][0]["id"])
        assert all(client.get(f"{K}/jobs/{j}").json()["status"] == "queued" for j in ids)

        # The second server runs its start-up on the shared database, then cannot bind.
        second = subprocess.run(
                [sys.executable, "-m", "causerie", "serve", "--config", str(config),
                 "--data-dir", str(data), "--port", str(first.port)],
                capture_output=True, text=True, timeout=60, env=first.env,
            )  # fmt: skip
        assert second.returncode != 0
        assert "address already in use" in (second.stdout + second.stderr).lower()

        jobs = _wait_all(client, ids, timeout=90)
        assert [j["status"] for j in jobs] == ["succeeded"] * 3, jobs
        assert all(j["result"] == "indexed" and j["error"] is None for j in jobs)
