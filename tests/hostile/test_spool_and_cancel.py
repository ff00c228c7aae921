"""Two `causerie serve` processes on one data directory: a cancel sent to the one that does
not run the job stops it on the other; uploads are received under the data directory (then
wait in the database), and what a killed server left there is removed when a server
starts, never a live server's files."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.knowledge_support import K, drip, web_site
from tests.support import LiveServer

DOC = b"# Tides\n\nThe harbour empties twice a day at low tide.\n"


def _job(client: httpx.Client, job_id: str) -> dict:
    return client.get(f"{K}/jobs/{job_id}").json()


def _wait(client: httpx.Client, job_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (job := _job(client, job_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


def _upload(client: httpx.Client, col: str, name: str) -> str:
    r = client.post(f"{K}/collections/{col}/documents", files={"file": (name, DOC, "text/plain")})
    assert r.status_code == 202, r.text
    return r.json()["data"][0]["id"]


def _fetch(client: httpx.Client, col: str, url: str) -> str:
    r = client.post(f"{K}/collections/{col}/urls", json={"url": url})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_cancel_across_processes_and_spools_under_the_data_dir(tmp_path: Path) -> None:
    config = tmp_path / "causerie.toml"
    config.write_text(
        "models = []\n[knowledge]\nallow_private_urls = true\n"
        "job_lease_seconds = 3\nfetch_timeout = 60\n"
    )
    data = tmp_path / "data"
    # A page taking 30 s: it holds the user's turn on the server fetching it.
    with (
        web_site({"/slow.txt": drip(0.3, 100)}) as (site, _),
        LiveServer(config, data) as a,
        LiveServer(config, data) as b,
    ):
        a_folder, b_folder = _cancel_elsewhere(a, b, f"{site}/slow.txt", data / "spool")
        a.kill()
        assert a_folder.is_dir()
        with LiveServer(config, data):  # starting sweeps what a dead server left
            assert not a_folder.exists()
            assert b_folder.is_dir()  # b is alive: its folder stays


def _cancel_elsewhere(a: LiveServer, b: LiveServer, slow: str, spool: Path) -> tuple[Path, Path]:
    """Cancel a's fetch through b; leave a with a queued upload. (a's, b's folder)"""
    with httpx.Client(base_url=a.url, timeout=30) as ca, httpx.Client(base_url=b.url) as cb:
        col = ca.post(f"{K}/collections", json={"name": "tides"}).json()["id"]
        assert _wait(cb, _upload(cb, col, "b.txt"), 30)["status"] == "succeeded"
        (b_folder,) = spool.iterdir()
        fetching = _fetch(ca, col, slow)
        waiting = _upload(ca, col, "a.txt")
        (a_folder,) = set(spool.iterdir()) - {b_folder}
        assert not list(a_folder.glob("upload-*"))  # received, it waits in the database

        # Cancelled on b, the fetch stops on a: a's next job starts at once.
        assert cb.post(f"{K}/jobs/{fetching}/cancel").json()["status"] == "cancelled"
        start = time.monotonic()
        while _job(ca, waiting)["status"] == "queued":
            assert time.monotonic() - start < 15, "still queued"  # the fetch had 30 s left
            time.sleep(0.1)
        assert _wait(ca, waiting, 90)["status"] == "succeeded"
        assert _job(ca, fetching)["status"] == "cancelled"

        _fetch(ca, col, slow)
        _upload(ca, col, "left.txt")  # queued when a is killed
        # A file a's receipt of an upload was writing when it was killed.
        (a_folder / "upload-cut").write_bytes(DOC[:10])
    return a_folder, b_folder
