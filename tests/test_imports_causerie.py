"""`causerie export` then `causerie import causerie` into a fresh instance: the API agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from causerie.store.db import Database, make_engine
from causerie.store.models import Conversation, User
from tests.accounts_support import create_user
from tests.imports_support import dumps, full_export, modelless, write_zip
from tests.knowledge_support import K, create_collection, ingest, search, term_counts
from tests.support import app_client

TEA = """# Brewing tea

Green tea wants water at about 80 degrees; black tea takes it boiling. Brewing temperature
matters more than the leaves' price.

## Steeping

Three minutes for black tea, two for green. Longer makes it bitter.
"""


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


async def _knowledge(c: httpx.AsyncClient) -> dict[str, Any]:
    """Every collection, its documents (text, chunks) and what a search finds in it."""
    out: dict[str, Any] = {}
    for col in (await c.get(f"{K}/collections")).json()["data"]:
        docs = (await c.get(f"{K}/collections/{col['id']}/documents")).json()["data"]
        full = [
            (await c.get(f"{K}/documents/{d['id']}", params={"text": "true"})).json() for d in docs
        ]
        keep = ("name", "source", "format", "sha256", "size", "title", "chunk_count", "text")
        hits = [  # by meaning too: the vectors came along
            h
            for mode in ("text", "vector")
            for h in await search(c, col["id"], "how hot should the water be", mode)
        ]
        out[col["name"]] = {
            "description": col["description"],
            "documents": sorted(tuple(d.get(k) for k in keep) for d in full),
            "search": [(h["document"], h["start"], h["end"], h["snippet"]) for h in hits],
        }
    return out


async def _links(c: httpx.AsyncClient, title: str) -> list[str]:
    page = (await c.get("/api/conversations", params={"limit": 100})).json()
    conv = next(x for x in page["data"] if x["title"] == title)
    return [
        x["name"]
        for x in (await c.get(f"/api/conversations/{conv['id']}/collections")).json()["data"]
    ]


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
        col = await create_collection(c, "Tea")
        job = await ingest(c, col, "tea.md", TEA.encode(), "text/markdown")
        assert job["status"] == "succeeded", job
        attach = {"collections": ["Tea"]}
        assert (
            await c.put(f"/api/conversations/{made.json()['id']}/collections", json=attach)
        ).status_code == 200
        before = await _snapshot(c)
        knowledge = await _knowledge(c)
    assert knowledge["Tea"]["search"] and knowledge["Tea"]["documents"][0][-1].startswith(
        "# Brewing"
    )
    assert len(before) == 10
    assert len(before["Edited question"]["branches"]) == 2
    assert before["Settings kept"]["temperature"] == 0.3

    archive = tmp_path / "export.zip"
    done = _causerie("export", "-o", str(archive), "--data-dir", str(source))
    assert done.returncode == 0, done.stderr
    assert "exported 10 conversations, 1 collections, 1 documents" in done.stderr
    restored = _causerie("import", "causerie", str(archive), "--data-dir", str(target))
    assert restored.returncode == 0, restored.stderr
    assert "imported: 10 new conversation(s), 0 updated, 23 message(s)" in restored.stderr
    assert "restored: 1 collections" in restored.stderr
    assert "restored: 1 documents" in restored.stderr
    again = _causerie("import", "causerie", str(archive), "--data-dir", str(target))
    assert "imported: 0 new conversation(s), 0 updated, 0 message(s); 10 already" in again.stderr
    assert "restored: 0 documents" in again.stderr
    assert "restored: 1 documents already there" in again.stderr

    stored, recounted = term_counts(modelless(target).db_url)
    assert stored == recounted and len(stored) > 10  # the restored chunks, counted
    async with app_client(modelless(target)) as c:
        assert await _snapshot(c) == before
        assert await _knowledge(c) == knowledge
        assert await _links(c, "Settings kept") == ["Tea"]


def test_import_refuses_what_is_not_a_causerie_export(tmp_path: Path) -> None:
    other = write_zip(tmp_path / "other.zip", {"conversations.json": b"[]"})
    run = _causerie("import", "causerie", str(other), "--data-dir", str(tmp_path / "d"))
    assert run.returncode != 0
    assert "has no readable manifest.json" in run.stderr


def test_the_whole_instance_from_the_cli(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    create_user(modelless(source), "bob", "bob's long password")
    chatgpt = write_zip(tmp_path / "chatgpt.zip", {"conversations.json": dumps(full_export())})
    run = _causerie("import", "chatgpt", str(chatgpt), "--user", "bob", "--data-dir", str(source))
    assert run.returncode == 0, run.stderr
    archive = tmp_path / "all.zip"
    done = _causerie("export", "--instance", "-o", str(archive), "--data-dir", str(source))
    assert "exported 2 users, 9 conversations" in done.stderr, done.stderr
    mine = _causerie("import", "causerie", str(archive), "--data-dir", str(target))
    assert mine.returncode != 0 and "is a whole-instance export" in mine.stderr
    restored = _causerie(
        "import", "causerie", "--instance", str(archive), "--data-dir", str(target)
    )
    assert restored.returncode == 0, restored.stderr
    assert "restored: 1 users" in restored.stderr  # bob; the local user was there
    db = Database(make_engine(modelless(target).db_url))
    try:
        with db.session() as s:
            bob = s.scalar(select(User.id).where(User.name == "bob"))
            assert s.scalar(select(func.count()).where(Conversation.owner_id == bob)) == 9
    finally:
        db.engine.dispose()
