"""Fallback through a real `causerie serve`, against a real upstream that misbehaves.

Every case goes through the official openai client (what users see) and, where a
reply is stored, through the conversation API (what is kept).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from bench.gateway.fake_upstream import FakeUpstream, token_text

from tests.support import LiveServer

KEY = "sk-test-never-logged-4242"
COOLDOWN = 3.0
READ_TIMEOUT = 1.0

# (name, upstream behaviour, extra TOML lines)
TARGETS = [
    ("ok", "ok", ""),
    ("ok2", "ok@second", ""),
    ("t503", "status:503", "public = false"),
    ("t500", "status:500", "public = false"),
    ("t422", "status:422", "public = false"),
    ("t429", "ratelimit:1", "public = false"),
    ("rl-long", "ratelimit:30", ""),
    ("cut", "cut:5", ""),
    ("cut-b", "cut:4@b", "public = false"),
    ("bad0", "malformed:0", "public = false"),
    ("bad3", "malformed:3", ""),
    ("err2", "error:2", ""),
    ("hang0", "hang:0", "public = false"),
    ("hang3", "hang:3", ""),
    ("slow", "delay:0.4", ""),
    ("flaky", "flaky:4@breaker", ""),
    ("noisy", "noisy", ""),
    ("keyed", "ok@keyed", 'api_key_file = "KEYFILE"\nheaders = { "X-Test" = "yes" }'),
    ("lister", "ok@lister", "list_upstream_models = true"),
]
ALIASES = {
    "fb-5xx": ["t503", "ok"],
    "fb-429": ["t429", "ok"],
    "fb-422": ["t422", "ok"],
    "fb-cut": ["cut-b", "ok2"],
    "fb-bad": ["bad0", "ok"],
    "fb-hang": ["hang0", "ok"],
    "all-down": ["t500", "t503"],
}


def _config(path: Path, upstream: str, key_file: Path) -> Path:
    lines = [
        "[routing]",
        "retries = 1",
        "backoff = 0.05",
        "backoff_max = 0.2",
        "retry_after_max = 2",
        "breaker_failures = 2",
        f"breaker_cooldown = {COOLDOWN}",
        "",
    ]
    for name, behaviour, extra in TARGETS:
        lines += [
            "[[models]]",
            f'name = "{name}"',
            'provider = "openai-compatible"',
            f'base_url = "{upstream}/v1"',
            f'upstream_model = "{behaviour}"',
            f"read_timeout = {READ_TIMEOUT}",
            extra.replace("KEYFILE", str(key_file)),
            "",
        ]
    for name, targets in ALIASES.items():
        lines += ["[[aliases]]", f'name = "{name}"', f"targets = {json.dumps(targets)}", ""]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("fallback")
    key_file = base / "upstream.key"
    key_file.write_text(KEY + "\n")
    server = LiveServer(_config(base / "causerie.toml", upstream.url, key_file), base / "data")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(gateway: LiveServer) -> openai.OpenAI:
    # No client-side retries: we test what Causerie does, once.
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def expected(n: int) -> str:
    return "".join(token_text(i) for i in range(1, n + 1))


def stream_text(client: openai.OpenAI, model: str, n: int = 20) -> tuple[str, list[Any]]:
    """Content streamed for one request, and the chunks (raises what the client raises)."""
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "count"}],
            max_tokens=n,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def partial_then_error(client: openai.OpenAI, model: str) -> tuple[str, openai.APIError]:
    """Text received before the stream ended with an error event, and that error."""
    text = ""
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "count"}], max_tokens=20, stream=True
        ):
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    return text, caught.value


def seen(upstream: FakeUpstream, behaviour: str) -> int:
    return sum(1 for r in upstream.requests() if r["model"] == behaviour)


def health(gateway: LiveServer) -> dict[str, Any]:
    return httpx.get(f"{gateway.url}/health/targets", timeout=5).json()["targets"]


def test_plain_remote_model_streams_with_stream_invariants(client: openai.OpenAI) -> None:
    text, chunks = stream_text(client, "ok", 12)
    assert text == expected(12)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.id for c in chunks} == {chunks[0].id} and {c.model for c in chunks} == {"ok"}
    assert [c for c in chunks if c.choices][-1].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12


def test_5xx_before_first_token_falls_back_transparently(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    before = seen(upstream, "status:503")
    text, chunks = stream_text(client, "fb-5xx")
    assert text == expected(20)
    assert {c.model for c in chunks} == {"fb-5xx"}
    assert seen(upstream, "status:503") - before == 2  # one retry, then the next target
    whole = client.chat.completions.create(
        model="fb-5xx", messages=[{"role": "user", "content": "count"}], max_tokens=7
    )
    assert whole.choices[0].message.content == expected(7)


def test_4xx_from_one_target_is_not_held_against_it(
    client: openai.OpenAI, gateway: LiveServer
) -> None:
    text, _ = stream_text(client, "fb-422", 3)
    assert text == expected(3)
    assert health(gateway)["t422"]["consecutive_failures"] == 0


def test_429_retry_after_is_honoured_then_the_target_cools(
    client: openai.OpenAI, upstream: FakeUpstream, gateway: LiveServer
) -> None:
    before = seen(upstream, "ratelimit:1")
    start = time.monotonic()
    text, _ = stream_text(client, "fb-429", 5)
    assert text == expected(5)
    assert time.monotonic() - start >= 1.0  # waited the Retry-After once
    assert seen(upstream, "ratelimit:1") - before == 2
    assert health(gateway)["t429"]["state"] == "open"
    stream_text(client, "fb-429", 5)  # cooling: not asked again
    assert seen(upstream, "ratelimit:1") - before == 2


def test_429_with_a_long_retry_after_reaches_the_client_as_429(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        stream_text(client, "rl-long")
    assert caught.value.status_code == 429
    assert int(caught.value.response.headers["retry-after"]) >= 29


def test_every_target_down_is_a_503_naming_each_failure(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="all-down", messages=[{"role": "user", "content": "x"}], max_tokens=3
        )
    err = caught.value
    assert err.status_code == 503 and err.response.headers["retry-after"]
    assert "t500" in err.message and "t503" in err.message


def test_malformed_sse_before_output_falls_back(client: openai.OpenAI) -> None:
    text, _ = stream_text(client, "fb-bad", 6)
    assert text == expected(6)


def test_hanging_upstream_times_out_and_falls_back(client: openai.OpenAI) -> None:
    start = time.monotonic()
    text, _ = stream_text(client, "fb-hang", 4)
    assert text == expected(4)
    assert 2 * READ_TIMEOUT <= time.monotonic() - start < 30


@pytest.mark.parametrize(
    ("model", "kept", "reason"),
    [
        ("cut", 5, "dropped the connection"),
        ("bad3", 3, "malformed"),
        ("err2", 2, "failed"),
        ("hang3", 3, "did not answer in time"),
    ],
)
def test_failure_after_tokens_ends_the_stream_with_an_error_event(
    client: openai.OpenAI, model: str, kept: int, reason: str
) -> None:
    text, err = partial_then_error(client, model)
    assert text == expected(kept)  # what was sent stays, nothing is added or spliced
    assert "cut off" in err.message and reason in err.message


def _post_sse(gateway: LiveServer, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    events = []
    with httpx.stream("POST", f"{gateway.url}{path}", json=body, timeout=30) as r:
        assert r.status_code == 200, r.read()
        kind = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line[5:])))
    return events


def test_cut_reply_is_kept_interrupted_then_regenerated_on_the_next_target(
    gateway: LiveServer, upstream: FakeUpstream
) -> None:
    api = f"{gateway.url}/api"
    conv = httpx.post(f"{api}/conversations", json={"model": "fb-cut"}, timeout=10).json()
    events = _post_sse(gateway, f"/api/conversations/{conv['id']}/messages", {"content": "count"})
    kinds = [k for k, _ in events]
    assert "error" in kinds and kinds[-1] == "done"
    done = events[-1][1]
    assert done["status"] == "interrupted" and done["content"] == expected(4)
    assert "cut off" in done["error"]
    first_reply = done["id"]

    # Regenerate: the same target cuts again, which opens its circuit (2 failures).
    path = f"/api/conversations/{conv['id']}/messages/{first_reply}/regenerate"
    assert _post_sse(gateway, path, {})[-1][1]["status"] == "interrupted"
    assert health(gateway)["cut-b"]["state"] == "open"
    # Then the next regeneration goes straight to the next target, whole and clean.
    cuts = seen(upstream, "cut:4@b")
    final = _post_sse(gateway, path, {})[-1][1]
    assert final["status"] == "complete" and final["content"] == expected(200)
    assert seen(upstream, "cut:4@b") == cuts

    stored = httpx.get(f"{api}/conversations/{conv['id']}", timeout=10).json()
    reply = stored["messages"][-1]
    assert reply["content"] == expected(200) and reply["status"] == "complete"
    assert len(reply["siblings"]) == 3


def test_fallback_before_output_stores_one_clean_answer(gateway: LiveServer) -> None:
    api = f"{gateway.url}/api"
    conv = httpx.post(f"{api}/conversations", json={"model": "fb-5xx"}, timeout=10).json()
    events = _post_sse(gateway, f"/api/conversations/{conv['id']}/messages", {"content": "hi"})
    assert "error" not in [k for k, _ in events]
    stored = httpx.get(f"{api}/conversations/{conv['id']}", timeout=10).json()
    reply = stored["messages"][-1]
    assert reply["status"] == "complete" and reply["content"] == expected(200)
    assert reply["usage"]["completion_tokens"] == 200


def test_circuit_opens_skips_the_target_and_a_probe_closes_it(
    client: openai.OpenAI, upstream: FakeUpstream, gateway: LiveServer
) -> None:
    behaviour = "flaky:4@breaker"  # 503 to its first four requests, then fine
    for _ in range(2):  # two requests, two attempts each: two failures open the circuit
        with pytest.raises(openai.InternalServerError):
            stream_text(client, "flaky", 3)
    assert seen(upstream, behaviour) == 4
    assert health(gateway)["flaky"]["state"] == "open"

    start = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        stream_text(client, "flaky", 3)
    assert caught.value.status_code == 503 and time.monotonic() - start < 1
    assert seen(upstream, behaviour) == 4  # skipped, not asked

    time.sleep(COOLDOWN + 0.2)
    text, _ = stream_text(client, "flaky", 3)  # the half-open probe succeeds
    assert text == expected(3)
    assert health(gateway)["flaky"]["state"] == "closed"

    metrics = httpx.get(f"{gateway.url}/metrics", timeout=5).text
    assert 'causerie_target_up{target="flaky"} 1.0' in metrics
    assert 'causerie_errors_total{kind="http_5xx",model="flaky",target="flaky"} 4.0' in metrics


def test_noisy_sse_is_parsed_and_usage_counted(client: openai.OpenAI) -> None:
    text, chunks = stream_text(client, "noisy", 9)
    assert text == expected(9)
    assert chunks[-1].usage.completion_tokens == 9


def test_key_from_file_and_headers_reach_the_upstream_but_never_the_log(
    client: openai.OpenAI, upstream: FakeUpstream, gateway: LiveServer
) -> None:
    stream_text(client, "keyed", 2)
    (request,) = [r for r in upstream.requests() if r["model"] == "ok@keyed"]
    assert request["authorization"] == f"Bearer {KEY}" and request["x_test"] == "yes"
    assert KEY not in gateway.log.read_text()


def test_models_lists_aliases_and_upstream_models_not_hidden_targets(
    client: openai.OpenAI,
) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"ok", "fb-5xx", "all-down", "lister/ok", "lister/delay:0.2"} <= set(ids)
    assert "t503" not in ids
    text, _ = stream_text(client, "lister/delay:0.2", 3)
    assert text == expected(3)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="t503", messages=[{"role": "user", "content": "x"}])


def test_metrics_count_fallbacks_ttft_and_tokens(
    client: openai.OpenAI, gateway: LiveServer
) -> None:
    stream_text(client, "slow", 10)
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=5).text
    assert (
        'causerie_fallbacks_total{from_target="t503",model="fb-5xx",reason="http_5xx"}' in metrics
    )
    assert 'causerie_time_to_first_token_seconds_count{model="slow",target="slow"} 1.0' in metrics
    assert 'causerie_completion_tokens_total{model="slow",target="slow"} 10.0' in metrics
    assert 'causerie_tokens_per_second_count{model="slow",target="slow"} 1.0' in metrics
