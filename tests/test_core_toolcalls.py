"""Recovering tool calls that a small model wrote as JSON text (see services/toolcalls.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from causerie.services.toolcalls import (
    could_be_call,
    offered_tools,
    parse_calls,
    recover_tool_calls,
)

NAMES = {"get_weather", "get_time"}
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'


@pytest.mark.parametrize(
    "text",
    [
        CALL,
        f"```json\n{CALL}\n```",
        f"```\n{CALL}\n```",
        f"<tool_call>\n{CALL}\n</tool_call>",
        f"  \n{CALL}\n",
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
        '{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}',
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
    ],
)
def test_calls_written_as_text_are_parsed(text: str) -> None:
    [call] = parse_calls(text, NAMES) or []
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_several_calls() -> None:
    text = f'[{CALL}, {{"name": "get_time", "arguments": {{}}}}]'
    calls = parse_calls(text, NAMES) or []
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    tagged = f"<tool_call>{CALL}</tool_call>\n<tool_call>{CALL}</tool_call>"
    assert len(parse_calls(tagged, NAMES) or []) == 2
    assert len({c["id"] for c in parse_calls(tagged, NAMES) or []}) == 2


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "launch_rockets", "arguments": {}}',  # not an offered tool
        '{"name": "get_weather", "arguments": [1, 2]}',
        '{"name": "get_weather", "arguments": {"city": "Par',  # cut by max_tokens
        '{"city": "Paris"}',
        "It is sunny in Paris.",
        f"Sure! {CALL}",
        "```python\nprint(1)\n```",
    ],
)
def test_other_text_is_not_a_call(text: str) -> None:
    assert parse_calls(text, NAMES) is None


def test_could_be_call_decides_early_for_prose_and_code() -> None:
    for prefix in [
        "",
        " ",
        "{",
        '{\n  "na',
        "`",
        "``",
        "```",
        "```j",
        "```json",
        "```json\n{",
        "<to",
    ]:
        assert could_be_call(prefix), prefix
    for prefix in ["H", "Sure", "```python", "```\nprint", "<b>", "1."]:
        assert not could_be_call(prefix), prefix


def test_offered_tools() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    assert offered_tools({"tools": tools}) == {"get_weather"}
    assert offered_tools({"tools": tools, "tool_choice": "none"}) == set()
    assert offered_tools({}) == set()


def engine_chunks(*pieces: str, finish: str = "stop") -> list[dict[str, Any]]:
    """Chunks shaped like llama.cpp's: a role chunk, content pieces, a finish chunk."""
    base = {"object": "chat.completion.chunk", "system_fingerprint": "b0"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append({**base, "choices": [], "usage": {"completion_tokens": len(pieces)}})
    return chunks


async def recovered(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async def source() -> AsyncIterator[dict[str, Any]]:
        for chunk in chunks:
            yield chunk

    return [c async for c in recover_tool_calls(source(), NAMES)]


async def test_stream_of_a_call_becomes_tool_calls() -> None:
    out = await recovered(
        engine_chunks(
            "```json\n", '{"name": "get_weather",', ' "arguments":', ' {"city": "Paris"}}', "\n```"
        )
    )
    assert out[0]["choices"][0]["delta"] == {"role": "assistant"}
    [call_chunk] = [c for c in out if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    [part] = call_chunk["choices"][0]["delta"]["tool_calls"]
    assert part["index"] == 0 and part["function"]["name"] == "get_weather"
    assert call_chunk["system_fingerprint"] == "b0"
    assert out[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert out[-1]["choices"] == []
    assert not any(c["choices"] and c["choices"][0]["delta"].get("content") for c in out)


async def test_prose_streams_through_unchanged() -> None:
    out = await recovered(engine_chunks("It", " is", " sunny."))
    texts = [c["choices"][0]["delta"].get("content") for c in out if c["choices"]]
    assert texts == [None, "It", " is", " sunny.", None]
    assert out[-2]["choices"][0]["finish_reason"] == "stop"


async def test_held_text_that_is_not_a_call_is_released_whole() -> None:
    out = await recovered(engine_chunks("{", '"city": ', '"Paris"}'))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in out if c["choices"])
    assert text == '{"city": "Paris"}'
    assert out[-2]["choices"][0]["finish_reason"] == "stop"
    cut = await recovered(
        engine_chunks("```json\n", '{"name": "get_weather", "argu', finish="length")
    )
    assert cut[-2]["choices"][0]["finish_reason"] == "length"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in cut if c["choices"])
