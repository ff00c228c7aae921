"""Import of a large synthetic ChatGPT export: wall time and peak RSS of `causerie import`.

python -m bench.imports [--conversations 10000] [--messages 20] [--shards 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "tea",
    "brews",
    "slowly",
    "in",
    "the",
    "pot",
]


def _conversation(n: int, messages: int) -> dict[str, Any]:
    """A chain of alternating turns; every fifth regenerates a reply (a second branch)."""
    mapping: dict[str, Any] = {
        "root": {"id": "root", "parent": None, "children": [], "message": None}
    }
    parent, branch = "root", n % 5 == 0
    chain = messages - 1 if branch else messages
    for i in range(messages):
        node = f"n{i}"
        at = parent if i < chain else f"n{messages - 4}"  # a second answer to that question
        role = "user" if i % 2 == 0 else "assistant"
        text = " ".join(WORDS[(n + i + k) % len(WORDS)] for k in range(40))
        mapping[node] = {
            "id": node,
            "parent": at,
            "children": [],
            "message": {
                "id": node,
                "author": {"role": role},
                "create_time": T0 + n * 100 + i,
                "content": {"content_type": "text", "parts": [f"{n}.{i} {text}"]},
                "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                "recipient": "all",
            },
        }
        mapping[at]["children"].append(node)
        parent = node
    return {
        "id": f"conv-{n}",
        "conversation_id": f"conv-{n}",
        "title": f"Conversation {n}",
        "create_time": T0 + n * 100,
        "update_time": T0 + n * 100 + messages,
        "current_node": f"n{messages - 1}",
        "default_model_slug": "gpt-4o",
        "mapping": mapping,
    }


def build(path: Path, conversations: int, messages: int, shards: int) -> None:
    """A ZIP in the 2026 layout, written one conversation at a time."""
    per = -(-conversations // shards)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("export_manifest.json", json.dumps({"shards": shards}))
        for s in range(shards):
            with z.open(f"conversations-{s:03d}.json", "w") as f:
                f.write(b"[")
                for k, n in enumerate(range(s * per, min((s + 1) * per, conversations))):
                    f.write((b"," if k else b"") + json.dumps(_conversation(n, messages)).encode())
                f.write(b"]")


def run(export: Path, data: Path) -> tuple[float, float, str, float]:
    """Wall seconds, peak RSS MB, stderr and CPU seconds of one `causerie import chatgpt`.

    CPU seconds (user + system) change little with the machine's load, wall time a lot.
    """
    cmd = [sys.executable, "-m", "causerie", "import", "chatgpt", str(export)]
    started = time.monotonic()
    proc = subprocess.Popen([*cmd, "--data-dir", str(data)], stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    err = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"import failed ({proc.returncode}):\n{err}")
    return elapsed, usage.ru_maxrss / 1024, err, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--conversations", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--shards", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.zip"
        t = time.monotonic()
        build(export, args.conversations, args.messages, args.shards)
        total = args.conversations * args.messages
        print(
            f"export: {args.conversations} conversations, {total} messages, "
            f"{export.stat().st_size / 1e6:.1f} MB zipped, built in {time.monotonic() - t:.1f} s"
        )
        first = run(export, Path(tmp) / "data")
        print(
            f"first import: {first[0]:.1f} s ({first[3]:.1f} s of CPU), peak RSS {first[1]:.0f} MB"
            " (targets 60 s, 300 MB)"
        )
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        print(first[2].strip().splitlines()[-1])
        again = run(export, Path(tmp) / "data")
        print(
            f"re-import (nothing new): {again[0]:.1f} s ({again[3]:.1f} s of CPU), "
            f"peak RSS {again[1]:.0f} MB"
        )


if __name__ == "__main__":
    main()
