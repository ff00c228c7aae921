"""A scripted OpenAI-compatible upstream on 127.0.0.1 that answers like a small model.

By upstream model name: bare ("[1]"), bare-json (a sentence only under a JSON schema),
short ("1990 [1]."), mixed (one supported sentence, one the sources do not hold),
quote (the prompt's source [1] with its marker).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from causerie.settings import ModelConfig

SENTENCE = "The Ar-Men light was automated in 1990 [1]."


def _reply(model: str, body: dict[str, Any]) -> str:
    if model == "bare-json" and body.get("response_format"):
        # as the default model does: the sentence, and its source apart
        return json.dumps({"answer": SENTENCE.replace(" [1]", ""), "source": 1})
    if model in ("bare", "bare-json"):
        return "[1]"
    if model == "short":
        return "1990 [1]."
    if model == "mixed":
        return f"{SENTENCE} Its keepers were paid in gold coins [1]."
    prompt = body["messages"][-1]["content"]
    found = re.search(r"^\[1\] (.+)$", prompt, re.M)
    return f"{found.group(1) if found else 'nothing'} [1]"


def send_sse(handler: BaseHTTPRequestHandler, events: list[dict[str, Any]]) -> None:
    """Answer with these chunks as an OpenAI stream, ended by [DONE]."""
    payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    data = payload.encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class Upstream(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(body)
        text = _reply(body["model"], body)
        base = {"id": "up", "object": "chat.completion.chunk", "created": 0}
        # Token by token, as engines stream: "[1]" arrives as "[1" then "]".
        pieces = re.findall(r"\[\d*|\]|\s*[^\s\[\]]+|\s+", text)
        events = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
            *({**base, "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces),
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {**base, "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 3,
                                              "total_tokens": 53}},
        ]  # fmt: skip
        send_sse(self, events)

    def log_message(self, *args: object) -> None:
        pass


def scripted_models(url: str, *names: str) -> list[ModelConfig]:
    """Models served by the scripted upstream at url, each answering as its name says."""
    return [
        ModelConfig(name=n, provider="openai-compatible", base_url=url, upstream_model=n)
        for n in names
    ]


@contextmanager
def fake_upstream() -> Iterator[str]:
    """The scripted upstream's base URL, while it runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
