"""A real OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose.

The requested model name picks the behaviour, so one server plays every upstream:

    ok               stream numbered tokens (max_tokens of them, default 200)
    delay:S          wait S seconds before answering, then ok
    status:CODE      answer CODE with an OpenAI error body
    ratelimit:S      answer 429 with Retry-After: S
    flaky:N          answer 503 to the first N requests (per model name), then ok
    cut:K            stream K tokens, then drop the connection
    malformed:K      stream K tokens, then an event that is not JSON
    error:K          stream K tokens, then an OpenAI error event
    hang:K           stream K tokens (0: not even the headers), then go silent
    noisy            ok, with SSE comments, CRLF line ends and no usage chunk
    pace:MS          ok, one token every MS milliseconds (long-lived streams)

Anything after '@' is ignored, so tests can keep separate counters ('flaky:1@t3').
GET /_log lists the requests seen (model, authorization header, time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_TOKENS = 200


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _usage(cid: str, model: str, tokens: int) -> bytes:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": tokens + 5},
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def token_text(i: int) -> str:
    """The i-th token (1-based): numbered so no two chunks repeat."""
    return f" t{i}"


class Upstream:
    """The app's state: request log and per-model counters."""

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        self.seen: dict[str, int] = {}

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", "ok"))
        self.log.append(
            {
                "model": model,
                "authorization": request.headers.get("authorization"),
                "x_test": request.headers.get("x-test"),
                "at": time.time(),
                "max_tokens": body.get("max_tokens"),
            }
        )
        self.seen[model] = self.seen.get(model, 0) + 1
        kind, _, arg = model.split("@")[0].partition(":")
        n = int(body.get("max_tokens") or DEFAULT_TOKENS)
        if kind == "delay":
            await asyncio.sleep(float(arg))
        elif kind == "status":
            return _error(int(arg))
        elif kind == "ratelimit":
            return _error(429, {"Retry-After": arg})
        elif kind == "flaky" and self.seen[model] <= int(arg):
            return _error(503)
        elif kind == "hang" and int(arg or 0) == 0:
            await asyncio.sleep(3600)
        if not body.get("stream"):
            return JSONResponse(_whole(model, n))
        events = _events(model, kind, int(arg) if arg.isdigit() else n, n)
        return StreamingResponse(events, media_type="text/event-stream")


def _error(status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": f"fake upstream says {status}", "type": "x", "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def _whole(model: str, n: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(map(token_text, range(1, n)))},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": n + 5},
    }


async def _events(model: str, kind: str, k: int, n: int) -> AsyncIterator[bytes]:
    cid = "chatcmpl-fake"
    if kind == "noisy":
        yield b": keep-alive comment\r\n\r\n"
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    cut_at = k if kind in ("cut", "malformed", "error", "hang") else None
    pace = int(model.split("@")[0].partition(":")[2]) / 1000 if kind == "pace" else 0
    for i in range(1, n + 1):
        if cut_at is not None and i > cut_at:
            break
        event = _chunk(cid, model, {"content": token_text(i)})
        yield event.replace(b"\n", b"\r\n") if kind == "noisy" else event
        if pace:
            await asyncio.sleep(pace)
    if kind == "cut":
        await asyncio.sleep(0.05)  # let the tokens leave before the connection drops
        raise ConnectionAbortedError("fake upstream drops the connection on purpose")
    if kind == "malformed":
        yield b'data: {"choices": [oops\n\n'
        return
    if kind == "error":
        yield b'data: {"error": {"message": "fake upstream failed mid-stream"}}\n\n'
        return
    if kind == "hang":
        await asyncio.sleep(3600)
    yield _chunk(cid, model, {}, "length" if n else "stop")
    if kind != "noisy":
        yield _usage(cid, model, n)
    yield b"data: [DONE]\n\n"


def create_app() -> Starlette:
    """The fake upstream as an ASGI app."""
    state = Upstream()

    async def models(_: Request) -> JSONResponse:
        ids = ["ok", "delay:0.2", "status:503"]
        return JSONResponse({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})

    async def log(_: Request) -> JSONResponse:
        return JSONResponse(state.log)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", state.chat, methods=["POST"]),
            Route("/v1/models", models),
            Route("/_log", log),
            Route("/health", health),
        ]
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeUpstream:
    """The fake upstream in a child process (its own CPU, like a real remote server)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> FakeUpstream:
        cmd = [sys.executable, "-m", "bench.gateway.fake_upstream", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("fake upstream exited")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError("fake upstream did not start")

    def requests(self) -> list[dict[str, Any]]:
        """Every chat request the upstream received, in order."""
        return httpx.get(f"{self.url}/_log", timeout=5).json()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="error")


if __name__ == "__main__":
    main()
