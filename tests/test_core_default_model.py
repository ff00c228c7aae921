"""End to end on the default model (Qwen2.5-Coder-1.5B), through the official openai client."""

from __future__ import annotations

import json

import pytest
from openai import OpenAI

from tests.support import DEFAULT_MODEL, LiveServer

pytestmark = pytest.mark.slow

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        },
    },
}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris right now?"}]


def client(server: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="local", max_retries=0, timeout=600)


def test_first_start_prepares_the_model_visibly(qwen: LiveServer) -> None:
    log = qwen.log.read_text()
    assert f"preparing model {DEFAULT_MODEL}: 0%" in log
    assert f"preparing model {DEFAULT_MODEL}: 100%" in log
    joined = qwen.data_dir / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert joined.stat().st_size == 1_117_320_768


def test_real_answer(qwen: LiveServer) -> None:
    completion = client(qwen).chat.completions.create(
        model=DEFAULT_MODEL,
        messages=[
            {"role": "user", "content": "What is the capital of France? Answer in one word."}
        ],
        max_tokens=10,
        temperature=0,
    )
    assert "Paris" in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_tool_call_and_its_result(qwen: LiveServer) -> None:
    sdk = client(qwen)
    completion = sdk.chat.completions.create(
        model=DEFAULT_MODEL,
        messages=ASK_WEATHER,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        max_tokens=80,
        temperature=0,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    assert "paris" in json.loads(call.function.arguments)["city"].lower()
    # The client runs the tool and sends its result back; the model answers from it.
    answer = sdk.chat.completions.create(
        model=DEFAULT_MODEL,
        messages=[
            *ASK_WEATHER,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": json.dumps({"temperature_c": 31, "sky": "sunny"}),
            },
        ],
        tools=[WEATHER_TOOL],
        max_tokens=60,
        temperature=0,
    )
    assert answer.choices[0].finish_reason == "stop"
    assert "31" in (answer.choices[0].message.content or "")


def test_streamed_tool_call(qwen: LiveServer) -> None:
    stream = client(qwen).chat.completions.create(
        model=DEFAULT_MODEL,
        messages=ASK_WEATHER,
        tools=[WEATHER_TOOL],
        max_tokens=80,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    choice_chunks = [c for c in chunks if c.choices]
    assert choice_chunks[-1].choices[0].finish_reason == "tool_calls"
    # Put the call back together from its deltas, as the SDK's users do.
    name, arguments, ids = "", "", set()
    for c in choice_chunks:
        for part in c.choices[0].delta.tool_calls or ():
            assert part.index == 0
            if part.id:
                ids.add(part.id)
            name += (part.function and part.function.name) or ""
            arguments += (part.function and part.function.arguments) or ""
    assert name == "get_weather"
    assert len(ids) == 1
    assert "paris" in json.loads(arguments)["city"].lower()
    assert not "".join(c.choices[0].delta.content or "" for c in choice_chunks).strip()
