"""Imports and export through the HTTP API: an upload becomes a job with progress and a summary."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import httpx

from tests.imports_support import dumps, full_export, modelless, write_zip
from tests.support import app_client


async def _finished(c: httpx.AsyncClient, job: dict) -> dict:
    for _ in range(300):
        job = (await c.get(f"/api/imports/{job['id']}")).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"import job still {job['status']}")


async def test_upload_a_chatgpt_zip_then_export_and_restore(tmp_path: Path) -> None:
    export = write_zip(tmp_path / "e.zip", {"conversations.json": dumps(full_export())})
    async with app_client(modelless(tmp_path / "a")) as c:
        files = {"file": ("chatgpt.zip", export.read_bytes(), "application/zip")}
        r = await c.post("/api/imports", data={"kind": "chatgpt"}, files=files)
        assert r.status_code == 202, r.text
        job = await _finished(c, r.json())
        assert job["status"] == "succeeded", job
        assert job["progress"] == 1.0
        summary = job["summary"]
        assert (summary["conversations_added"], summary["messages_added"]) == (9, 23)
        assert summary["skipped"] == {"no messages (a project or folder entry)": 1}
        titles = {x["title"] for x in (await c.get("/api/conversations")).json()["data"]}

        bad = await c.post(
            "/api/imports", data={"kind": "myspace"}, files={"file": ("x.zip", b"x", "a/b")}
        )
        assert bad.status_code == 400
        assert "Unknown export kind" in bad.json()["error"]["message"]
        junk = await c.post(
            "/api/imports", data={"kind": "chatgpt"}, files={"file": ("x.zip", b"no", "a/b")}
        )
        failed = await _finished(c, junk.json())
        assert failed["status"] == "failed"
        assert "is not a ZIP file" in failed["error"]
        assert (await c.get("/api/imports/nope")).status_code == 404

        down = await c.get("/api/export")
        assert down.status_code == 200
        assert down.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(down.content)).namelist()
        assert set(names) == {
            "manifest.json",
            "account.json",
            "conversations.jsonl",
            "collections.jsonl",
            "documents.jsonl",
        }

    async with app_client(modelless(tmp_path / "b")) as c:
        files = {"file": ("causerie-export.zip", down.content, "application/zip")}
        job = await _finished(
            c, (await c.post("/api/imports", data={"kind": "causerie"}, files=files)).json()
        )
        assert job["summary"]["conversations_added"] == 9
        restored = {x["title"] for x in (await c.get("/api/conversations")).json()["data"]}
        assert restored == titles
