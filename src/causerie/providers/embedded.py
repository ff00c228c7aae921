"""The embedded provider: llama.cpp's server logic in-process, through xllamacpp."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from causerie.errors import (
    Busy,
    CauserieError,
    ContextLengthExceeded,
    EngineError,
    InvalidRequest,
    ModelNotReady,
)
from causerie.modelfiles import builtin_chat_template, log_progress, resolve_model_path
from causerie.providers.base import Capabilities
from causerie.settings import ModelConfig, Settings

log = logging.getLogger(__name__)
_END = object()


class EmbeddedProvider:
    """A GGUF model served by llama.cpp in this process, with parallel slots."""

    capabilities = Capabilities(tools=True, json_schema=True)

    def __init__(self, config: ModelConfig, settings: Settings):
        self.name = config.name
        self.config = config
        self._cache_dir = settings.model_cache_dir
        self._server: Any = None
        self._load_error: str | None = None
        # One thread per running or queued request: the engine call blocks its thread.
        self._limit = config.n_parallel + config.max_queue
        self._executor = ThreadPoolExecutor(self._limit, thread_name_prefix=f"llama-{self.name}")
        self._inflight = 0
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._server is not None

    @property
    def context_size(self) -> int:
        return self.config.n_ctx // self.config.n_parallel

    @property
    def load_error(self) -> str | None:
        """Why the model failed to load, if it did."""
        return self._load_error

    async def start(self) -> None:
        """Prepare the model file and load it; failures are kept for /ready and requests."""
        try:
            path = await asyncio.to_thread(
                resolve_model_path, self.config, self._cache_dir, log_progress(self.name)
            )
            self._server = await asyncio.to_thread(self._load, path)
            log.info("model %s ready (%s)", self.name, path)
        except Exception as exc:
            self._load_error = str(exc)
            log.error("model %s failed to load: %s", self.name, exc)
            raise

    def _load(self, path: Path) -> Any:
        import xllamacpp  # imported here: loading the native library is start-up work

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.config.n_ctx
        params.n_parallel = self.config.n_parallel
        params.cpuparams.n_threads = self.config.threads
        params.cpuparams_batch.n_threads = self.config.threads
        params.use_jinja = True
        params.cache_prompt = True
        params.verbosity = -1
        # llama.cpp's "fit" probes device memory to shrink unset parameters for GPUs; with
        # n_ctx set and the model on the CPU it changes nothing here and costs ~1.5 s of
        # start-up on 2 cores (bench/README.md, "Inference").
        params.fit_params = False
        if template := builtin_chat_template(self.config):
            params.chat_template = template
        return xllamacpp.Server(params)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._server = None

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Run one chat request on the engine and yield its chunks as they come."""
        server = self._server
        if server is None:
            raise ModelNotReady(
                (self._load_error and f"model {self.name!r} failed to load: {self._load_error}")
                or f"model {self.name!r} is still loading, retry shortly"
            )
        with self._lock:
            if self._inflight >= self._limit:
                raise Busy(f"model {self.name!r} is busy: all slots and queue places are taken")
            self._inflight += 1

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return stop.is_set()  # True tells the engine to cancel the task

        def run() -> None:
            try:
                server.handle_chat_completions(body, on_chunk)
            except Exception as exc:  # the engine rejects malformed requests by raising
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                with self._lock:
                    self._inflight -= 1
                loop.call_soon_threadsafe(queue.put_nowait, _END)

        loop.run_in_executor(self._executor, run)
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise _map_exception(item)
                if "error" in item:
                    raise _map_error(item["error"])
                yield item
        finally:
            stop.set()


def _map_exception(exc: Exception) -> CauserieError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, ValueError) or text.startswith("Failed to parse"):
        return InvalidRequest(text)
    return EngineError(f"engine failure: {text}")


def _map_error(error: dict[str, Any]) -> CauserieError:
    message = str(error.get("message") or "engine error")
    if error.get("type") == "exceed_context_size_error":
        tokens, limit = error.get("n_prompt_tokens"), error.get("n_ctx")
        if isinstance(tokens, int) and isinstance(limit, int):
            return ContextLengthExceeded.counted(tokens, limit)
        return ContextLengthExceeded(message, param="messages")
    if error.get("code") == 400 or error.get("type") == "invalid_request_error":
        return InvalidRequest(message)
    return EngineError(message)


def create(config: ModelConfig, settings: Settings) -> EmbeddedProvider:
    """Entry point for the `embedded` provider."""
    return EmbeddedProvider(config, settings)
