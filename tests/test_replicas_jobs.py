"""Ingestion jobs on replicas of one PostgreSQL: the queue is shared, a job whose replica
dies (kill -9) is finished by another one, and Cancel works from any replica."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from causerie.knowledge.jobs import claim_job
from causerie.knowledge.tables import Collection, Job
from causerie.store.db import Database, make_engine
from causerie.store.models import LOCAL_USER_ID, utcnow
from tests.knowledge_support import K, web_site
from tests.pg_support import Postgres
from tests.support import LiveServer

LEASE = 2  # seconds: a dead replica's job is queued again soon after
PAGE = b"The keeper of the Vierge lighthouse rows out at dawn to trim the lamp."


class Held:
    """A route that keeps its first `hold` requests open, a byte at a time, until the
    client goes away (then records when), and sends PAGE to the later ones."""

    def __init__(self, hold: int):
        self.hold = hold
        self.seen = 0
        self.gone: list[float] = []  # when each held client closed its connection
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.seen += 1
            held = self.seen <= self.hold
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(10**6 if held else len(PAGE)))
        handler.end_headers()
        if not held:
            handler.wfile.write(PAGE)
            return
        self.started.set()
        try:
            for _ in range(600):  # at most a minute: then the test has failed anyway
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.1)
        except OSError:
            self.gone.append(time.monotonic())


@pytest.fixture(scope="module")
def cluster(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Callable[[str], LiveServer], dict[str, Held]]]:
    """A database, a site with held routes, and a way to start replicas (stopped after)."""
    base: Path = tmp_path_factory.mktemp("replica-jobs")
    url = postgres.fresh()
    config = base / "causerie.toml"
    config.write_text(
        f'models = []\ndatabase_url = "{url}"\n[knowledge]\nallow_private_urls = true\n'
        f"job_lease_seconds = {LEASE}\nfetch_timeout = 60\n"
    )
    routes = {"/takeover.txt": Held(hold=1), "/cancel.txt": Held(hold=1)}
    servers: list[LiveServer] = []

    def replica(name: str) -> LiveServer:
        server = LiveServer(config, base / name, log=base / f"{name}.log")
        servers.append(server)
        return server.start(timeout=120)

    with web_site(routes) as (site, _):
        try:
            yield site, replica, routes
        finally:
            for s in servers:
                s.stop()


def _wait_job(server: LiveServer, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (job := httpx.get(f"{server.url}{K}/jobs/{job_id}").json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_a_job_whose_replica_is_killed_is_finished_by_another(cluster) -> None:  # type: ignore[no-untyped-def]
    site, replica, routes = cluster
    a = replica("a")  # alone: the job is surely a's
    col = httpx.post(f"{a.url}{K}/collections", json={"name": "takeover"}).json()["id"]
    r = httpx.post(f"{a.url}{K}/collections/{col}/urls", json={"url": f"{site}/takeover.txt"})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert routes["/takeover.txt"].started.wait(30)  # a is fetching it
    b = replica("b")
    assert httpx.get(f"{b.url}{K}/jobs/{job_id}").json()["status"] == "running"
    a.kill()  # kill -9: no clean-up, the lease just stops being renewed

    job = _wait_job(b, job_id)
    assert (job["status"], job["result"], job["error"]) == ("succeeded", "indexed", None), job
    assert routes["/takeover.txt"].seen == 2  # fetched again by b, once
    docs = httpx.get(f"{b.url}{K}/collections/{col}/documents").json()["data"]
    assert [d["name"] for d in docs] == ["takeover.txt"]  # one document, not two
    hits = httpx.post(
        f"{b.url}{K}/search", json={"query": "lighthouse keeper", "collections": [col]}, timeout=60
    ).json()["data"]
    assert [h["document"] for h in hits] == ["takeover.txt"]


def test_cancel_on_one_replica_stops_the_job_running_on_another(cluster) -> None:  # type: ignore[no-untyped-def]
    site, replica, routes = cluster
    runner = replica("runner")
    col = httpx.post(f"{runner.url}{K}/collections", json={"name": "cancel"}).json()["id"]
    r = httpx.post(f"{runner.url}{K}/collections/{col}/urls", json={"url": f"{site}/cancel.txt"})
    job_id = r.json()["id"]
    held = routes["/cancel.txt"]
    assert held.started.wait(30)
    other = replica("other")  # started after the claim: the job runs on runner
    asked = time.monotonic()
    r = httpx.post(f"{other.url}{K}/jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    deadline = time.monotonic() + 10
    while not held.gone:  # runner notices within a heartbeat and drops the fetch
        assert time.monotonic() < deadline, "the runner kept fetching a cancelled job"
        time.sleep(0.1)
    assert held.gone[0] - asked < LEASE + 1
    job = httpx.get(f"{runner.url}{K}/jobs/{job_id}").json()
    assert (job["status"], job["document_id"]) == ("cancelled", None), job
    # The runner's worker is free again: the next job is done by one of them.
    r = httpx.post(
        f"{runner.url}{K}/collections/{col}/documents", files={"file": ("note.txt", PAGE, "")}
    )
    assert _wait_job(other, r.json()["data"][0]["id"])["status"] == "succeeded"
    docs = httpx.get(f"{other.url}{K}/collections/{col}/documents").json()["data"]
    assert [d["name"] for d in docs] == ["note.txt"]


def test_replicas_claiming_at_once_skip_each_others_job(postgres: Postgres) -> None:
    """SKIP LOCKED: a claim does not wait for, nor take, a job another claim is taking."""
    db = Database(make_engine(postgres.fresh()))
    db.prepare()
    with db.session() as s:
        s.add(Collection(id="c" * 32, owner_id=LOCAL_USER_ID, name="queue"))
    with db.session() as s:
        for name in ("first", "second"):
            s.add(Job(owner_id=LOCAL_USER_ID, collection_id="c" * 32, name=name, source=name))
            s.flush()
    until = utcnow() + timedelta(seconds=30)
    try:
        with db.session() as one, db.session() as two:
            first = claim_job(one, "one", until)  # its transaction holds the row's lock
            two.execute(text("SET LOCAL lock_timeout = '2s'"))  # a waiting claim fails, not hangs
            started = time.monotonic()
            second = claim_job(two, "two", until)
            assert time.monotonic() - started < 1  # did not wait for one's transaction
        with db.session() as s:
            rows = s.execute(select(Job.name, Job.lease_owner).where(Job.id.in_([first, second])))
            names = {name: owner for name, owner in rows}
        assert names == {"first": "one", "second": "two"}
    finally:
        db.engine.dispose()
