"""A genuine llama.cpp OpenAI server (xllamacpp's HTTP listener) hosting SmolLM2.

Run as `python -m tests.llamacpp_upstream --port N`: a separate process, as a
llama.cpp server on another machine would be. `LlamaCppServer` starts and stops it.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from causerie.modelfiles import resolve_model_path
from causerie.settings import ModelConfig

MODEL_ALIAS = "smollm2-135m-instruct"


class LlamaCppServer:
    """The llama.cpp server in a child process on 127.0.0.1."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> LlamaCppServer:
        cmd = [sys.executable, "-m", "tests.llamacpp_upstream", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {self.proc.stderr.read()[-2000:]!r}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError("llama.cpp server did not load")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main() -> None:
    import xllamacpp

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The shipped SmolLM2 file is used in place; the cache dir only matters for joined models.
    path = resolve_model_path(ModelConfig(name="smol", builtin="smollm2-135m"), Path("."))
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {MODEL_ALIAS}
    params.n_ctx = 4096
    params.n_parallel = 2
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    params.use_jinja = True
    params.endpoint_slots = True
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.verbosity = -1
    server = xllamacpp.Server(params)  # listens on its own HTTP port until released
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("listening on", server.listening_address, flush=True)
    stop.wait()
    del server


if __name__ == "__main__":
    main()
