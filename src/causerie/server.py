"""The HTTP/1.1 protocol uvicorn serves with: httptools, with bounded request heads.

uvicorn's httptools protocol has no limit on the request line and headers (its h11 one
only bounds a single buffer) and no deadline for a request that arrives slowly, so one
unauthenticated client could fill memory with a huge header or hold connections open
by trickling bytes (slowloris). This protocol answers 431 and closes past
max_header_bytes, and closes connections whose head or body take too long.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from causerie.settings import Settings


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the limit."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a size bound on the head and deadlines on head and body."""

    max_header_bytes = 32 * 1024
    header_timeout = 10.0
    body_timeout = 300.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between two requests' bodies: a head is (or will be) read
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)  # also bounds a client that connects and says nothing

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._deadline is None:  # the first byte after a keep-alive pause
                self._arm(self.header_timeout)
        super().data_received(data)
        # Still in the head after feeding: the parser holds all of it, so stop here.
        if self._in_head and self._head_bytes > self.max_header_bytes and not self._refused:
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        # A head that arrived in one read with its end is only measured here.
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.max_header_bytes:
            self._refused = True
            # Stops the parser mid-feed; uvicorn then calls send_400_response (below).
            raise HeadTooLarge

        self._in_head = False
        self._head_bytes = 0
        self._arm(self.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()  # the request is in; its response has no deadline here
        self._in_head = True  # what comes next on this connection is the next request's head
        self._head_bytes = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refused:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self._refused = True
        self._disarm()
        msg = "Request header fields too large."
        self.logger.warning(msg)
        body = msg.encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self._in_head and self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined head waits behind a response still going out: not slow
        if not self.transport.is_closing():
            self.logger.info("Closing a connection whose request arrived too slowly.")
            self.transport.close()


def protocol_for(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class carrying these settings' bounds (uvicorn takes a class)."""
    bounds = {
        "max_header_bytes": settings.max_header_bytes,
        "header_timeout": settings.header_timeout,
        "body_timeout": settings.body_timeout,
    }
    return type("CauserieHttpProtocol", (BoundedHttpToolsProtocol,), bounds)
