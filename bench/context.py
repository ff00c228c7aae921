"""Time to first token of turn 30 of a long conversation (history fitted) vs turn 2.

`python -m bench.context [--model qwen2.5-coder-1.5b] [--json FILE]`: one `causerie serve`
(n_ctx 8192, 2 slots: 4,096 tokens a conversation). A short conversation is played live for
turns 1-2 (turn 2 reuses turn 1's KV cache). A long one is seeded with 28 exchanges of
operations notes (more than the slot holds), then turns 29 and 30 are played live through
/api/conversations, as the web UI sends them: turn 29 warms the cache as the previous turn of
a real conversation would have, and turn 30 is the figure. Replies are capped at 24 tokens.
Turns 31 and after (`--after`) each paste ~450 more tokens of notes, so history is dropped again:
the turns that drop a block re-read the prompt, the turns after them keep the cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.browser import seed_conversation

from bench.inference.live import ServerProcess, write_config
from bench.inference.run import MODELS
from bench.inference.workload import history

SEEDED_TURNS = 28
NOTES_PER_TURN_TOKENS = 150  # about 28 x 150 = 4,200 tokens of user notes, plus replies
PASTE_TOKENS = 450  # each turn after 30: enough that a block drop comes every few turns


def play(client: httpx.Client, url: str, conv: str, content: str) -> dict[str, Any]:
    """One turn through the conversation API: TTFT, what the model read, what was dropped."""
    start = time.perf_counter()
    first = None
    result: dict[str, Any] = {"dropped": 0}
    body = {"content": content, "max_tokens": 24}
    with client.stream("POST", f"{url}/api/conversations/{conv}/messages", json=body) as r:
        r.raise_for_status()
        kind = "message"
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if kind == "delta" and first is None:
                    first = time.perf_counter()
                elif kind == "context":
                    result["dropped"] = data["dropped"]
                elif kind == "error":
                    raise RuntimeError(data)
                elif kind == "done":
                    result["usage"] = data.get("usage")
    if first is None:
        raise RuntimeError("the reply had no text")
    return {**result, "ttft_s": round(first - start, 3)}


def seeded_turns() -> list[tuple[str, str]]:
    """SEEDED_TURNS exchanges of notes and short acknowledgements."""
    notes = history(SEEDED_TURNS * NOTES_PER_TURN_TOKENS, parts=SEEDED_TURNS)
    return [(m["role"], m["content"]) for m in notes if m["role"] != "system"]


def run(model: str, work: Path, after: int) -> dict[str, Any]:
    fields = {"name": model, "builtin": MODELS[model], "n_ctx": 8192, "n_parallel": 2}
    config = write_config(work / "model.toml", {**fields, "threads": 2})
    data = work / "data"
    with ServerProcess(config, data, work / "server.log") as server:
        server.start()
        with httpx.Client(timeout=900) as client:
            short = client.post(f"{server.url}/api/conversations", json={}).json()["id"]
            turn1 = play(client, server.url, short, "Server db-2 restarted at 03:10. Noted?")
            turn2 = play(client, server.url, short, "Which server restarted? One word.")
            long = seed_conversation(data, seeded_turns(), title="Long", model=model)
            turn29 = play(client, server.url, long, "Any server restarted twice? One sentence.")
            turn30 = play(client, server.url, long, "Which team wrote the most lines? One word.")
            later = [
                {"turn": 31 + i, **play(client, server.url, long, paste)}
                for i, paste in enumerate(pastes(after))
            ]
    return {
        "model": model, "turn1": turn1, "turn2": turn2, "turn29": turn29, "turn30": turn30,
        "later": later,
    }  # fmt: skip


def pastes(count: int) -> list[str]:
    """Notes pasted on the turns after 30, each asking for a one-word acknowledgement."""
    notes = history(count * PASTE_TOKENS, parts=count)
    return [m["content"] + "\nNoted? One word." for m in notes if m["role"] == "user"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", choices=sorted(MODELS))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--after", type=int, default=8, help="turns played after turn 30")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="causerie-bench-context-") as tmp:
        result = run(args.model, Path(tmp), args.after)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
