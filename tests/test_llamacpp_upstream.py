"""A genuine llama.cpp OpenAI server as an upstream, behind a dead one, through `causerie serve`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.llamacpp_upstream import MODEL_ALIAS, LlamaCppServer
from tests.support import LiveServer, free_port


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaCppServer]:
    server = LlamaCppServer(free_port())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, llama: LlamaCppServer) -> Path:
    dead = free_port()  # nothing listens there: connection refused
    path = tmp_path_factory.mktemp("llamacpp") / "causerie.toml"
    path.write_text(
        f"""
[routing]
backoff = 0.05

[[models]]
name = "dead-vllm"
provider = "vllm"
base_url = "http://127.0.0.1:{dead}/v1"
public = false

[[models]]
name = "llama"
provider = "llamacpp"
base_url = "{llama.url}/v1"
upstream_model = "{MODEL_ALIAS}"

[[aliases]]
name = "chat"
targets = ["dead-vllm", "llama"]
"""
    )
    return path


@pytest.fixture(scope="module")
def gateway(config: Path) -> Iterator[LiveServer]:
    server = LiveServer(config, config.parent / "data")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(gateway: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def test_llamacpp_answers_behind_a_dead_target(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.model for c in chunks} == {"chat"} and len({c.id for c in chunks}) == 1
    assert chunks[-1].usage.completion_tokens > 0 and chunks[-1].usage.prompt_tokens > 0

    whole = client.chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    )
    assert whole.choices[0].message.content and whole.usage.completion_tokens > 0


def test_reply_from_llamacpp_is_stored(gateway: LiveServer) -> None:
    api = f"{gateway.url}/api"
    conv = httpx.post(f"{api}/conversations", json={"model": "chat"}, timeout=10).json()
    with httpx.stream(
        "POST", f"{api}/conversations/{conv['id']}/messages", json={"content": "Hello"}, timeout=60
    ) as r:
        assert r.status_code == 200
        r.read()
    reply = httpx.get(f"{api}/conversations/{conv['id']}", timeout=10).json()["messages"][-1]
    assert reply["status"] == "complete" and reply["content"].strip()
    assert reply["usage"]["completion_tokens"] > 0


def test_closing_the_stream_stops_the_upstream_generation(
    client: openai.OpenAI, llama: LlamaCppServer
) -> None:
    stream = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "Write a very long story about a lighthouse."}],
        max_tokens=3000,
        stream=True,
    )
    received = 0
    for chunk in stream:
        received += 1 if chunk.choices and chunk.choices[0].delta.content else 0
        if received >= 3:
            break
    assert _busy(llama)  # generating, with thousands of tokens to go
    stream.close()
    deadline = time.monotonic() + 15
    while _busy(llama) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _busy(llama), "the upstream kept generating after the client left"


def _busy(llama: LlamaCppServer) -> bool:
    slots = httpx.get(f"{llama.url}/slots", timeout=5).json()
    return any(s["is_processing"] for s in slots)


def test_models_command_shows_targets_and_health(config: Path, gateway: LiveServer) -> None:
    cmd = [sys.executable, "-m", "causerie", "models", "--config", str(config)]
    probed = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert probed.returncode == 0, probed.stderr
    lines = {line.split("\t")[0].strip("* "): line for line in probed.stdout.splitlines()}
    assert "up (" in lines["llama"] and "down: " in lines["dead-vllm"]
    assert "dead-vllm -> llama" in lines["chat"]

    running = subprocess.run(
        [*cmd, "--server", gateway.url], capture_output=True, text=True, timeout=60
    )
    assert running.returncode == 0, running.stderr
    lines = {line.split("\t")[0].strip("* "): line for line in running.stdout.splitlines()}
    assert "up," in lines["llama"] and "errors" in lines["dead-vllm"]
    assert "targets up" in lines["chat"]
