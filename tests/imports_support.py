"""Synthetic ChatGPT exports, built from the export's published structure (no real data)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0


class Chat:
    """One exported conversation: add nodes under parents, then .entry()."""

    def __init__(self, cid: str, title: str | None, model: str = "gpt-4o"):
        self.cid, self.title, self.model = cid, title, model
        self.mapping: dict[str, dict[str, Any]] = {
            "root": {"id": "root", "parent": None, "children": [], "message": None}
        }
        self.current = "root"
        self.clock = T0

    def add(
        self,
        node: str,
        parent: str,
        role: str,
        parts: list[Any] | None = None,
        *,
        content: dict[str, Any] | None = None,
        recipient: str = "all",
        children_link: bool = True,
        **metadata: Any,
    ) -> Chat:
        self.clock += 10
        self.mapping[node] = {
            "id": node,
            "parent": parent,
            "children": [],
            "message": {
                "id": node,
                "author": {"role": role, "name": None, "metadata": {}},
                "create_time": self.clock,
                "update_time": None,
                "content": content or {"content_type": "text", "parts": parts or []},
                "status": "finished_successfully",
                "end_turn": True,
                "weight": 1.0,
                "metadata": metadata,
                "recipient": recipient,
            },
        }
        if children_link:
            self.mapping[parent]["children"].append(node)
        self.current = node
        return self

    def entry(self, current: str | None = None) -> dict[str, Any]:
        return {
            "title": self.title,
            "create_time": T0,
            "update_time": self.clock,
            "mapping": self.mapping,
            "moderation_results": [],
            "current_node": current or self.current,
            "conversation_id": self.cid,
            "id": self.cid,
            "default_model_slug": self.model,
            "is_archived": False,
        }


def full_export() -> list[dict[str, Any]]:
    """Every case of the issue, one conversation (or entry) each."""
    edit = Chat("c-edit", "Edited question")
    edit.add("u1", "root", "user", ["What is 2+2?"]).add("a1", "u1", "assistant", ["4"])
    edit.add("u1b", "root", "user", ["What is 3+3?"]).add("a1b", "u1b", "assistant", ["6"])

    regen = Chat("c-regen", "Regenerated", model="gpt-4o")
    regen.add("u1", "root", "user", ["Name a colour"])
    regen.add("a1", "u1", "assistant", ["Red"], model_slug="gpt-4")
    regen.add("a2", "u1", "assistant", ["Blue"], model_slug="gpt-4o-mini")

    hidden = Chat("c-hidden", "Hidden system")
    hidden.add("s0", "root", "system", [""], is_visually_hidden_from_conversation=True)
    hidden.add("u1", "s0", "user", ["Hello"]).add("a1", "u1", "assistant", ["Hi there"])

    custom = Chat("c-custom", "Custom instructions")
    custom.add(
        "ci",
        "root",
        "user",
        content={
            "content_type": "user_editable_context",
            "user_profile": "I am a gardener.",
            "user_instructions": "Answer in one sentence.",
        },
        is_visually_hidden_from_conversation=True,
        is_user_system_message=True,
    )
    custom.add("u1", "ci", "user", ["When to plant tulips?"])
    custom.add("a1", "u1", "assistant", ["In autumn."])

    tool = Chat("c-tool", "Tool call")
    tool.add("u1", "root", "user", ["Compute 7*6"])
    tool.add(
        "call",
        "u1",
        "assistant",
        content={"content_type": "code", "language": "python", "text": "print(7*6)"},
        recipient="python",
    )
    tool.add("out", "call", "tool", content={"content_type": "execution_output", "text": "42"})
    tool.add("a1", "out", "assistant", ["The answer is 42."], model_slug="gpt-4o")

    reasoning = Chat("c-reason", "Reasoning", model="o3")
    reasoning.add("u1", "root", "user", ["Is 97 prime?"])
    reasoning.add(
        "th",
        "u1",
        "assistant",
        content={
            "content_type": "thoughts",
            "thoughts": [{"summary": "Check divisors", "content": "SECRET-THOUGHT"}],
        },
    )
    reasoning.add(
        "rr", "th", "assistant", content={"content_type": "reasoning_recap", "content": "7 s"}
    )
    reasoning.add(
        "a1",
        "rr",
        "assistant",
        ["Yes, 97 is prime."],
        citations=[{"metadata": {"url": "https://primes.example/97", "title": "Primes"}}],
    )

    image = Chat("c-image", None)
    image.add(
        "u1",
        "root",
        "user",
        content={
            "content_type": "multimodal_text",
            "parts": [
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": "file-service://file-AbC123",
                    "width": 10,
                    "height": 10,
                },
                "What is in this picture of my garden?",
            ],
        },
    )
    image.add("a1", "u1", "assistant", ["A garden."])

    loose = Chat("c-loose", "Missing child links")
    loose.add("u1", "root", "user", ["First"], children_link=False)
    loose.add("a1", "u1", "assistant", ["Second"], children_link=False)

    cycle = Chat("c-cycle", "Parent cycle")
    cycle.add("u1", "root", "user", ["Loop question"]).add("a1", "u1", "assistant", ["Loop answer"])
    cycle.add("x", "a1", "user", ["Cycled"]).add("y", "x", "assistant", ["Cycled answer"])
    cycle.mapping["x"]["parent"] = "y"  # x -> y -> x

    project = {"id": "g-p-123", "title": "My project", "create_time": T0, "mapping": None}
    return [
        edit.entry(current="a1b"),
        regen.entry(current="a1"),
        hidden.entry(),
        custom.entry(),
        tool.entry(),
        reasoning.entry(),
        image.entry(),
        loose.entry(),
        cycle.entry(current="a1"),
        project,
    ]


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def modelless(data_dir: Path):  # type: ignore[no-untyped-def]
    """Settings without models: imports and the conversations API need none (fast start)."""
    from causerie.settings import Settings

    return Settings(data_dir=data_dir, models=[])
