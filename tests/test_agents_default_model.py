"""The OpenAI Agents SDK driving Causerie's /v1/responses on the default model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from causerie.settings import ModelConfig
from tests.support import LiveServer, write_config

pytestmark = pytest.mark.slow

DEFAULT = "qwen2.5-coder-1.5b"


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base: Path = tmp_path_factory.mktemp("agents")
    model = ModelConfig(name=DEFAULT, builtin=DEFAULT, n_ctx=4096, n_parallel=1)
    server = LiveServer(write_config(base / "causerie.toml", [model]), base / "data")
    try:
        yield server.start(timeout=600)
    finally:
        server.stop()


async def test_an_agent_calls_its_tool_then_answers_with_the_result(qwen: LiveServer) -> None:
    set_tracing_disabled(True)  # tracing would post to OpenAI's servers
    asked: list[str] = []

    @function_tool
    def get_temperature(city: str) -> str:
        """The current temperature in a city, in degrees Celsius."""
        asked.append(city)
        return "17"  # not a value the model could guess for Paris in words

    client = AsyncOpenAI(base_url=f"{qwen.url}/v1", api_key="local", max_retries=0, timeout=600)
    agent = Agent(
        name="weather",
        instructions="Use the get_temperature tool, then answer with the number it returned.",
        tools=[get_temperature],
        model=OpenAIResponsesModel(model=DEFAULT, openai_client=client),
    )
    result = await Runner.run(agent, "What is the temperature in Paris right now?", max_turns=4)
    assert [c.lower() for c in asked] == ["paris"]  # step 1: the tool call
    assert "17" in str(result.final_output)  # step 2: the answer uses the tool's output
