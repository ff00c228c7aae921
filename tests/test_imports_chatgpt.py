"""`causerie import chatgpt` on synthetic exports, checked through the conversations API."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.imports_support import T0, Chat, dumps, full_export, modelless, write_zip
from tests.support import app_client


def _import(path: Path, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "causerie", "import", "chatgpt", str(path), "--data-dir"]
    return subprocess.run([*args, str(data), *extra], capture_output=True, text=True, timeout=120)


async def _by_title(c: httpx.AsyncClient) -> dict[str, dict]:
    page = (await c.get("/api/conversations", params={"limit": 100})).json()
    return {
        conv["title"]: (await c.get(f"/api/conversations/{conv['id']}")).json()
        for conv in page["data"]
    }


def _texts(conv: dict) -> list[str]:
    return [m["content"] for m in conv["messages"]]


async def _switch(c: httpx.AsyncClient, conv: dict, message_id: str) -> dict:
    r = await c.put(f"/api/conversations/{conv['id']}/branch", json={"message_id": message_id})
    assert r.status_code == 200, r.text
    return r.json()


async def test_zip_of_the_old_layout_keeps_every_case(tmp_path: Path) -> None:
    export = write_zip(
        tmp_path / "export.zip",
        {
            "conversations.json": dumps(full_export()),
            "file-AbC123-garden.png": b"\x89PNG",
            "user.json": b"{}",
        },
    )
    data = tmp_path / "data"
    first = _import(export, data)
    assert first.returncode == 0, first.stderr
    assert "imported: 9 new conversation(s), 0 updated, 23 message(s)" in first.stderr
    assert "skipped: 1 entry: no messages (a project or folder entry)" in first.stderr
    assert "not shown as turns: 2 reasoning message(s)" in first.stderr
    assert "not shown as turns: 2 tool message(s)" in first.stderr
    again = _import(export, data)
    assert again.returncode == 0, again.stderr
    assert "imported: 0 new conversation(s), 0 updated, 0 message(s); 9 already" in again.stderr

    async with app_client(modelless(data)) as c:
        convs = await _by_title(c)
        assert len(convs) == 9

        edit = convs["Edited question"]  # current_node was the edited question's answer
        assert _texts(edit) == ["What is 3+3?", "6"]
        assert len(edit["messages"][0]["siblings"]) == 2
        first_at = datetime.fromisoformat(edit["messages"][0]["created_at"])
        assert first_at == datetime.fromtimestamp(T0 + 30, UTC)
        other = next(i for i in edit["messages"][0]["siblings"] if i != edit["messages"][0]["id"])
        assert _texts(await _switch(c, edit, other)) == ["What is 2+2?", "4"]

        regen = convs["Regenerated"]
        assert _texts(regen) == ["Name a colour", "Red"]
        assert regen["messages"][1]["model"] == "gpt-4"
        siblings = regen["messages"][1]["siblings"]
        assert len(siblings) == 2
        blue = (await _switch(c, regen, siblings[1]))["messages"][1]
        assert (blue["content"], blue["model"]) == ("Blue", "gpt-4o-mini")

        assert _texts(convs["Hidden system"]) == ["Hello", "Hi there"]
        assert [m["role"] for m in convs["Hidden system"]["messages"]] == ["user", "assistant"]
        custom = convs["Custom instructions"]
        assert custom["system_prompt"] == "I am a gardener.\n\nAnswer in one sentence."
        assert _texts(custom) == ["When to plant tulips?", "In autumn."]
        assert _texts(convs["Tool call"]) == ["Compute 7*6", "The answer is 42."]

        reply = convs["Reasoning"]["messages"][1]
        assert reply["model"] == "o3"  # no model_slug on the reply: the conversation's
        assert reply["content"].startswith("Yes, 97 is prime.")
        assert "SECRET-THOUGHT" not in reply["content"]
        assert "- [Primes](https://primes.example/97)" in reply["content"]
        assert "imported from ChatGPT, not checked" in reply["content"]

        image = convs["What is in this picture of my garden?"]  # a null title, named
        assert image["messages"][0]["content"].startswith("[Image: file-AbC123-garden.png]")
        assert _texts(convs["Missing child links"]) == ["First", "Second"]
        cycle = convs["Parent cycle"]
        assert _texts(cycle) == ["Loop question", "Loop answer"]
        assert len(cycle["messages"][0]["siblings"]) == 2  # the cycle's pair, kept as a branch


def _shard(entries: list[dict], wrapped: bool = False) -> bytes:
    return dumps({"conversations": entries} if wrapped else entries)


async def test_sharded_folder_survives_a_broken_shard_and_takes_a_newer_export(
    tmp_path: Path,
) -> None:
    chats = full_export()
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "export_manifest.json").write_text(json.dumps({"version": 2, "shards": 3}))
    (folder / "conversations-000.json").write_bytes(_shard(chats[:2]))
    broken = _shard(chats[2:4])
    (folder / "conversations-001.json").write_bytes(broken[: broken.index(b'"c-custom"') + 5])
    (folder / "conversations-002.json").write_bytes(_shard(chats[4:6], wrapped=True))
    data = tmp_path / "data"

    run = _import(folder, data)
    assert run.returncode == 1
    assert "imported: 5 new conversation(s)" in run.stderr  # 2 + the one before the break + 2
    assert "error: conversations-001.json: after entry 1, near byte" in run.stderr
    assert "malformed JSON" in run.stderr

    newer = Chat("c-regen", "Regenerated")
    newer.mapping = json.loads(json.dumps(chats[1]["mapping"]))
    newer.clock = T0 + 100
    newer.add("u2", "a2", "user", ["And another?"]).add("a3", "u2", "assistant", ["Green"])
    zipped = write_zip(tmp_path / "newer.zip", {"conversations-000.json": _shard([newer.entry()])})
    unknown = _import(zipped, data, "--user", "nobody")
    assert unknown.returncode != 0
    assert "no user named 'nobody'" in unknown.stderr
    update = _import(zipped, data)
    assert update.returncode == 0, update.stderr
    assert "imported: 0 new conversation(s), 1 updated, 2 message(s)" in update.stderr

    async with app_client(modelless(data)) as c:
        convs = await _by_title(c)
        assert len(convs) == 5
        assert _texts(convs["Regenerated"]) == ["Name a colour", "Blue", "And another?", "Green"]
        assert len(convs["Regenerated"]["messages"][1]["siblings"]) == 2


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    run = _import(junk, tmp_path / "data")
    assert run.returncode != 0
    assert "is not a ZIP file" in run.stderr
