"""Any OpenAI-compatible HTTP model server (vLLM, Ollama, llama.cpp server, OpenAI, ...)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from causerie.errors import UpstreamError
from causerie.providers.base import Capabilities
from causerie.settings import ModelConfig, Settings

ERROR_BODY_LIMIT = 4096  # bytes of an upstream error body we read for its message
DRAIN_SECONDS = 0.5
KEEPALIVE_SECONDS = 4.0


@dataclass(frozen=True)
class Preset:
    """What differs between OpenAI-compatible servers: where they are and what they accept."""

    base_url: str | None
    api_key_env: str | None = None
    key_required: bool = False
    rename: Mapping[str, str] = field(default_factory=dict)  # request fields they name otherwise
    drop: frozenset[str] = frozenset()  # request fields they reject


PRESETS: dict[str, Preset] = {
    "openai-compatible": Preset(None),
    "vllm": Preset("http://127.0.0.1:8000/v1", api_key_env="VLLM_API_KEY"),
    "ollama": Preset("http://127.0.0.1:11434/v1"),
    "llamacpp": Preset("http://127.0.0.1:8080/v1", api_key_env="LLAMA_API_KEY"),
    # max_tokens is deprecated there and refused by reasoning models.
    "openai": Preset(
        "https://api.openai.com/v1",
        api_key_env="OPENAI_API_KEY",
        key_required=True,
        rename={"max_tokens": "max_completion_tokens"},
    ),
    # Mistral sends usage in its last chunk unasked and names the seed differently.
    "mistral": Preset(
        "https://api.mistral.ai/v1",
        api_key_env="MISTRAL_API_KEY",
        key_required=True,
        rename={"seed": "random_seed"},
        drop=frozenset({"stream_options", "logit_bias", "logprobs", "top_logprobs"}),
    ),
    "openrouter": Preset(
        "https://openrouter.ai/api/v1", api_key_env="OPENROUTER_API_KEY", key_required=True
    ),
}


def read_api_key(config: ModelConfig, preset: Preset) -> str | None:
    """The key from the configured file or environment variable (never logged)."""
    env = config.api_key_env or preset.api_key_env
    required = preset.key_required or config.api_key_env is not None
    return read_secret(f"model {config.name!r}", config.api_key_file, env, required)


def read_secret(label: str, path: Path | None, env: str | None, required: bool) -> str | None:
    """A key from a file (preferred) or an environment variable; ValueError when missing."""
    if path is not None:
        path = path.expanduser()
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"{label}: cannot read api_key_file: {exc}") from None
        if not key:
            raise ValueError(f"{label}: api_key_file {path} is empty")
        return key
    key = os.environ.get(env, "").strip() if env else ""
    if not key and required:
        raise ValueError(
            f"{label}: no API key (set the environment variable {env} or api_key_file)"
        )
    return key or None


class OpenAICompatProvider:
    """A model on a remote server speaking OpenAI's chat completions API."""

    capabilities = Capabilities(tools=True, json_schema=True)
    remote = True

    def __init__(self, config: ModelConfig, preset: Preset):
        base_url = config.base_url or preset.base_url
        if not base_url:
            raise ValueError(f"model {config.name!r}: 'base_url' is required for this provider")
        self.name = config.name
        self.config = config
        self.preset = preset
        self.base_url = base_url.rstrip("/")
        self.upstream_model = config.upstream_model or config.name
        self._key = read_api_key(config, preset)
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAICompatProvider({self.name!r}, {self.base_url!r})"

    @property
    def ready(self) -> bool:
        return self._client is not None

    @property
    def context_size(self) -> int | None:
        return None  # the upstream enforces its own

    async def start(self) -> None:
        """Open the connection pool; nothing is sent until a request comes."""
        headers = {"Accept": "text/event-stream", **self.config.headers}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        cfg = self.config
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout),
            limits=httpx.Limits(
                max_connections=cfg.max_connections,
                max_keepalive_connections=cfg.max_connections,
                # Under the 5 s idle timeout of uvicorn (vLLM) and cpp-httplib (llama.cpp):
                # a connection they are closing must not be picked for a new request.
                keepalive_expiry=KEEPALIVE_SECONDS,
            ),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def payload(self, body: dict[str, Any]) -> dict[str, Any]:
        """The upstream request: our body with its model name and the preset's quirks."""
        out = {**body, "model": body.get("model") or self.upstream_model}
        for name in self.preset.drop:
            out.pop(name, None)
        for ours, theirs in self.preset.rename.items():
            if ours in out:
                out[theirs] = out.pop(ours)
        return out

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST the request and yield the upstream's chunks as they arrive.

        `body["model"]`, when present, names the upstream model instead of the configured one.
        Leaving the iterator closes the connection, which stops the upstream generation.
        One flat loop on purpose: it runs once per token, and every generator layer costs.
        """
        client = self._require_client()
        request = client.build_request("POST", "/chat/completions", json=self.payload(body))
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        finished = usage = done = False
        counted = 0  # content deltas, for servers that report no usage
        try:
            if response.status_code != 200:
                raise await self._status_error(response)
            pieces = response.aiter_bytes()
            buffer = b""
            try:
                while True:
                    piece = await anext(pieces, None)
                    if piece is None:  # the body ended; its last event may lack the blank line
                        datas, _ = sse_split(buffer + b"\n\n")
                    else:
                        datas, buffer = sse_split(buffer + piece if buffer else piece)
                    for data in datas:
                        if data == b"[DONE]":
                            done = True
                            break
                        chunk = self._decode(data)
                        if choices := chunk.get("choices"):
                            choice = choices[0]
                            if choice.get("finish_reason"):
                                finished = True
                            if (choice.get("delta") or {}).get("content"):
                                counted += 1
                        if chunk.get("usage"):
                            usage = True
                            if choices:  # some servers put usage on the last choice chunk
                                yield {**chunk, "usage": None}
                                chunk = {**chunk, "choices": []}
                        yield chunk
                    if done or piece is None:
                        break
                if done and piece is not None:
                    await _drain(pieces)
            except httpx.TransportError as exc:
                raise self._transport_error(exc) from None
            if not (finished or done):
                raise UpstreamError(
                    f"{self.name}: the upstream closed the stream before the answer ended",
                    kind="truncated",
                    retryable=True,
                )
            if not usage:
                yield {
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 0,
                        "completion_tokens": counted,
                        "total_tokens": counted,
                    },
                }
        finally:
            await response.aclose()

    def _decode(self, data: bytes) -> dict[str, Any]:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            raise UpstreamError(
                f"{self.name}: the upstream sent a malformed event: {data[:120]!r}",
                kind="malformed",
            )
        if "error" in chunk:
            err = chunk["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise UpstreamError(
                f"{self.name}: the upstream failed: {self._redact(str(message))[:300]}",
                kind="error_event",
                retryable=True,
            )
        return chunk

    async def list_models(self) -> list[str]:
        """The model ids the upstream serves."""
        client = self._require_client()
        try:
            response = await client.get("/models", timeout=self.config.connect_timeout + 5)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        if response.status_code != 200:
            raise await self._status_error(response)
        data = response.json().get("data") or []
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]

    async def probe(self) -> float:
        """Seconds one GET /models took; raises UpstreamError when the upstream is unwell."""
        start = time.perf_counter()
        await self.list_models()
        return time.perf_counter() - start

    def _require_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise UpstreamError(f"{self.name}: provider not started", kind="not_started")
        return self._client

    def _transport_error(self, exc: httpx.TransportError) -> UpstreamError:
        if isinstance(exc, httpx.TimeoutException):
            kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "timeout"
            text = "did not answer in time"
        elif isinstance(exc, httpx.ConnectError):
            kind, text = "connect", "cannot be reached"
        else:
            kind, text = "disconnected", "dropped the connection"
        return UpstreamError(f"{self.name}: the upstream {text}", kind=kind, retryable=True)

    async def _status_error(self, response: httpx.Response) -> UpstreamError:
        status = response.status_code
        detail = self._redact(await _error_message(response))
        where = f"{self.name}: the upstream answered {status}"
        if status == 429:
            return UpstreamError(
                f"{where} (rate limited): {detail}",
                kind="http_429",
                retryable=True,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        if status in (401, 403):
            return UpstreamError(f"{where}: check its API key", kind="http_auth")
        if status in (400, 413, 422):
            return UpstreamError(f"{where}: {detail}", kind="http_4xx", client_fault=True)
        retryable = (status >= 500 and status != 501) or status == 408
        kind = "http_5xx" if status >= 500 else "http_4xx"
        return UpstreamError(f"{where}: {detail}", kind=kind, retryable=retryable)

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


async def _error_message(response: httpx.Response) -> str:
    raw = b""
    try:
        async for part in response.aiter_bytes():
            raw += part
            if len(raw) >= ERROR_BODY_LIMIT:
                break
    except httpx.TransportError:
        pass
    try:
        err = json.loads(raw).get("error")
        message = err.get("message") if isinstance(err, dict) else err
    except (ValueError, AttributeError):
        message = None
    text = str(message) if message else raw[:300].decode(errors="replace").strip()
    return text[:300] or response.reason_phrase


async def _drain(pieces: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE], normally just the end of the body, so that the connection
    goes back to the pool instead of being closed (a new TCP connection per request costs
    more than relaying a whole answer). A server that lingers is not waited for."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in pieces:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds, from either of its forms (delta or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def sse_split(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The data of each complete server-sent event in buffer, and the incomplete rest.

    Comments and fields other than `data:` are skipped. Hand-written because it runs on
    every network read: splitting bytes costs a fraction of a line-by-line decoder.
    """
    if b"\r" in buffer:
        buffer = buffer.replace(b"\r\n", b"\n")
    *events, rest = buffer.split(b"\n\n")
    datas = []
    for event in events:
        if event.startswith(b"data:") and b"\n" not in event:  # the common case
            datas.append(event[5:].strip())
            continue
        lines = [ln[5:].strip() for ln in event.split(b"\n") if ln.startswith(b"data:")]
        if lines:
            datas.append(b"\n".join(lines))
    return datas, rest


def _factory(preset_name: str) -> Any:
    preset = PRESETS[preset_name]

    def create(config: ModelConfig, settings: Settings) -> OpenAICompatProvider:
        return OpenAICompatProvider(config, preset)

    create.__doc__ = f"Entry point for the `{preset_name}` provider."
    return create


openai_compatible = _factory("openai-compatible")
vllm = _factory("vllm")
ollama = _factory("ollama")
llamacpp = _factory("llamacpp")
openai = _factory("openai")
mistral = _factory("mistral")
openrouter = _factory("openrouter")
