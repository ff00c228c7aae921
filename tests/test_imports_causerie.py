"""`causerie export` then `causerie import causerie` into a fresh instance: the API agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.imports_support import dumps, full_export, modelless, write_zip
from tests.support import app_client


def _causerie(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "causerie", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


async def _snapshot(c: httpx.AsyncClient) -> dict[str, dict]:
    """Every conversation: its settings, the active branch, and every branch one switch away."""
    page = (await c.get("/api/conversations", params={"limit": 100})).json()
    out = {}
    for item in page["data"]:
        conv = (await c.get(f"/api/conversations/{item['id']}")).json()
        fields = ("title", "system_prompt", "temperature", "created_at", "updated_at")
        active = [_msg(m) for m in conv["messages"]]
        branches = set()
        for m in conv["messages"]:
            for sibling in m.get("siblings", []):
                r = await c.put(
                    f"/api/conversations/{conv['id']}/branch", json={"message_id": sibling}
                )
                branches.add(tuple(_msg(x) for x in r.json()["messages"]))
        if conv["messages"]:  # back to the branch the user was on
            leaf = conv["messages"][-1]["id"]
            await c.put(f"/api/conversations/{conv['id']}/branch", json={"message_id": leaf})
        out[conv["title"]] = {
            **{k: conv[k] for k in fields},
            "active": active,
            "branches": sorted(branches),
        }
    return out


def _msg(m: dict) -> tuple:
    return (m["role"], m["content"], m["model"], m["status"], m["created_at"], len(m["siblings"]))


async def test_export_then_import_into_a_fresh_instance(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    chatgpt = write_zip(tmp_path / "chatgpt.zip", {"conversations.json": dumps(full_export())})
    assert _causerie("import", "chatgpt", str(chatgpt), "--data-dir", str(source)).returncode == 0
    async with app_client(modelless(source)) as c:
        made = await c.post(
            "/api/conversations",
            json={"title": "Settings kept", "system_prompt": "Be brief.", "temperature": 0.3},
        )
        assert made.status_code == 201, made.text
        before = await _snapshot(c)
    assert len(before) == 10
    assert len(before["Edited question"]["branches"]) == 2
    assert before["Settings kept"]["temperature"] == 0.3

    archive = tmp_path / "export.zip"
    done = _causerie("export", "-o", str(archive), "--data-dir", str(source))
    assert done.returncode == 0, done.stderr
    assert "exported 10 conversation(s)" in done.stderr
    restored = _causerie("import", "causerie", str(archive), "--data-dir", str(target))
    assert restored.returncode == 0, restored.stderr
    assert "imported: 10 new conversation(s), 0 updated, 23 message(s)" in restored.stderr
    again = _causerie("import", "causerie", str(archive), "--data-dir", str(target))
    assert "imported: 0 new conversation(s), 0 updated, 0 message(s); 10 already" in again.stderr

    async with app_client(modelless(target)) as c:
        after = await _snapshot(c)
    assert after == before


def test_import_refuses_what_is_not_a_causerie_export(tmp_path: Path) -> None:
    other = write_zip(tmp_path / "other.zip", {"conversations.json": b"[]"})
    run = _causerie("import", "causerie", str(other), "--data-dir", str(tmp_path / "d"))
    assert run.returncode != 0
    assert "has no readable manifest.json" in run.stderr
