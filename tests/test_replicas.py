"""Several `causerie serve` processes on one PostgreSQL, through HTTP, as a team runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.responses import Response

from causerie.services.responses import STALE_SECONDS
from causerie.store.db import Database, make_engine, migration_scripts, revision
from tests.accounts_support import ADMIN, ADMIN_PASSWORD, create_user
from tests.core_support import conversation_events
from tests.pg_support import Postgres
from tests.support import SMOL, LiveServer, smol_model, smol_settings, write_config

_HEAD = migration_scripts().get_current_head()
# Alembic logs each step it runs; the last one shows whether a replica migrated.
LAST_MIGRATION = (
    f"Running upgrade {migration_scripts().get_revision(_HEAD).down_revision} -> {_HEAD}"
)


def _start_all(servers: list[LiveServer]) -> None:
    """Start every server at the same moment (each waits for its own readiness)."""
    errors: list[BaseException] = []

    def start(server: LiveServer) -> None:
        try:
            server.start(timeout=180)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for s in servers:
            s.stop()
        raise errors[0]


@pytest.fixture(scope="module")
def replicas(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[LiveServer]]]:
    """Three replicas started together on one empty PostgreSQL database."""
    base: Path = tmp_path_factory.mktemp("replicas")
    url = postgres.fresh()
    config = write_config(
        base / "causerie.toml", [smol_model(n_parallel=1)], extra=f'database_url = "{url}"'
    )
    servers = [LiveServer(config, base / f"data{i}", log=base / f"server{i}.log") for i in range(3)]
    for i in range(3):
        (base / f"data{i}").mkdir()
    _start_all(servers)
    try:
        yield url, servers
    finally:
        for s in servers:
            s.stop()


def test_three_replicas_starting_at_once_migrate_once(
    replicas: tuple[str, list[LiveServer]],
) -> None:
    url, servers = replicas
    logs = [s.log.read_text() for s in servers]
    assert sum(log.count(LAST_MIGRATION) for log in logs) == 1, logs
    engine = make_engine(url)
    try:
        assert revision(engine) == _HEAD
    finally:
        engine.dispose()


def test_a_conversation_started_on_one_replica_continues_on_another(
    replicas: tuple[str, list[LiveServer]],
) -> None:
    _, (a, b, c) = replicas
    conv = httpx.post(f"{a.url}/api/conversations", json={}).json()["id"]
    _, first_reply = _say(a, conv, "Name a colour.")
    second, second_reply = _say(b, conv, "Another one?")
    assert second["parent_id"] == first_reply["id"]  # b continued the branch a wrote
    stored = httpx.get(f"{c.url}/api/conversations/{conv}").json()
    assert stored["current_leaf_id"] == second_reply["id"]
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"] * 2


def _say(server: LiveServer, conv: str, content: str) -> tuple[dict, dict]:
    """Post a user message on server; (the user message, the stored reply)."""
    r = httpx.post(
        f"{server.url}/api/conversations/{conv}/messages",
        json={"content": content, "max_tokens": 4},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    events = conversation_events(r.text)
    (kind, user), (last, done) = events[0], events[-1]
    assert (kind, last, user["role"], done["status"]) == ("message", "done", "user", "complete")
    assert done["parent_id"] == user["id"]
    return user, done


def test_a_document_uploaded_through_one_replica_is_found_through_the_others(
    replicas: tuple[str, list[LiveServer]],
) -> None:
    _, (a, b, c) = replicas
    k = "/api/knowledge"
    col = httpx.post(f"{a.url}{k}/collections", json={"name": "shared"}).json()["id"]
    text = "Le phare de l'île Vierge guide les navires depuis 1902.".encode()
    r = httpx.post(
        f"{a.url}{k}/collections/{col}/documents", files={"file": ("phare.txt", text, "")}
    )
    assert r.status_code == 202, r.text
    job = r.json()["data"][0]
    deadline = time.monotonic() + 120
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = httpx.get(f"{a.url}{k}/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    for server, mode in ((b, "text"), (c, "vector"), (b, "hybrid")):
        r = httpx.post(
            f"{server.url}{k}/search",
            json={"query": "ile vierge phare", "collections": [col], "mode": mode},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        assert [h["document"] for h in r.json()["data"]] == ["phare.txt"], (mode, r.json())


def _sdk(server: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)


def test_a_response_continues_on_another_replica(replicas: tuple[str, list[LiveServer]]) -> None:
    _, (a, b, c) = replicas
    first = _sdk(a).responses.create(model=SMOL, input="My name is Ann.", max_output_tokens=8)
    question = "What is my name?"
    fresh = _sdk(b).responses.create(model=SMOL, input=question, max_output_tokens=4)
    follow = _sdk(b).responses.create(
        model=SMOL, input=question, previous_response_id=first.id, max_output_tokens=4
    )
    # b rebuilt a's turn (question and answer) from the database into its prompt.
    assert follow.usage.input_tokens >= fresh.usage.input_tokens + first.usage.output_tokens
    assert _sdk(c).responses.retrieve(follow.id).previous_response_id == first.id


def _stream_until(server: LiveServer, deltas: int, then: Callable[[str], object]) -> list[str]:
    """Stream a long response from server; call then(id) after some deltas; the event types."""
    stream = _sdk(server).responses.create(
        model=SMOL, input="Write a very long story.", max_output_tokens=1500, stream=True
    )
    seen: list[str] = []
    rid = ""
    try:
        for event in stream:
            seen.append(event.type)
            rid = rid or event.response.id if event.type == "response.created" else rid
            delta = event.type == "response.output_text.delta"
            if delta and seen.count(event.type) == deltas:  # once, at that delta
                then(rid)
    except (openai.APIConnectionError, httpx.HTTPError):  # the server was killed under it
        seen.append("connection lost")
    return seen


def test_a_response_is_cancelled_through_another_replica(
    replicas: tuple[str, list[LiveServer]],
) -> None:
    _, (a, b, c) = replicas
    cancelled: list[Response] = []

    def cancel(rid: str) -> None:
        threading.Thread(target=lambda: cancelled.append(_sdk(b).responses.cancel(rid))).start()

    seen = _stream_until(a, 3, cancel)
    assert seen[-1] == "response.incomplete", seen[-5:]  # a stopped: b's mark reached it
    deadline = time.monotonic() + 10
    while not cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cancelled and cancelled[0].status == "cancelled"
    assert _sdk(c).responses.retrieve(cancelled[0].id).status == "cancelled"


def test_a_response_whose_replica_died_becomes_failed(
    replicas: tuple[str, list[LiveServer]], tmp_path: Path
) -> None:
    _, (a, *_) = replicas
    doomed = LiveServer(a.config, tmp_path / "data", log=tmp_path / "doomed.log").start(180)
    killed: list[str] = []

    def kill(rid: str) -> None:
        assert doomed.proc is not None
        doomed.proc.kill()  # no shutdown code runs: as in a crash or an OOM kill
        killed.append(rid)

    try:
        seen = _stream_until(doomed, 3, kill)
    finally:
        doomed.stop()
    assert killed and seen[-1] == "connection lost", seen[-5:]
    # Another replica sees it in progress until its heartbeat is stale, then failed.
    assert _sdk(a).responses.retrieve(killed[0]).status == "in_progress"
    deadline = time.monotonic() + STALE_SECONDS + 10
    while (got := _sdk(a).responses.retrieve(killed[0])).status == "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert got.status == "failed" and got.error.code == "server_error", got
    with pytest.raises(openai.BadRequestError, match="is failed and not running"):
        _sdk(a).responses.cancel(killed[0])


def test_stop_through_one_replica_stops_the_reply_another_streams(
    replicas: tuple[str, list[LiveServer]],
) -> None:
    _, (a, b, c) = replicas
    # Greedy: a sampled reply of the 135M model was at times one short sentence, over
    # before Stop could reach it (the test then failed one run in three).
    conv = httpx.post(f"{a.url}/api/conversations", json={"temperature": 0}).json()["id"]
    body = {"content": "Count from 1 to 1000, one number per line.", "max_tokens": 1500}
    kind, reply, stopped_at, deltas = None, None, None, 0
    with httpx.stream(
        "POST", f"{b.url}/api/conversations/{conv}/messages", json=body, timeout=120
    ) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:") and kind in ("message", "delta", "done"):
                data = json.loads(line.removeprefix("data:"))
                deltas += kind == "delta"
                if kind == "message" and data["role"] == "assistant":
                    reply = data
                elif kind == "delta" and stopped_at is None and deltas >= 10:
                    stop = httpx.post(
                        f"{c.url}/api/conversations/{conv}/messages/{reply['id']}/stop"
                    )
                    assert stop.status_code == 200, stop.text
                    stopped_at = time.monotonic()
                elif kind == "done":
                    done = data
    assert stopped_at is not None and time.monotonic() - stopped_at < 5
    assert (done["status"], done["stopped"]) == ("interrupted", True), done
    assert done["content"] and done["finish_reason"] is None  # cut, not ended by the model
    stored = httpx.get(f"{a.url}/api/conversations/{conv}").json()["messages"][-1]
    assert (stored["status"], stored["content"]) == ("interrupted", done["content"])


def test_a_request_limit_is_exact_across_replicas(
    replicas: tuple[str, list[LiveServer]],
) -> None:
    """Last: it turns accounts on, after which every call needs a key."""
    url, servers = replicas
    settings = smol_settings(servers[0].data_dir, database_url=url)
    create_user(settings, ADMIN, ADMIN_PASSWORD, role="admin")
    create_user(settings, "team", "team-password-1", requests_per_minute=12)
    with httpx.Client(base_url=servers[0].url, timeout=60) as c:
        deadline = time.monotonic() + 30  # each replica notices accounts within seconds
        while (
            login := c.post("/api/auth/login", json={"name": "team", "password": "team-password-1"})
        ).status_code != 200:
            assert time.monotonic() < deadline, login.text
            time.sleep(0.5)
        c.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        key = c.post("/api/keys", json={"name": "replicas"}).json()["key"]
    auth = {"Authorization": f"Bearer {key}"}
    for s in servers:  # every replica requires the key before the count starts
        deadline = time.monotonic() + 30
        while httpx.get(f"{s.url}/v1/models").status_code != 401:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.2)  # the whole count inside one minute
    chat = {"model": SMOL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    statuses = [
        httpx.post(
            f"{servers[i % 3].url}/v1/chat/completions", json=chat, headers=auth, timeout=60
        ).status_code
        for i in range(15)
    ]
    assert statuses == [200] * 12 + [429] * 3


def test_db_upgrade_migrates_explicitly(database_url: str, tmp_path: Path) -> None:
    env_config = write_config(
        tmp_path / "causerie.toml", [smol_model()], extra=f'database_url = "{database_url}"'
    )
    cmd = [sys.executable, "-m", "causerie", "db", "upgrade", "--config", str(env_config)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"database upgraded from empty to {_HEAD}" in first.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and f"database already at {_HEAD}" in again.stderr
    db = Database(make_engine(database_url))
    db.prepare()  # what serve does next: nothing left to migrate
    assert revision(db.engine) == _HEAD
    db.engine.dispose()


def test_db_upgrade_reports_an_unreachable_database(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@/nowhere?host={tmp_path}"
    config = write_config(tmp_path / "c.toml", [smol_model()], extra=f'database_url = "{url}"')
    cmd = [sys.executable, "-m", "causerie", "db", "upgrade", "--config", str(config)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "cannot upgrade the database" in r.stderr and "Traceback" not in r.stderr
