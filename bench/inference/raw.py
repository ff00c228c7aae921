"""The raw engine: xllamacpp's Server in-process, driven through its streaming callback.

Run in a child process of its own so that its model is fully freed before Causerie's
server loads the same model: both use every core, and they must never overlap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.inference.workload import Sample, StreamTimer, chat_body


@dataclass(frozen=True)
class EngineSpec:
    """The model file and the engine parameters, identical on both sides."""

    model_path: str
    n_ctx: int
    n_parallel: int
    threads: int


def _server(spec: EngineSpec) -> Any:
    import xllamacpp

    # The same parameters as causerie.providers.embedded, set by hand: this side is the
    # engine alone, with none of Causerie's code in the path.
    params = xllamacpp.CommonParams()
    params.model.path = spec.model_path
    params.n_ctx = spec.n_ctx
    params.n_parallel = spec.n_parallel
    params.cpuparams.n_threads = spec.threads
    params.cpuparams_batch.n_threads = spec.threads
    params.use_jinja = True
    params.cache_prompt = True
    params.verbosity = -1
    return xllamacpp.Server(params)


def stream_once(server: Any, body: dict[str, Any]) -> Sample:
    """One streamed chat request on the engine, timed by its callback."""
    timer = StreamTimer(start=time.perf_counter())

    def on_chunk(chunk: dict[str, Any]) -> bool:
        timer.feed(chunk, time.perf_counter())
        return False  # never cancel

    server.handle_chat_completions(body, on_chunk)
    return timer.sample()


def measure(
    spec: EngineSpec, prompts: list[str], max_tokens: int, warmup: int = 1
) -> dict[str, Any]:
    """Load the model, warm it up, then time each prompt; returns load time and samples."""
    start = time.perf_counter()
    server = _server(spec)
    load_s = time.perf_counter() - start
    for prompt in prompts[:warmup]:
        stream_once(server, chat_body(prompt, max_tokens))
    samples = [stream_once(server, chat_body(p, max_tokens)) for p in prompts[warmup:]]
    return {"load_s": load_s, "samples": samples}
