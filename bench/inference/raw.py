"""The raw engine: xllamacpp's Server in-process, driven through its streaming callback.

It runs in a worker process of its own (a `ProcessPoolExecutor` of one), beside Causerie's
server: both hold the model, but requests alternate between them, so the two never compute
at the same time, and the model is freed when the worker exits.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from bench.inference.workload import Sample, StreamTimer


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
    params.fit_params = False
    return xllamacpp.Server(params)


def stream_once(server: Any, body: dict[str, Any]) -> Sample:
    """One streamed chat request on the engine, timed by its callback."""
    timer = StreamTimer(start=time.perf_counter())

    def on_chunk(chunk: dict[str, Any]) -> bool:
        timer.feed(chunk, time.perf_counter())
        return False  # never cancel

    server.handle_chat_completions(body, on_chunk)
    return timer.sample()


@functools.cache
def _engine(spec: EngineSpec) -> Any:
    """This worker process's engine: loaded by its first request, then kept."""
    return _server(spec)


def load(spec: EngineSpec) -> float:
    """Load the engine in this worker process; returns the seconds it took."""
    start = time.perf_counter()
    _engine(spec)
    return time.perf_counter() - start


def stream_prompt(spec: EngineSpec, body: dict[str, Any]) -> Sample:
    """One streamed request on this worker's engine (loaded by `load`)."""
    return stream_once(_engine(spec), body)
