"""A reverse proxy that gives the SDK tests' placeholder ids a real object behind them.

The SDK's tests are generated for a mock server and name stored objects by made-up ids
(`resp_677efb51...`, `response_id`, `completion_id`). This proxy, a real HTTP server on
127.0.0.1 in front of Causerie, maps each such id to an object it first creates through
Causerie's own API: a stored response or chat completion for retrieve, update, delete and
listing, and a response still being generated for cancel. Everything else is forwarded
byte for byte, streams included. Causerie itself knows nothing of it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from tests.support import free_port

# Placeholder id -> the kind of object it stands for.
PLACEHOLDERS = {
    "resp_677efb5139a88190b512bc3fef8e535d": "response",
    "response_id": "response",
    "completion_id": "completion",
}
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
PROMPT = [{"role": "user", "content": "Say hi."}]


class Placeholders:
    """Creates the real objects behind placeholder ids, on demand, through the API."""

    def __init__(self, client: httpx.AsyncClient, model: str):
        self.client = client
        self.model = model
        self.stored: dict[str, str] = {}  # placeholder -> a real stored object's id
        self.runs: set[asyncio.Task[None]] = set()  # streams kept running for cancel
        self.mapped = 0

    async def real_id(self, placeholder: str, *, running: bool) -> str:
        """A real id for the placeholder: a fresh running response, or a stored object."""
        self.mapped += 1
        if running:
            return await self._running_response()
        if placeholder not in self.stored:
            kind = PLACEHOLDERS[placeholder]
            create = self._response if kind == "response" else self._completion
            self.stored[placeholder] = await create()
        return self.stored[placeholder]

    def forget(self, placeholder: str) -> None:
        """The object was deleted: the next use gets a new one."""
        self.stored.pop(placeholder, None)

    async def _response(self) -> str:
        body = {"model": self.model, "input": PROMPT, "max_output_tokens": 8}
        r = await self.client.post("/v1/responses", json=body)
        r.raise_for_status()
        return r.json()["id"]

    async def _completion(self) -> str:
        body = {"model": self.model, "messages": PROMPT, "max_tokens": 8, "store": True}
        r = await self.client.post("/v1/chat/completions", json=body)
        r.raise_for_status()
        return r.json()["id"]

    async def _running_response(self) -> str:
        """Start a long streamed response; its id once Causerie announced it."""
        got: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._stream(got))
        self.runs.add(task)
        task.add_done_callback(self.runs.discard)
        return await got

    async def _stream(self, got: asyncio.Future[str]) -> None:
        body = {"model": self.model, "input": "Write a very long story.", "stream": True}
        try:
            async with self.client.stream("POST", "/v1/responses", json=body) as r:
                async for line in r.aiter_lines():  # read to the end: the cancel ends it
                    if not got.done() and line.startswith("data: "):
                        got.set_result(json.loads(line[6:])["response"]["id"])
        except Exception as exc:  # the cancel request then fails and is reported
            if not got.done():
                got.set_exception(exc)
        if not got.done():
            got.set_exception(RuntimeError(f"no response.created ({r.status_code})"))


def _app(upstream: str, model: str) -> Starlette:
    client = httpx.AsyncClient(base_url=upstream, timeout=600)
    ids = Placeholders(client, model)

    async def forward(request: Request) -> StreamingResponse:
        parts = request.url.path.split("/")
        found = [p for p in parts if p in PLACEHOLDERS]
        for placeholder in found:
            running = parts[-1] == "cancel"
            real = await ids.real_id(placeholder, running=running)
            parts = [real if p == placeholder else p for p in parts]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        sent = client.build_request(
            request.method,
            "/".join(parts),
            params=request.query_params.multi_items(),
            headers=headers,
            content=await request.body(),
        )
        got = await client.send(sent, stream=True)
        if request.method == "DELETE" and got.status_code == 200:
            for placeholder in found:
                ids.forget(placeholder)
        back = {k: v for k, v in got.headers.items() if k.lower() not in HOP_HEADERS}
        return StreamingResponse(
            got.aiter_raw(), got.status_code, back, background=BackgroundTask(got.aclose)
        )

    methods = ["GET", "POST", "DELETE", "PUT", "PATCH"]
    app = Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
    app.state.ids = ids
    return app


class PlaceholderProxy:
    """The proxy on a free port of 127.0.0.1, served from a thread while in use."""

    def __init__(self, upstream: str, model: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = _app(upstream, model)
        config = uvicorn.Config(self.app, port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def mapped(self) -> int:
        """How many requests named a placeholder id."""
        return self.app.state.ids.mapped

    def __enter__(self) -> PlaceholderProxy:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the placeholder proxy did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(30)
