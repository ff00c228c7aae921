"""A real `causerie serve` process, timed from launch to /ready, and a streaming HTTP client."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bench.inference.workload import Sample, StreamTimer

_POLL_S = 0.02


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command() -> list[str]:
    """The `causerie` console script of this environment, as a user runs it."""
    script = Path(sys.executable).parent / "causerie"
    if script.is_file():
        return [str(script)]
    found = shutil.which("causerie")
    return [found] if found else [sys.executable, "-m", "causerie"]


def write_config(path: Path, model: dict[str, Any] | None) -> Path:
    """A TOML config with one model (given as its fields), or with no model at all."""
    if model is None:
        path.write_text("models = []\n")
        return path
    lines = ["[[models]]"] + [f"{key} = {json.dumps(value)}" for key, value in model.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class ServerProcess:
    """`causerie serve --config ... --data-dir ... --port ...` in a child process."""

    def __init__(self, config: Path, data_dir: Path, log: Path):
        self.config = config
        self.data_dir = data_dir
        self.log = log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None

    def start(self, timeout: float = 300) -> float:
        """Launch and wait for /ready 200; returns seconds from launch to ready."""
        cmd = [*_command(), "serve", "--config", str(self.config)]
        cmd += ["--data-dir", str(self.data_dir), "--port", str(self.port)]
        launched = time.perf_counter()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        while time.perf_counter() - launched < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=5).status_code == 200:
                    self.ready_s = time.perf_counter() - launched
                    return self.ready_s
            except httpx.TransportError:
                pass
            time.sleep(_POLL_S)
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.log.read_text()[-2000:]}")

    def rss_bytes(self) -> int:
        """Resident memory of the server process now (VmRSS)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS not found")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit; always reaps the child."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stream_chat(client: httpx.Client, url: str, body: dict[str, Any]) -> Sample:
    """POST a streamed chat completion and time its SSE events as they arrive."""
    timer = StreamTimer(start=time.perf_counter())
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.read().decode()[:500]}")
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: ") :]
            if data == "[DONE]":
                break
            timer.feed(json.loads(data), time.perf_counter())
    return timer.sample()
