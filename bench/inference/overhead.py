"""Where the time to first token goes: Causerie's own code vs the engine, per request.

    .venv/bin/python -m bench.inference.overhead               # default 1.5B model
    .venv/bin/python -m bench.inference.overhead --model smollm2

The streaming comparison in `python -m bench.inference` sets two processes side by side,
and a model's speed varies from process to process by more than Causerie adds. This
measures Causerie's share inside one request instead: the app runs in this process under
uvicorn on a real socket, the embedded provider's `stream` is wrapped to stamp when
Causerie hands the request to the engine and when the engine's first content token comes
back, and an ASGI wrapper stamps when the request arrives. A real HTTP client (httpx) times
the rest. Causerie's share = TTFT seen by the client - engine time.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench.inference.live import _free_port
from bench.inference.run import MODELS
from causerie.app import create_app
from causerie.providers import embedded
from causerie.settings import Settings

PHASES = ("client_to_app", "app_to_engine", "engine", "engine_to_client")


class Stamps:
    """Timestamps of the request being measured (one at a time)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def wrap_app(self, app: Any) -> Any:
        async def timed_app(scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/v1/chat/completions":
                self.at["app"] = time.perf_counter()
            await app(scope, receive, send)

        return timed_app

    def wrap_stream(self, stream: Any) -> Any:
        stamps = self.at

        async def timed(provider: Any, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
            stamps["engine_call"] = time.perf_counter()
            async for chunk in stream(provider, body):
                choices = chunk.get("choices") or ({},)
                if "engine_first" not in stamps and (choices[0].get("delta") or {}).get("content"):
                    stamps["engine_first"] = time.perf_counter()
                yield chunk

        return timed


def _request(client: httpx.Client, url: str, model: str, i: int) -> float:
    """Stream one short answer; returns when its first content token reached the client."""
    prompt = f"Story {i}: write a tale about lighthouse number {i}, its keeper and the sea."
    body = {"model": model, "stream": True, "max_tokens": 4, "temperature": 0, "seed": 42}
    body["messages"] = [{"role": "user", "content": prompt}]
    first = 0.0
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not first and line.startswith("data: {") and '"content":"' in line:
                first = time.perf_counter()
    return first


def measure(model: str, data_dir: Path, requests: int) -> dict[str, list[float]]:
    """Per phase, the milliseconds of each request after a warm-up one."""
    stamps = Stamps()
    settings = Settings(data_dir=data_dir, models=[{"name": model, "builtin": MODELS[model]}])
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            stamps.wrap_app(create_app(settings)), port=port, log_level="warning", lifespan="on"
        )
    )
    original = embedded.EmbeddedProvider.stream
    embedded.EmbeddedProvider.stream = stamps.wrap_stream(original)  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    out: dict[str, list[float]] = {phase: [] for phase in PHASES}
    try:
        with httpx.Client(timeout=600) as client:
            while not _ready(client, url):
                time.sleep(0.25)
            for i in range(requests + 1):
                stamps.at.clear()
                start = time.perf_counter()
                first = _request(client, url, model, i)
                at = stamps.at
                if i == 0:
                    continue  # warm-up
                out["client_to_app"].append(at["app"] - start)
                out["app_to_engine"].append(at["engine_call"] - at["app"])
                out["engine"].append(at["engine_first"] - at["engine_call"])
                out["engine_to_client"].append(first - at["engine_first"])
    finally:
        embedded.EmbeddedProvider.stream = original  # type: ignore[method-assign]
        server.should_exit = True
        thread.join(timeout=30)
    return {phase: [s * 1000 for s in values] for phase, values in out.items()}


def _ready(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/ready").status_code == 200
    except httpx.TransportError:
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.inference.overhead", description=__doc__)
    p.add_argument("--model", choices=sorted(MODELS), default="qwen2.5-coder-1.5b")
    p.add_argument("--data-dir", type=Path, default=Path.home() / ".cache" / "causerie-bench")
    p.add_argument("--requests", type=int, default=10)
    args = p.parse_args(argv)
    phases = measure(args.model, args.data_dir.expanduser(), args.requests)
    med = {phase: statistics.median(values) for phase, values in phases.items()}
    ours = med["client_to_app"] + med["app_to_engine"] + med["engine_to_client"]
    print(f"Time to first token, {args.model}, {args.requests} requests (median ms per phase)")
    for phase in PHASES:
        print(f"   {phase:<18}{med[phase]:>9.1f}")
    ttft = ours + med["engine"]
    print(
        f"Causerie's share of TTFT: {ours:.1f} ms of {ttft:.1f} ms ({ours / ttft:.1%}); "
        f"engine alone / through Causerie = {med['engine'] / ttft:.3f} (target >= 0.95)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
