"""Hostile HTTP clients against a real `causerie serve`: huge heads and slowloris.

Raw sockets, because an HTTP client library would refuse to send what an attacker sends.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import LiveServer, smol_model, write_config

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base: Path = tmp_path_factory.mktemp("hostile_http")
    extra = f"header_timeout = {HEADER_TIMEOUT}\nbody_timeout = {BODY_TIMEOUT}"
    live = LiveServer(write_config(base / "causerie.toml", [smol_model()], extra), base / "data")
    with live:
        yield live


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def answer(sock: socket.socket) -> bytes:
    """What the server sent before closing (b'' when it just hung up)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def rss_mib(server: LiveServer) -> float:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def flood_header(server: LiveServer, mib: int) -> bytes:
    """Send one header line of up to `mib` MiB; the server's answer once it stops reading."""
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    piece = b"a" * (1024 * 1024)
    try:
        for _ in range(mib):
            sock.sendall(piece)
        sock.sendall(b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused mid-way: what we want
    reply = answer(sock)
    sock.close()
    return reply


def test_huge_header_is_refused_and_memory_stays_flat(server: LiveServer) -> None:
    before = rss_mib(server)
    replies = [flood_header(server, 64) for _ in range(3)]
    for reply in replies:
        assert reply == b"" or reply.startswith(b"HTTP/1.1 431"), reply[:200]
    # Three 64 MiB heads held in memory would add ~190 MiB; a bounded head adds ~nothing.
    assert rss_mib(server) - before < 40
    started = time.monotonic()
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    assert time.monotonic() - started < 2


def test_head_just_over_the_limit_gets_431(server: LiveServer) -> None:
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:200]


def test_ordinary_large_cookie_header_still_works(server: LiveServer) -> None:
    headers = {"Cookie": "x=" + "a" * 16_000}
    assert httpx.get(f"{server.url}/health", headers=headers, timeout=5).status_code == 200


def trickle(sock: socket.socket, data: bytes, within: float) -> float:
    """Send one byte every 0.1 s; seconds until the server hangs up (fails past `within`)."""
    started = time.monotonic()
    sock.settimeout(0.1)
    for byte in data:
        try:
            sock.send(bytes([byte]))
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass  # nothing to read yet: keep trickling
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
        assert time.monotonic() - started < within, "the slow client is still connected"
    raise AssertionError("sent everything without being cut off")


def test_slow_headers_are_cut_off(server: LiveServer) -> None:
    sock = connect(server)
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000
    elapsed = trickle(sock, head, within=HEADER_TIMEOUT + 4)
    assert elapsed >= HEADER_TIMEOUT * 0.9


def test_idle_connection_is_cut_off(server: LiveServer) -> None:
    sock = connect(server)
    sock.settimeout(HEADER_TIMEOUT + 4)
    started = time.monotonic()
    assert answer(sock) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 3


def test_slow_body_is_cut_off(server: LiveServer) -> None:
    sock = connect(server)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    elapsed = trickle(sock, b"{" + b" " * 4999, within=BODY_TIMEOUT + 4)
    assert elapsed >= BODY_TIMEOUT * 0.9


def test_second_request_on_a_kept_alive_connection_is_bounded_too(server: LiveServer) -> None:
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = b""
    while b'"status"' not in first:  # the head and the body may come in separate reads
        chunk = sock.recv(65536)
        assert chunk, first
        first += chunk
    assert first.startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    with pytest.raises((BrokenPipeError, ConnectionResetError)):  # cut off mid-way
        for _ in range(64):
            sock.sendall(b"a" * (1024 * 1024))
    reply = answer(sock)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431"), reply[:200]
