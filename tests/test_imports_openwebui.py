"""`causerie import openwebui` on a synthetic Open WebUI chat export, checked through the API."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.imports_support import modelless
from tests.support import app_client

T = 1_720_000_000


def _msg(mid: str, parent: str | None, children: list[str], role: str, content: str, **kw):  # type: ignore[no-untyped-def]
    return {
        "id": mid,
        "parentId": parent,
        "childrenIds": children,
        "role": role,
        "content": content,
        "timestamp": T + len(mid),
        **kw,
    }


def _export() -> list[dict]:
    tree = {
        "id": "",
        "title": "Tree chat",
        "models": ["llama3.1:8b"],
        "params": {"system": "Speak like a pirate."},
        "history": {
            "currentId": "a2",
            "messages": {
                "u": _msg("u", None, ["a1", "a2"], "user", "Hello?"),
                "a1": _msg("a1", "u", [], "assistant", "Ahoy.", model="llama3.1:8b"),
                "a2": _msg("a2", "u", [], "assistant", "Arr, hello.", model="mistral:7b"),
            },
        },
        "timestamp": T * 1000,
    }
    flat = {
        "title": "",
        "models": ["gemma2"],
        "messages": [
            {"id": "m1", "role": "user", "content": "Old style question", "timestamp": T},
            {"id": "m2", "role": "assistant", "content": "Old style answer", "timestamp": T + 1},
        ],
    }
    image = {
        "title": "Picture",
        "history": {
            "currentId": "p2",
            "messages": {
                "p1": _msg(
                    "p1",
                    None,
                    ["p2"],
                    "user",
                    "What is this?",
                    files=[{"type": "image", "name": "cat.png"}],
                ),
                "p2": _msg("p2", "p1", [], "assistant", "A cat."),
            },
        },
    }
    base = {"user_id": "u-1", "created_at": T, "updated_at": T + 60, "archived": False}
    return [
        {**base, "id": "w-tree", "title": "Tree chat", "chat": tree},
        {**base, "id": "w-flat", "title": "", "chat": flat},
        {**base, "id": "w-image", "title": "Picture", "chat": image},
        {**base, "id": "w-empty", "title": "Empty", "chat": {"history": {"messages": {}}}},
    ]


def _import(path: Path, data: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "causerie", "import", "openwebui", str(path)]
    return subprocess.run(
        [*cmd, "--data-dir", str(data)], capture_output=True, text=True, timeout=120
    )


async def test_open_webui_export_with_branches_and_a_flat_chat(tmp_path: Path) -> None:
    export = tmp_path / "chat-export.json"
    export.write_text(json.dumps(_export()))
    data = tmp_path / "data"
    run = _import(export, data)
    assert run.returncode == 0, run.stderr
    assert "imported: 3 new conversation(s), 0 updated, 7 message(s)" in run.stderr
    assert "skipped: 1 entry: no messages" in run.stderr
    again = _import(export, data)
    assert "imported: 0 new conversation(s), 0 updated, 0 message(s); 3 already" in again.stderr

    async with app_client(modelless(data)) as c:
        page = (await c.get("/api/conversations")).json()["data"]
        convs = {x["title"]: (await c.get(f"/api/conversations/{x['id']}")).json() for x in page}
    assert set(convs) == {"Tree chat", "Old style question", "Picture"}
    tree = convs["Tree chat"]
    assert tree["system_prompt"] == "Speak like a pirate."
    assert [m["content"] for m in tree["messages"]] == ["Hello?", "Arr, hello."]
    assert tree["messages"][1]["model"] == "mistral:7b"
    assert len(tree["messages"][1]["siblings"]) == 2
    assert datetime.fromisoformat(tree["created_at"]) == datetime.fromtimestamp(T, UTC)
    flat = convs["Old style question"]
    assert [m["content"] for m in flat["messages"]] == ["Old style question", "Old style answer"]
    assert flat["messages"][1]["model"] == "gemma2"
    assert convs["Picture"]["messages"][0]["content"] == "[Image: cat.png]\n\nWhat is this?"


def test_malformed_open_webui_export_says_where(tmp_path: Path) -> None:
    export = tmp_path / "chat-export.json"
    export.write_text(json.dumps(_export())[:-40])
    run = _import(export, tmp_path / "data")
    assert run.returncode == 1
    assert "error: chat-export.json: after chat 3: malformed JSON" in run.stderr
    assert "imported: 3 new conversation(s)" in run.stderr
