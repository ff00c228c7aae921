"""What the user receives in a grounded turn, from providers that misbehave like small models.

The provider is a real OpenAI-compatible HTTP server on 127.0.0.1 (outside our
control, as a vLLM or Ollama would be) that answers as scripted by its model name:
  bare       only "[1]", as the default model often did;
  bare-json  "[1]", but a real sentence when asked under a JSON schema;
  short      "1990 [1]." (a correct short answer);
  quote      the text of the prompt's source [1], with its marker.
(tests/answers_support.py)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from causerie.knowledge.citations import UNVERIFIED
from causerie.services.grounded import NO_ANSWER
from causerie.settings import Settings
from tests.answers_support import SENTENCE, Upstream, fake_upstream, scripted_models
from tests.knowledge_support import create_collection, ingest
from tests.support import app_client

NOTES = b"""# Lighthouses

The lighthouse of Ar-Men stands on a rock off the island of Sein.

## Building

Ar-Men was built between 1867 and 1881 by the lighthouse service.

## Automation

The Ar-Men light was automated in 1990 and has had no keepers since.

# Tea

Green tea is brewed at 80 degrees for two minutes.

## Tea houses

The old tea house of Uji was built in 1602.
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with fake_upstream() as url:
        yield url


@pytest.fixture(scope="module")
async def client(
    upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    models = scripted_models(upstream, "bare", "bare-json", "short", "quote")
    data: Path = tmp_path_factory.mktemp("answers")
    settings = Settings(data_dir=data, models=models, default_model="quote")
    async with app_client(settings, timeout=120) as c:
        col = await create_collection(c, "notes")
        job = await ingest(c, col, "notes.md", NOTES, "text/markdown")
        assert job["status"] == "succeeded", job
        yield c


async def _ask(client: httpx.AsyncClient, model: str, question: str) -> dict[str, Any]:
    r = await client.post(
        "/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": question}],
            "collections": ["notes"],
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]


async def test_short_correct_answer_keeps_its_verified_marker(client: httpx.AsyncClient) -> None:
    msg = await _ask(client, "short", "When was the Ar-Men light automated?")
    assert msg["content"] == "1990 [1]."
    assert [(c["sentence"], c["status"], c["source"]) for c in msg["citations"]] == [
        ("1990.", "supported", 1)
    ]
    assert "1990" in msg["sources"][0]["snippet"]


async def test_short_answer_the_sources_do_not_hold_is_flagged(client: httpx.AsyncClient) -> None:
    msg = await _ask(client, "short", "At what temperature is green tea brewed?")
    lead = UNVERIFIED["en"]  # no claim is supported: the reply says so first
    assert msg["content"] == f"{lead} 1990."  # and no marker vouches for it
    assert [(c["sentence"], c["status"]) for c in msg["citations"]] == [
        (lead, "neutral"),
        ("1990.", "unsupported"),  # 1990 is not in the tea passage
    ]
    flagged = msg["citations"][1]
    assert msg["content"][flagged["start"] : flagged["end"]] == "1990."


async def test_bare_marker_reply_is_recovered_under_a_schema(client: httpx.AsyncClient) -> None:
    Upstream.seen.clear()
    msg = await _ask(client, "bare-json", "When was the Ar-Men light automated?")
    assert msg["content"] == SENTENCE
    assert msg["citations"][0]["status"] == "supported"
    retry = Upstream.seen[-1]
    assert retry["response_format"]["type"] == "json_schema"


async def test_bare_marker_reply_never_reaches_the_client(client: httpx.AsyncClient) -> None:
    msg = await _ask(client, "bare", "Quand la lumière d'Ar-Men a-t-elle été automatisée ?")
    assert msg["content"] == NO_ANSWER["fr"]  # plainly said, in the question's language
    async with client.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "bare",
            "stream": True,
            "messages": [{"role": "user", "content": "When was the Ar-Men light automated?"}],
            "collections": ["notes"],
        },
    ) as r:
        lines = [json.loads(x[6:]) async for x in r.aiter_lines() if x.startswith("data: {")]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in lines if c["choices"])
    assert text == NO_ANSWER["en"]  # no "[1]" streamed first
    assert lines[-1]["grounding"]["content"] == NO_ANSWER["en"]


async def test_follow_up_is_answered_from_the_right_passage(client: httpx.AsyncClient) -> None:
    conv = (await client.post("/api/conversations", json={"model": "quote"})).json()["id"]
    r = await client.put(f"/api/conversations/{conv}/collections", json={"collections": ["notes"]})
    assert r.status_code == 200
    for question in ("Who built the Ar-Men lighthouse?", "In which years?"):
        async with client.stream(
            "POST", f"/api/conversations/{conv}/messages", json={"content": question}
        ) as r:
            assert r.status_code == 200
            _ = [x async for x in r.aiter_lines()]
    reply = (await client.get(f"/api/conversations/{conv}")).json()["messages"][-1]
    assert "1867" in reply["content"]  # "it" alone names nothing: the first turn found it
    # The model reads the follow-up next to the question it follows, not only the sources.
    prompt = Upstream.seen[-1]["messages"][-1]["content"]
    assert prompt.startswith(
        "Earlier question: Who built the Ar-Men lighthouse?\nQuestion: In which years?\n\n"
    )
    saved = (await client.get(f"/api/conversations/{conv}/grounding")).json()["data"]
    assert saved[reply["id"]]["citations"][0]["status"] == "supported"
