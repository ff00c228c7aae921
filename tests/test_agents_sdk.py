"""The OpenAI Agents SDK driving Causerie's /v1/responses through a two-step tool task.

Twice: on the default model (Qwen2.5-Coder-1.5B, embedded), as a user would run it; and on a
scripted OpenAI-compatible upstream (a real HTTP server on 127.0.0.1) reached through a
fallback chain whose first target is down. The scripted model answers from what Causerie
sends it, so a lost tool output or a lost earlier turn fails that test whatever a 1.5B
model would have made of it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

from tests.answers_support import send_sse
from tests.support import DEFAULT_MODEL, LiveServer, free_port

TOOL = "get_temperature"


def _script(body: dict[str, Any]) -> dict[str, Any]:
    """The delta a tool-using model would send: call the tool, then answer with its output."""
    messages = body["messages"]
    results = [m for m in messages if m["role"] == "tool"]
    if not results:
        offered = [t["function"]["name"] for t in body.get("tools", [])]
        if TOOL not in offered:
            return {"content": f"no {TOOL} tool offered: {offered}"}
        question = messages[-1]["content"]
        city = "Paris" if "Paris" in str(question) else "nowhere"
        call = {"name": TOOL, "arguments": json.dumps({"city": city})}
        return {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": call}]}
    calls = {c["id"]: c for m in messages for c in m.get("tool_calls") or []}
    call = calls.get(results[-1].get("tool_call_id"))
    if call is None:  # the earlier turn's call was not sent back: say so in the answer
        return {"content": "the tool output has no call before it"}
    city = json.loads(call["function"]["arguments"])["city"]
    return {"content": f"It is {results[-1]['content']} degrees in {city}."}


class Scripted(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(body)
        delta = _script(body)
        finish = "tool_calls" if "tool_calls" in delta else "stop"
        base = {"id": "scripted", "object": "chat.completion.chunk", "created": 0}
        events = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", **delta}}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
            {**base, "choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 9,
                                              "total_tokens": 49}},
        ]  # fmt: skip
        send_sse(self, events)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[LiveServer]:
    base: Path = tmp_path_factory.mktemp("agents")
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    lines = ["[routing]", "retries = 0", ""]
    for name, url in (("down", down), ("scripted", upstream)):
        lines += ["[[models]]", f'name = "{name}"', 'provider = "openai-compatible"']
        lines += [f'base_url = "{url}"', 'upstream_model = "tool-model"', ""]
    lines += ["[[aliases]]", 'name = "agent-model"', 'targets = ["down", "scripted"]']
    (base / "causerie.toml").write_text("\n".join(lines) + "\n")
    server = LiveServer(base / "causerie.toml", base / "data")
    try:
        yield server.start()
    finally:
        server.stop()


async def test_an_agent_calls_its_tool_then_answers_with_the_result(gateway: LiveServer) -> None:
    set_tracing_disabled(True)  # tracing would post to OpenAI's servers
    asked: list[str] = []

    @function_tool
    def get_temperature(city: str) -> str:
        """The current temperature in a city, in degrees Celsius."""
        asked.append(city)
        return "17"

    client = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="local", max_retries=0)
    agent = Agent(
        name="weather",
        instructions="Use the get_temperature tool, then answer with the number it returned.",
        tools=[get_temperature],
        model=OpenAIResponsesModel(model="agent-model", openai_client=client),
    )
    Scripted.seen.clear()
    result = await Runner.run(agent, "What is the temperature in Paris right now?", max_turns=4)
    assert asked == ["Paris"]  # step 1: the agent ran the tool the model called
    assert result.final_output == "It is 17 degrees in Paris."  # step 2: from its output
    assert len(Scripted.seen) == 2  # one model call per step, both through the fallback
    first, second = Scripted.seen
    assert first["messages"][0] == {"role": "system", "content": agent.instructions}
    assert [m["role"] for m in second["messages"]][-2:] == ["assistant", "tool"]


@pytest.mark.slow
async def test_an_agent_on_the_default_model_calls_its_tool_then_answers(qwen: LiveServer) -> None:
    set_tracing_disabled(True)
    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        asked.append(city)
        return json.dumps({"temperature_c": 31, "sky": "sunny"})

    client = AsyncOpenAI(base_url=f"{qwen.url}/v1", api_key="local", max_retries=0, timeout=600)
    agent = Agent(
        name="weather",
        instructions="Use the get_weather tool, then answer with what it returned.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model=DEFAULT_MODEL, openai_client=client),
        # Greedy and short: the same two steps every run, a few seconds each on 2 cores.
        model_settings=ModelSettings(temperature=0, max_tokens=60),
    )
    result = await Runner.run(agent, "What is the weather in Paris right now?", max_turns=3)
    assert [c.lower() for c in asked] == ["paris"]  # step 1: a real call, run by the agent
    assert len(result.raw_responses) == 2  # step 2: one more model turn, no repeated call
    assert "31" in str(result.final_output)  # answered from the tool's output
