"""A real OpenAI-compatible server on 127.0.0.1 that streams scripted text at a set pace.

It stands in for a remote model provider (outside our control) where the UI needs exact
output: a Markdown answer streamed at exactly 50 tokens/s for the rendering benchmark,
hostile HTML for the XSS tests, or a provider that fails (HTTP 500, or a connection dropped
mid-answer) until told otherwise.
The upstream model name picks the script: `script:<key>` streams scripts[key].
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNK_ID = "chatcmpl-scripted"


def tokens(text: str) -> list[str]:
    """Split text into word-piece-sized tokens whose concatenation is the text."""
    return re.findall(r"\s*\S{1,4}|\s+", text)


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": CHUNK_ID,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


class ScriptedUpstream:
    """The server, in a thread of this process so that tests can flip `failing` directly."""

    def __init__(self, scripts: dict[str, str], tokens_per_second: float = 50.0):
        self.scripts = scripts
        self.tokens_per_second = tokens_per_second
        self.failing = False  # answer 500 with an OpenAI error body while set
        self.drop_after: int | None = None  # stream that many tokens, then drop the connection
        self.requests = 0
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self, timeout: float = 20) -> ScriptedUpstream:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("scripted upstream did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _models(self, _: Request) -> JSONResponse:
        data = [{"id": f"script:{k}", "object": "model"} for k in self.scripts]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests += 1
        model = str(body.get("model", ""))
        if self.failing:
            error = {"message": "scripted upstream is down (500)", "type": "server_error"}
            return JSONResponse({"error": {**error, "param": None, "code": None}}, 500)
        text = self.scripts.get(model.removeprefix("script:"))
        if text is None:
            error = {"message": f"no script {model!r}", "type": "invalid_request_error"}
            return JSONResponse({"error": {**error, "param": "model", "code": None}}, 404)
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return JSONResponse(
                {"id": CHUNK_ID, "object": "chat.completion", "created": 1700000000,
                 "model": model, "choices": [choice]}
            )  # fmt: skip
        return StreamingResponse(self._events(model, text), media_type="text/event-stream")

    async def _events(self, model: str, text: str) -> AsyncIterator[bytes]:
        yield _chunk(model, {"role": "assistant", "content": ""})
        pieces = tokens(text)
        start = time.monotonic()
        drop_after = self.drop_after
        for i, piece in enumerate(pieces):
            if drop_after is not None and i >= drop_after:
                await asyncio.sleep(0.05)  # let the tokens leave before the connection drops
                raise ConnectionAbortedError("scripted upstream drops the connection on purpose")
            # An absolute schedule, so that the rate does not drift with the event loop.
            delay = start + i / self.tokens_per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            yield _chunk(model, {"content": piece})
        yield _chunk(model, {}, "stop")
        usage = {"prompt_tokens": 10, "completion_tokens": len(pieces)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        last = {"id": CHUNK_ID, "object": "chat.completion.chunk", "created": 1700000000,
                "model": model, "choices": [], "usage": usage}  # fmt: skip
        yield b"data: " + json.dumps(last).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"


def remote_model_toml(name: str, upstream: ScriptedUpstream, script: str) -> str:
    """A [[models]] entry serving one script of the upstream through Causerie's provider."""
    return (
        f'[[models]]\nname = "{name}"\nprovider = "openai-compatible"\n'
        f'base_url = "{upstream.url}/v1"\nupstream_model = "script:{script}"\n'
    )
