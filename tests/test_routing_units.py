"""The pieces of routing that need no server: breaker, Retry-After, SSE framing, config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from causerie.providers.openai_compat import (
    PRESETS,
    OpenAICompatProvider,
    retry_after_seconds,
    sse_split,
)
from causerie.providers.routing import Breaker
from causerie.settings import ModelConfig, Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_failures_then_probes_once_and_closes() -> None:
    clock = Clock()
    b = Breaker(failures=2, cooldown=10, cooldown_max=40, clock=clock)
    assert b.allow()
    b.failure()
    assert b.state == "closed" and b.allow()
    b.failure()
    assert b.state == "open" and not b.allow()
    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow() and b.state == "half_open"
    assert not b.allow(), "only one probe at a time"
    b.success()
    assert b.state == "closed" and b.failures == 0 and b.allow()


def test_breaker_failed_probe_doubles_the_cooldown_up_to_the_max() -> None:
    clock = Clock()
    b = Breaker(failures=1, cooldown=10, cooldown_max=25, clock=clock)
    b.failure()
    assert b.remaining() == pytest.approx(10)
    for expected in (20, 25, 25):
        clock.now += b.remaining()
        assert b.allow()
        b.failure()
        assert b.state == "open" and b.remaining() == pytest.approx(expected)


def test_breaker_cools_for_the_time_asked_and_release_frees_a_probe() -> None:
    clock = Clock()
    b = Breaker(failures=5, cooldown=10, cooldown_max=40, clock=clock)
    b.cool(3)
    assert not b.allow() and b.remaining() == pytest.approx(3)
    clock.now += 3
    assert b.allow()
    b.release()  # e.g. the client went away: the probe told nothing
    assert b.allow()


def test_retry_after_in_both_forms() -> None:
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a past date
    assert 3590 < (retry_after_seconds(_http_date(3600)) or 0) <= 3600


def _http_date(seconds_ahead: int) -> str:
    from email.utils import formatdate
    from time import time

    return formatdate(time() + seconds_ahead, usegmt=True)


def test_sse_split_handles_partial_events_comments_crlf_and_multiline_data() -> None:
    datas, rest = sse_split(b': comment\n\ndata: {"a"')
    assert datas == [] and rest == b'data: {"a"'
    datas, rest = sse_split(
        rest + b': 1}\n\nevent: x\r\ndata: {"b": 2}\r\n\r\ndata: [1,\ndata: 2]\n\nda'
    )
    assert datas == [b'{"a": 1}', b'{"b": 2}', b"[1,\n2]"] and rest == b"da"
    assert sse_split(b"data: [DONE]" + b"\n\n") == ([b"[DONE]"], b"")


def _remote(**kw: object) -> ModelConfig:
    return ModelConfig(name="r", provider="openai-compatible", **kw)  # type: ignore[arg-type]


def test_api_key_from_file_is_sent_but_never_shown(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-secret-123\n")
    p = OpenAICompatProvider(
        _remote(base_url="http://127.0.0.1:9/v1", api_key_file=key_file), PRESETS["vllm"]
    )
    assert "sk-secret" not in repr(p) and "sk-secret" not in repr(p.__dict__.get("config"))
    assert p._redact("bad key sk-secret-123 given") == "bad key *** given"


def test_missing_key_for_a_hosted_preset_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the environment, not our code
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAICompatProvider(ModelConfig(name="gpt", provider="openai"), PRESETS["openai"])
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatProvider(_remote(), PRESETS["openai-compatible"])


def test_presets_rename_and_drop_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"messages": [], "max_tokens": 5, "seed": 1, "stream_options": {"include_usage": True}}
    vllm = OpenAICompatProvider(
        _remote(base_url="http://h/v1", upstream_model="q"), PRESETS["vllm"]
    )
    assert vllm.payload(body) == {**body, "model": "q"}
    assert vllm.payload({**body, "model": "other"})["model"] == "other"
    monkeypatch.setenv("MISTRAL_API_KEY", "k")
    mistral = OpenAICompatProvider(
        ModelConfig(name="mistral-small", provider="mistral"), PRESETS["mistral"]
    )
    assert mistral.payload(body) == {
        "messages": [],
        "max_tokens": 5,
        "random_seed": 1,
        "model": "mistral-small",
    }
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    gpt = OpenAICompatProvider(
        ModelConfig(name="gpt-4o-mini", provider="openai"), PRESETS["openai"]
    )
    assert gpt.payload(body)["max_completion_tokens"] == 5 and "max_tokens" not in gpt.payload(body)
    assert gpt.base_url.startswith("https://")


def test_aliases_are_validated() -> None:
    models = [ModelConfig(name="a", provider="ollama"), ModelConfig(name="b", provider="ollama")]
    ok = Settings(models=models, aliases=[{"name": "chat", "targets": ["a", "b"]}])
    assert ok.aliases[0].targets == ["a", "b"]
    Settings(models=models, aliases=[{"name": "chat", "targets": ["b"]}], default_model="chat")
    with pytest.raises(ValidationError, match="unknown targets"):
        Settings(models=models, aliases=[{"name": "chat", "targets": ["a", "zz"]}])
    with pytest.raises(ValidationError, match="name of a model"):
        Settings(models=models, aliases=[{"name": "a", "targets": ["b"]}])
    with pytest.raises(ValidationError, match="unknown targets"):
        Settings(
            models=models,
            aliases=[{"name": "x", "targets": ["a"]}, {"name": "y", "targets": ["x"]}],
        )


def test_readme_provider_examples_are_valid_settings() -> None:
    import tomllib

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Providers and fallback", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```toml\n")[1:]]
    assert len(blocks) == 3
    first = Settings(**tomllib.loads(blocks[0]))
    assert first.aliases[0].targets == ["gpu", "mistral-small", "local"]
    presets = Settings(**tomllib.loads(blocks[1]))
    assert {m.provider for m in presets.models} == set(PRESETS)
    assert Settings(routing=tomllib.loads(blocks[2])["routing"]).routing.retries == 1


async def test_coalesce_joins_bursts_and_closes_its_source_when_abandoned() -> None:
    import asyncio

    from causerie.http import COALESCE_MAX_PIECES, coalesce

    closed = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        try:
            for i in range(COALESCE_MAX_PIECES * 4):
                yield b"%d," % i
        finally:
            closed.set()

    stream = coalesce(source())
    first = await anext(stream)
    assert first.startswith(b"0,1,2,")  # one burst, one piece
    await asyncio.sleep(0.01)  # the reader runs ahead until the buffer is full, then waits
    await stream.aclose()  # the client went away
    assert closed.is_set()

    whole = b"".join([piece async for piece in coalesce(source())])
    assert whole == b"".join(b"%d," % i for i in range(COALESCE_MAX_PIECES * 4))
