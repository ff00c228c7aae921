"""HTTP plumbing shared by the routers: error bodies, body-size limit, SSE framing."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from causerie.errors import Busy, CauserieError, InvalidRequest, PayloadTooLarge, Unavailable

log = logging.getLogger(__name__)


def error_response(exc: CauserieError) -> JSONResponse:
    """The OpenAI error body with the exception's status."""
    retry_after = exc.retry_after if isinstance(exc, Busy | Unavailable) else None
    # Rounded up: a client that waits exactly this long must not be refused again.
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def install_error_handlers(
    app: FastAPI, identify: Callable[[Request], object] | None = None
) -> None:
    """Render every error as OpenAI's error body; never a stack trace.

    `identify` authenticates a request (raising 401/403); it is run for requests whose
    body could not be read, which fail before the routes' dependencies authenticate them.
    """

    async def stranger(request: Request) -> JSONResponse | None:
        """The 401 (or 403) of a request refused before it was authenticated, if any."""
        if identify is None or hasattr(request.state, "principal"):
            return None  # authentication ran (and passed) before this error
        try:
            await anyio.to_thread.run_sync(identify, request)  # it reads the database
        except CauserieError as exc:
            return error_response(exc)
        return None

    @app.exception_handler(CauserieError)
    async def _causerie(_: Request, exc: CauserieError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if refused := await stranger(request):
            return refused
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        where = ".".join(loc) or None
        message = first.get("msg", "Invalid request.")
        if first.get("type") == "json_invalid":
            message, where = "The request body is not valid JSON.", None
        elif where:
            message = f"Invalid value for '{where}': {message}"
        return error_response(InvalidRequest(message, param=where))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        # 400 and 413 here come from reading the body (bad form data, too large).
        if exc.status_code in (400, 413) and (refused := await stranger(request)):
            return refused
        if exc.status_code == 413:  # raised by limit_body_size while the body is read
            return error_response(PayloadTooLarge(str(exc.detail)))
        err = CauserieError(str(exc.detail))
        err.status = exc.status_code
        err.type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(CauserieError("The server had an error processing your request."))


class limit_body_size:
    """Reject request bodies over max_bytes with 413, before anything reads them whole.

    `larger` lifts the limit for some routes, as (method, path pattern, max bytes): an
    upload route may take a document far larger than any JSON request needs to be.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: Sequence[tuple[str, re.Pattern[str], int]] = (),
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.larger = list(larger)

    def limit(self, scope: Scope) -> int:
        """The body limit of this request's route."""
        for method, path, max_bytes in self.larger:
            if scope.get("method") == method and path.fullmatch(scope.get("path", "")):
                return max_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit(scope)
        too_large = PayloadTooLarge(f"Request body exceeds the limit of {max_bytes} bytes.")
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
                await error_response(too_large)(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    # FastAPI turns other errors raised while reading into a plain 400.
                    raise HTTPException(413, too_large.message)
            return message

        await self.app(scope, counted, send)


def sse_data(payload: Any) -> bytes:
    """One server-sent event carrying JSON (or a literal like [DONE])."""
    # orjson: once per streamed token, several times faster than json.dumps.
    data = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    return b"data: " + data + b"\n\n"


def sse_event(kind: str, payload: dict[str, Any]) -> bytes:
    """A named server-sent event carrying JSON."""
    return f"event: {kind}\n".encode() + sse_data(payload)


COALESCE_MAX_PIECES = 256  # pieces buffered ahead of a slow client before reading pauses


async def coalesce(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield everything source produced since the last yield, joined into one piece.

    A fast upstream delivers several tokens per network read; sending each as its own
    socket write costs more than parsing it. Reading runs in its own task, so what one
    read produced goes out in one write, and a lone token goes out at once (no delay).
    """
    pieces: list[bytes] = []
    ready, room = asyncio.Event(), asyncio.Event()
    finished = False

    async def pump() -> None:
        nonlocal finished
        try:
            async for piece in source:
                pieces.append(piece)
                ready.set()
                if len(pieces) >= COALESCE_MAX_PIECES:  # the client is slow: wait for it
                    room.clear()
                    await room.wait()
        finally:
            finished = True
            ready.set()
            # Stopped while the source waits at a yield (a slow client): close it here, so
            # that what it holds (the upstream connection, the engine slot) is let go now.
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()

    task = asyncio.create_task(pump())
    try:
        while not (finished and not pieces):
            await ready.wait()
            ready.clear()
            if pieces:
                batch = b"".join(pieces)
                pieces.clear()
                room.set()
                yield batch
        await task  # re-raises what the source raised
    finally:
        if not task.done():
            task.cancel()
            # Wait for the source to close (that is what stops the upstream) without
            # passing it a second cancellation, which would interrupt that very closing.
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task})


class EventStreamResponse(StreamingResponse):
    """Server-sent events whose source is always closed, however the response ends.

    Closing the source is what stops the model (or upstream) when a client goes away; it
    is shielded because the response's own cancellation would otherwise interrupt it.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()
