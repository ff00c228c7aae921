"""A streaming load generator: N clients in a loop for a fixed time, timing every stream."""

from __future__ import annotations

import asyncio
import statistics
import time
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
    client: httpx.AsyncClient, url: str, body: dict[str, Any], last: bytes
) -> Sample:
    """One streamed request; raises unless every token and [DONE] arrived."""
    start = time.perf_counter()
    ttft = None
    saw_last = False
    tail = b""
    async with client.stream("POST", url, json=body) as response:
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
    on_window: Any = None,
) -> Run:
    """`concurrency` clients streaming back to back; samples count after `warmup` seconds.

    `on_window(start: bool)` is called when the measured window opens and closes, so the
    caller can read the gateway's CPU time over exactly that window.
    """
    run = Run()
    last = f'" t{tokens}"'.encode()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(120, connect=10)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        t0 = time.perf_counter()
        window_start, window_end = t0 + warmup, t0 + warmup + seconds

        async def worker() -> None:
            while (now := time.perf_counter()) < window_end:
                try:
                    sample = await one_stream(client, url, body, last)
                except (httpx.HTTPError, RuntimeError) as exc:
                    if now >= window_start:
                        run.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                # Streams that end inside the window are counted, like the CPU time is.
                if window_start <= time.perf_counter() <= window_end:
                    run.samples.append(sample)

        async def window() -> None:
            await asyncio.sleep(warmup)
            if on_window:
                on_window(True)
            await asyncio.sleep(seconds)
            if on_window:
                on_window(False)

        await asyncio.gather(window(), *(worker() for _ in range(concurrency)))
    run.seconds = seconds
    return run
