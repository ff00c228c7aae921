"""A streaming load generator: N clients in a loop for a fixed time, timing every stream."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

FIRST = b'" t1"'  # the first numbered token, as it appears in a chunk's JSON


@dataclass
class Sample:
    ttft: float
    total: float


@dataclass
class Run:
    """What one (target, concurrency) measurement saw."""

    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Requests/s and latency percentiles in milliseconds."""
        totals = sorted(s.total for s in self.samples)
        ttfts = sorted(s.ttft for s in self.samples)
        return {
            "requests": len(totals),
            "errors": len(self.errors),
            "error_examples": self.errors[:3],
            "rps": len(totals) / self.seconds if self.seconds else 0.0,
            "p50_ms": _pct(totals, 50) * 1000,
            "p99_ms": _pct(totals, 99) * 1000,
            "ttft_p50_ms": _pct(ttfts, 50) * 1000,
            "ttft_p99_ms": _pct(ttfts, 99) * 1000,
        }


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def one_stream(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    last: bytes,
    headers: dict[str, str] | None = None,
) -> Sample:
    """One streamed request; raises unless every token and [DONE] arrived."""
    start = time.perf_counter()
    ttft = None
    saw_last = False
    tail = b""
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
        async for raw in response.aiter_raw():
            if ttft is None and FIRST in raw:
                ttft = time.perf_counter() - start
            # Token markers may straddle two reads: look at the seam too.
            window = tail + raw
            if not saw_last and last in window:
                saw_last = True
            tail = window[-64:]
    if ttft is None or not saw_last or b"[DONE]" not in tail:
        raise RuntimeError("incomplete stream")
    return Sample(ttft, time.perf_counter() - start)


async def run_load(
    url: str,
    body: dict[str, Any],
    concurrency: int,
    seconds: float,
    warmup: float,
    tokens: int,
    on_window: Callable[[bool], None] | None = None,
    min_requests: int = 0,
    max_seconds: float = 90,
    headers: dict[str, str] | None = None,
    keys: Sequence[str] = (),
) -> Run:
    """`concurrency` clients streaming back to back; streams ending in the window count.

    The window opens after `warmup` and lasts `seconds`, longer if fewer than
    `min_requests` streams ended by then (slow gateways), up to `max_seconds`.
    `on_window(start)` is called as it opens and closes, so that the caller can read the
    gateway's CPU time over exactly that window. With `keys`, client i sends
    keys[i % len(keys)] as its Bearer API key.
    """
    run = Run()
    last = f'" t{tokens}"'.encode()
    # Idle connections are dropped before the servers' 5 s keep-alive timeout closes them.
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=3
    )
    timeout = httpx.Timeout(120, connect=10)
    window: dict[str, float] = {}

    async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers) as client:

        async def worker(i: int) -> None:
            headers = {"Authorization": f"Bearer {keys[i % len(keys)]}"} if keys else None
            while True:
                try:
                    sample = await one_stream(client, url, body, last, headers)
                except (httpx.HTTPError, RuntimeError) as exc:  # warm-up errors count too
                    run.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                if "start" in window:
                    run.samples.append(sample)

        workers = [asyncio.create_task(worker(i)) for i in range(concurrency)]
        try:
            await asyncio.sleep(warmup)
            window["start"] = time.perf_counter()
            if on_window:
                on_window(True)
            await asyncio.sleep(seconds)
            while (
                len(run.samples) < min_requests
                and time.perf_counter() - window["start"] < max_seconds
            ):
                await asyncio.sleep(0.1)
            if on_window:
                on_window(False)
            run.seconds = time.perf_counter() - window["start"]
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    return run
