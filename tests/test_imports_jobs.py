"""Import jobs live in the database: cancel, a restart in the middle, an admin's restore."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from bench.imports.__main__ import build
from sqlalchemy import func, select

from causerie.store.db import Database, make_engine
from causerie.store.models import Conversation, Message
from tests.accounts_support import ADMIN, ADMIN_PASSWORD, create_user, site
from tests.imports_support import dumps, full_export, modelless, write_zip
from tests.support import LiveServer, app_client, write_config

CONVERSATIONS, MESSAGES = 2000, 4
HUGE = 5 * CONVERSATIONS


def _export(factory: pytest.TempPathFactory, conversations: int) -> bytes:
    path = factory.mktemp("export") / "chatgpt.zip"
    build(path, conversations, MESSAGES, shards=4)
    return path.read_bytes()


@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An export that takes a few seconds to import: time to stop it in the middle."""
    return _export(tmp_path_factory, CONVERSATIONS)


@pytest.fixture(scope="module")
def huge_export(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A cancel made in another process is seen within a heartbeat (0.5 s), and
    2000 conversations import in less than that on an idle machine."""
    return _export(tmp_path_factory, HUGE)


def _counts(data_dir: Path) -> tuple[int, int]:
    db = Database(make_engine(modelless(data_dir).db_url))
    try:
        with db.session() as s:
            convs = s.scalar(select(func.count()).select_from(Conversation))
            msgs = s.scalar(select(func.count()).select_from(Message))
            return convs or 0, msgs or 0
    finally:
        db.engine.dispose()


async def _upload(c: httpx.AsyncClient, data: bytes, kind: str = "chatgpt") -> dict:
    files = {"file": ("export.zip", data, "application/zip")}
    r = await c.post("/api/imports", data={"kind": kind}, files=files)
    assert r.status_code == 202, r.text
    return r.json()


async def _first_batch(c: httpx.AsyncClient, job_id: str, data_dir: Path) -> None:
    """Wait until the running job has written conversations (it is stopped after that)."""
    while _counts(data_dir)[0] == 0:
        await asyncio.sleep(0.05)
    job = (await c.get(f"/api/imports/{job_id}")).json()
    assert job["status"] == "running" and job["progress"] > 0, job


async def _until(c: httpx.AsyncClient, job_id: str, done: tuple[str, ...]) -> dict:
    """Poll the job until its status is one of done."""
    for _ in range(600):
        job = (await c.get(f"/api/imports/{job_id}")).json()
        if job["status"] in done:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"import job still {job['status']}")


async def test_cancel_keeps_what_was_imported_and_a_new_import_adds_the_rest(
    tmp_path: Path, big_export: bytes
) -> None:
    async with app_client(modelless(tmp_path)) as c:
        job = await _upload(c, big_export)
        await _first_batch(c, job["id"], tmp_path)
        cancelled = (await c.post(f"/api/imports/{job['id']}/cancel")).json()
        assert cancelled["status"] == "cancelled", cancelled
        assert cancelled["error"] == "cancelled by the user"
        convs, _ = _counts(tmp_path)
        assert 0 < convs < CONVERSATIONS
        listed = (await c.get("/api/imports")).json()["data"]
        assert [j["id"] for j in listed] == [job["id"]]

        again = await _until(c, (await _upload(c, big_export))["id"], ("succeeded", "failed"))
        assert again["status"] == "succeeded", again
        assert again["summary"]["unchanged"] + again["summary"]["conversations_added"] == (
            CONVERSATIONS
        )
        assert again["summary"]["unchanged"] >= convs - 1  # a half-written one is completed
    assert _counts(tmp_path) == (CONVERSATIONS, CONVERSATIONS * MESSAGES)


async def test_an_import_the_server_stopped_resumes_when_it_starts_again(
    tmp_path: Path, big_export: bytes
) -> None:
    async with app_client(modelless(tmp_path)) as c:
        job = await _upload(c, big_export)
        await _first_batch(c, job["id"], tmp_path)
    convs, _ = _counts(tmp_path)
    assert 0 < convs < CONVERSATIONS  # stopped in the middle, the upload kept for a resume
    assert (tmp_path / "imports" / f"{job['id']}.upload").exists()

    async with app_client(modelless(tmp_path)) as c:
        resumed = await _until(c, job["id"], ("succeeded", "failed", "cancelled"))
        assert resumed["status"] == "succeeded", resumed
        assert resumed["summary"]["conversations_added"] + resumed["summary"]["unchanged"] == (
            CONVERSATIONS
        )
    assert _counts(tmp_path) == (CONVERSATIONS, CONVERSATIONS * MESSAGES)
    assert not (tmp_path / "imports" / f"{job['id']}.upload").exists()


async def test_an_admin_exports_and_restores_the_whole_instance(tmp_path: Path) -> None:
    source = modelless(tmp_path / "a")
    create_user(source, ADMIN, ADMIN_PASSWORD, role="admin")
    create_user(source, "bob", "bob's long password")
    chatgpt = write_zip(tmp_path / "e.zip", {"conversations.json": dumps(full_export())})
    async with site(source) as s:
        bob = await s.login("bob", "bob's long password")
        job = await _upload(bob, chatgpt.read_bytes())
        assert (await _until(bob, job["id"], ("succeeded", "failed")))["status"] == "succeeded"
        assert (await bob.get("/api/admin/export")).status_code == 403
        admin = await s.login(ADMIN, ADMIN_PASSWORD)
        down = await admin.get("/api/admin/export")
        assert down.status_code == 200, down.text
        titles = {x["title"] for x in (await bob.get("/api/conversations")).json()["data"]}
    archive = zipfile.ZipFile(io.BytesIO(down.content))
    users = [json.loads(line)["name"] for line in archive.read("users.jsonl").splitlines()]
    assert sorted(users) == ["bob", "local", ADMIN]

    target = modelless(tmp_path / "b")
    create_user(target, ADMIN, "another admin password", role="admin")
    async with site(target) as s:
        admin = await s.login(ADMIN, "another admin password")
        files = {"file": ("instance.zip", down.content, "application/zip")}
        assert (
            await admin.post("/api/imports", data={"kind": "instance"}, files=files)
        ).status_code == 400
        r = await admin.post("/api/admin/imports", files=files)
        assert r.status_code == 202, r.text
        done = await _until(admin, r.json()["id"], ("succeeded", "failed"))
        assert done["status"] == "succeeded", done
        assert done["summary"]["restored"]["users"] == 1  # bob; root and local were there
        bob = await s.login("bob", "bob's long password")  # his password came along
        restored = {x["title"] for x in (await bob.get("/api/conversations")).json()["data"]}
        assert restored == titles and len(titles) == 9


def test_an_import_whose_server_was_killed_resumes_on_the_next_start(
    tmp_path: Path, big_export: bytes
) -> None:
    # A lease longer than a restart: the new server waits for it to expire, then resumes.
    extra = "models = []\n[knowledge]\njob_lease_seconds = 4"  # no model: a fast start
    config = write_config(tmp_path / "c.toml", [], extra)
    data = tmp_path / "data"
    with LiveServer(config, data) as server:
        files = {"file": ("export.zip", big_export, "application/zip")}
        r = httpx.post(f"{server.url}/api/imports", data={"kind": "chatgpt"}, files=files)
        assert r.status_code == 202, r.text
        while _counts(data)[0] == 0:
            time.sleep(0.05)
        server.kill()
    assert 0 < _counts(data)[0] < CONVERSATIONS
    with LiveServer(config, data) as server:
        deadline = time.monotonic() + 60
        while (job := httpx.get(f"{server.url}/api/imports/{r.json()['id']}").json())[
            "status"
        ] not in ("succeeded", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
    assert _counts(data) == (CONVERSATIONS, CONVERSATIONS * MESSAGES)


def test_an_import_cancelled_through_another_server_process_stops(
    tmp_path: Path, huge_export: bytes
) -> None:
    # Two servers on one data dir: the cancel reaches b, the import runs on a.
    config = write_config(tmp_path / "c.toml", [], "models = []")
    data = tmp_path / "data"
    with LiveServer(config, data) as a, LiveServer(config, data) as b:
        files = {"file": ("export.zip", huge_export, "application/zip")}
        r = httpx.post(f"{a.url}/api/imports", data={"kind": "chatgpt"}, files=files)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        while _counts(data)[0] == 0:
            time.sleep(0.05)
        cancelled = httpx.post(f"{b.url}/api/imports/{job_id}/cancel", timeout=30).json()
        assert cancelled["status"] == "cancelled", cancelled
        time.sleep(1.5)  # a's heartbeat reads the row within 0.5 s; then a batch at most
        stopped = _counts(data)
        time.sleep(1.5)
        assert _counts(data) == stopped and stopped[0] < HUGE
        job = httpx.get(f"{a.url}/api/imports/{job_id}").json()
        assert (job["status"], job["error"]) == ("cancelled", "cancelled by the user"), job
