"""End to end on the default model (Qwen2.5-Coder-1.5B), through the official openai client."""

from __future__ import annotations

import json
import struct
from importlib.resources import files
from pathlib import Path

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


def test_the_tool_template_is_the_ggufs_with_three_fixes(qwen: LiveServer) -> None:
    """The template Causerie runs Qwen with: the GGUF's own, changed in three places only."""
    gguf = qwen.data_dir / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    shipped = _gguf_string(gguf, "tokenizer.chat_template")
    # (the GGUF's text, Causerie's): docs/compatibility.md, "Agents on the default model"
    fixes = [
        (r"{{\"name\": <function-name>, \"arguments\": <args-json-object>}}",
         r"{\"name\": <function-name>, \"arguments\": <args-json-object>}"),
        (r"</tool_call><|im_end|>\n",
         r"</tool_call>\n\nA <tool_response> holds the result of your call: answer the user "
         r"with it, unless you need another call.<|im_end|>\n"),
        ("            {{- tool_call.arguments | tojson }}\n",
         "            {%- if tool_call.arguments is string %}\n"
         "                {{- tool_call.arguments }}\n"
         "            {%- else %}\n"
         "                {{- tool_call.arguments | tojson }}\n"
         "            {%- endif %}\n"),
    ]  # fmt: skip
    expected = shipped.rstrip("\n") + "\n"
    for old, new in fixes:
        assert expected.count(old) == 1, old
        expected = expected.replace(old, new)
    ours = files("causerie") / "templates" / "qwen2.5-coder-tools.jinja"
    assert ours.read_text(encoding="utf-8") == expected


def _gguf_string(path: Path, key: str) -> str:
    """One string value from a GGUF file's metadata (the format's version 3 layout)."""
    scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with path.open("rb") as f:

        def string() -> str:
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8")

        def value(kind: int) -> str | None:
            if kind == 8:
                return string()
            if kind == 9:
                item, n = struct.unpack("<IQ", f.read(12))
                for _ in range(n) if item == 8 else ():
                    string()
                if item != 8:
                    f.seek(scalar[item] * n, 1)
                return None
            f.seek(scalar[kind], 1)
            return None

        _magic, _version, _tensors, entries = struct.unpack("<IIQQ", f.read(24))
        for _ in range(entries):
            name = string()
            (kind,) = struct.unpack("<I", f.read(4))
            found = value(kind)
            if name == key and found is not None:
                return found
    raise AssertionError(f"{key} not in {path}")
