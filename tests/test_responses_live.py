"""The Responses API on a real `causerie serve` socket, driven by the official openai client."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support import SMOL, LiveServer, smol_model, write_config

HELLO = "Say hello to Ann."
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CALL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "enum": ["get_weather"]},
        "arguments": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
}
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
# The documented order of a text reply's events.
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def sdk(server: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="anything", max_retries=0)


def test_create_retrieve_and_list_input_items(live: LiveServer) -> None:
    client = sdk(live)
    resp = client.responses.create(
        model=SMOL,
        input=HELLO,
        instructions="Answer in one short sentence.",
        max_output_tokens=16,
        temperature=0.2,
        top_p=0.9,
        metadata={"case": "basic"},
    )
    assert resp.object == "response" and resp.id.startswith("resp_")
    assert resp.status in ("completed", "incomplete") and resp.model == SMOL
    assert resp.output_text.strip()
    assert resp.output[0].type == "message" and resp.output[0].role == "assistant"
    assert resp.usage is not None and resp.usage.input_tokens > 0
    assert 0 < resp.usage.output_tokens <= 16
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert resp.metadata == {"case": "basic"} and resp.instructions.startswith("Answer")
    assert resp.temperature == 0.2 and resp.top_p == 0.9 and resp.store is True
    stored = client.responses.retrieve(resp.id)
    assert stored.output_text == resp.output_text and stored.status == resp.status
    items = client.responses.input_items.list(resp.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].content[0].text == HELLO and items.has_more is False


def test_stream_follows_the_documented_event_sequence(live: LiveServer) -> None:
    client = sdk(live)
    args = {"model": SMOL, "input": "Write a story about a dragon.", "max_output_tokens": 12}
    events = list(client.responses.create(**args, temperature=0, stream=True))
    kinds = [e.type for e in events]
    assert list(dict.fromkeys(kinds)) == [*TEXT_EVENTS, "response.incomplete"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.status == "incomplete" and final.incomplete_details.reason == "max_output_tokens"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == final.output_text
    assert len({e.response.id for e in events if hasattr(e, "response")}) == 1
    whole = client.responses.create(**args, temperature=0)
    assert whole.output_text == text


def test_structured_output_follows_the_schema(live: LiveServer) -> None:
    resp = sdk(live).responses.create(
        model=SMOL,
        input="Describe a person called Ann, aged 31, as JSON.",
        max_output_tokens=120,
        text={"format": {"type": "json_schema", "name": "person", "schema": PERSON_SCHEMA}},
    )
    data = json.loads(resp.output_text)
    assert set(data) == {"name", "age"} and isinstance(data["age"], int)
    assert resp.text.format.type == "json_schema"


def test_function_tools_and_their_outputs(live: LiveServer) -> None:
    client = sdk(live)
    resp = client.responses.create(
        model=SMOL,
        input="What is the weather in Paris?",
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        parallel_tool_calls=False,
        max_output_tokens=60,
        # SmolLM2 does not call tools by itself: a schema makes it write the call as JSON,
        # which Causerie turns into a function_call item, as it does for real models.
        text={"format": {"type": "json_schema", "name": "call", "schema": CALL_SCHEMA}},
    )
    calls = [o for o in resp.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather", resp.output
    assert "city" in json.loads(calls[0].arguments)
    assert resp.parallel_tool_calls is False and resp.tools[0].name == "get_weather"
    # The client runs the tool and hands back its output, continuing the stored response.
    after = client.responses.create(
        model=SMOL,
        previous_response_id=resp.id,
        input=[
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny, 21 C"}
        ],
        tools=[WEATHER_TOOL],
        max_output_tokens=30,
    )
    assert after.status in ("completed", "incomplete") and after.output
    # The same turn sent whole (stateless): function_call and function_call_output items.
    stateless = client.responses.create(
        model=SMOL,
        store=False,
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {
                "type": "function_call",
                "call_id": calls[0].call_id,
                "name": "get_weather",
                "arguments": calls[0].arguments,
            },
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny"},
        ],
        max_output_tokens=20,
    )
    assert stateless.store is False and stateless.output
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(stateless.id)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"background": True}, "background"),
        ({"tools": [{"type": "web_search_preview"}]}, "Web search is not enabled"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "code_inter"),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "What is this?"},
                            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                        ],
                    }
                ]
            },
            "Image input",
        ),
        ({"input": [{"type": "reasoning", "summary": []}]}, "reasoning"),
        ({"reasoning": {"effort": "high"}}, "reasoning"),
        ({"previous_response_id": "resp_nothing"}, "resp_nothing"),
    ],
)
def test_unsupported_parts_are_named_in_an_openai_error(
    live: LiveServer, extra: dict, words: str
) -> None:
    body = {"model": SMOL, "input": HELLO, "max_output_tokens": 4, **extra}
    r = httpx.post(f"{live.url}/v1/responses", json=body, timeout=60)
    assert r.status_code in (400, 404), r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and words in err["message"]
    assert httpx.get(f"{live.url}/ready").status_code == 200


def test_delete_and_cancel(live: LiveServer) -> None:
    client = sdk(live)
    done = client.responses.create(model=SMOL, input=HELLO, max_output_tokens=4)
    with pytest.raises(openai.BadRequestError, match="not running"):
        client.responses.cancel(done.id)
    client.responses.delete(done.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(done.id)
    # A long streamed response, cancelled from another connection while it runs.
    stream = client.responses.create(
        model=SMOL, input="Write a very long story.", max_output_tokens=1500, stream=True
    )
    seen: list[str] = []
    cancelled: list = []
    stream_id = ""

    def cancel() -> None:
        cancelled.append(client.responses.cancel(stream_id))

    for event in stream:
        seen.append(event.type)
        if event.type == "response.created":
            stream_id = event.response.id
        if event.type == "response.output_text.delta" and seen.count(event.type) == 3:
            threading.Thread(target=cancel).start()
    assert seen[-1] == "response.incomplete"
    deadline = time.monotonic() + 10
    while not cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cancelled and cancelled[0].status == "cancelled"
    assert client.responses.retrieve(stream_id).status == "cancelled"


def test_previous_response_survives_a_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path / "causerie.toml", [smol_model()])
    server = LiveServer(config, tmp_path / "data")
    with server:
        first = sdk(server).responses.create(
            model=SMOL, input="My name is Ann. Remember it.", max_output_tokens=20
        )
    with LiveServer(config, tmp_path / "data") as again:
        client = sdk(again)
        assert client.responses.retrieve(first.id).output_text == first.output_text
        question = "What is my name?"
        fresh = client.responses.create(model=SMOL, input=question, max_output_tokens=8)
        follow = client.responses.create(
            model=SMOL, input=question, previous_response_id=first.id, max_output_tokens=8
        )
        assert follow.previous_response_id == first.id
        # The earlier turn (question and answer) is in the prompt, rebuilt from the database.
        assert follow.usage.input_tokens >= fresh.usage.input_tokens + first.usage.output_tokens
