"""Conversations survive a clean restart and a kill -9 in the middle of a reply."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from tests.core_support import conversation_events
from tests.support import LiveServer, smol_model, write_config

SHORT = {"max_tokens": 10}


def api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api", timeout=60)


def say(client: httpx.Client, conv_id: str, content: str, **extra: Any) -> list:
    r = client.post(f"/conversations/{conv_id}/messages", json={"content": content, **extra})
    assert r.status_code == 200, r.text
    events = conversation_events(r.text)
    assert events[-1][0] == "done" and events[-1][1]["status"] == "complete", events[-1]
    return events


def snapshot(client: httpx.Client) -> dict[str, Any]:
    """Every conversation with its active path and every branch point."""
    listing = client.get("/conversations", params={"limit": 100}).json()["data"]
    return {c["id"]: client.get(f"/conversations/{c['id']}").json() for c in listing}


def read_until_flushed(stream: httpx.Response, seconds: float) -> str:
    """Read reply deltas past a periodic database write; the text read.

    The server writes a streaming reply every FLUSH_SECONDS (0.5 s) when a delta
    arrives; deltas spread over `seconds` and two more after that mean a write is done.
    """
    got, buffer, first, after = "", "", 0.0, 0
    for text in stream.iter_text():
        buffer += text
        complete, _, buffer = buffer.rpartition("\n\n")
        for kind, data in conversation_events(complete + "\n\n") if complete else ():
            if kind != "delta":
                continue
            got += data["content"]
            first = first or time.monotonic()
            if time.monotonic() - first > seconds:
                after += 1
        if after >= 2:
            return got
    raise AssertionError(f"the reply ended before the test could cut it: {got!r}")


def test_conversations_survive_restart_and_kill(tmp_path: Path) -> None:
    config = write_config(tmp_path / "causerie.toml", [smol_model(n_parallel=1)])
    data = tmp_path / "data"

    first = LiveServer(config, data)
    try:
        first.start()
        with api(first) as c:
            conv = c.post("/conversations", json={"title": "trip", "temperature": 0}).json()
            say(c, conv["id"], "Name a city in Italy.", **SHORT)
            turn2 = say(c, conv["id"], "Name a city in Spain.", **SHORT)
            c.post(
                f"/conversations/{conv['id']}/messages/{turn2[-1][1]['id']}/regenerate",
                json=SHORT,
            )
            say(c, conv["id"], "Name a river.", parent_id=turn2[0][1]["parent_id"], **SHORT)
            c.patch(f"/conversations/{conv['id']}", json={"title": "trip plans"})
            other = c.post(
                "/conversations", json={"system_prompt": "You tell stories.", "temperature": 0}
            ).json()
            say(c, other["id"], "Hello!", **SHORT)
            before = snapshot(c)
    finally:
        first.stop()
    assert before[conv["id"]]["title"] == "trip plans"
    assert len(before[conv["id"]]["messages"]) == 4
    assert len(before[conv["id"]]["messages"][2]["siblings"]) == 2
    # The database is SQLite in WAL mode, in the data directory.
    with sqlite3.connect(data / "causerie.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    second = LiveServer(config, data)
    try:
        second.start()
        with api(second) as c:
            assert snapshot(c) == before
            # The old branch is still there, whole.
            old_user = before[conv["id"]]["messages"][2]["siblings"][0]
            r = c.put(f"/conversations/{conv['id']}/branch", json={"message_id": old_user})
            assert [m["role"] for m in r.json()["messages"]] == ["user", "assistant"] * 2
            r = c.put(
                f"/conversations/{conv['id']}/branch",
                json={"message_id": before[conv["id"]]["current_leaf_id"]},
            )
            assert r.json() == before[conv["id"]] | {"updated_at": r.json()["updated_at"]}
            before = snapshot(c)
            # Now die in the middle of a long answer.
            body = {"content": "Write a very long story about a dragon."}
            with c.stream("POST", f"/conversations/{other['id']}/messages", json=body) as stream:
                got = read_until_flushed(stream, seconds=1.5)
                second.kill()
    finally:
        second.kill()

    third = LiveServer(config, data)
    try:
        third.start()
        with api(third) as c:
            after = snapshot(c)
            assert after[conv["id"]] == before[conv["id"]]
            messages = after[other["id"]]["messages"]
            assert messages[:2] == before[other["id"]]["messages"]
            user, cut = messages[2:]
            assert user["content"] == body["content"] and user["status"] == "complete"
            assert cut["role"] == "assistant"
            assert cut["status"] == "interrupted"
            assert cut["error"] == "the server stopped during this reply"
            assert cut["stopped"] is False  # cut by a restart: shown as a failure
            # What was written before the kill is kept: a prefix of what the client saw.
            assert cut["content"] and got.startswith(cut["content"]), (cut["content"], got)
            # The conversation goes on after the cut reply.
            more = say(c, other["id"], "Thanks!", **SHORT)
            assert more[0][1]["parent_id"] == cut["id"]
    finally:
        third.stop()
