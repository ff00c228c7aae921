"""Built-in tools on /v1/responses: file_search over collections, web_search over the web.

Through the official openai client. The server, the fake SearXNG and its pages, and the
scripted model that quotes its source [1] are tests/test_websearch.py's fixtures: the
answers' citations are then known, so the annotations can be checked exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from causerie.settings import ModelConfig, Settings
from tests.accounts_support import Site, site
from tests.knowledge_support import create_collection, ingest
from tests.test_websearch import NOTES, QUESTION, _openai, served, upstream, web
from tests.websearch_support import FakeWeb

__all__ = ["served", "upstream", "web"]  # fixtures of tests/test_websearch.py, shared here

SCHOOL = "When was the Osk island school built?"
FILES = {"type": "file_search", "vector_store_ids": ["island"]}


@pytest.fixture(scope="module")
async def island(served: tuple[Site, str]) -> AsyncIterator[dict[str, Any]]:
    """The reader's collection "island" holding one note; the ingestion job."""
    s, key = served
    c = await s.client(key)
    col = await create_collection(c, "island")
    job = await ingest(c, col, "island.md", NOTES, "text/markdown")
    assert job["status"] == "succeeded", job
    yield {**job, "collection_id": col}


async def test_file_search_answers_with_file_citations_and_is_stored(
    served: tuple[Site, str], island: dict[str, Any]
) -> None:
    client = _openai(*served)
    resp = await client.responses.create(
        model="quote", input=SCHOOL, tools=[FILES], include=["file_search_call.results"]
    )
    call, message = resp.output
    assert call.type == "file_search_call" and call.status == "completed"
    assert call.queries == [SCHOOL]
    result, *more = call.results or []  # the most relevant passage first
    assert all(r.file_id == island["document_id"] for r in [result, *more])
    assert result.filename == "island.md" and "1931" in (result.text or "")
    assert result.attributes and result.attributes["collection_id"] == island["collection_id"]
    part = message.content[0]
    assert "1931" in part.text and part.text.endswith("[1]")
    (cite,) = part.annotations
    assert cite.type == "file_citation" and cite.file_id == island["document_id"]
    assert cite.filename == "island.md" and cite.index == len(part.text)
    verdicts = (part.model_extra or {})["grounding"]["citations"]
    assert verdicts[0]["status"] == "supported" and verdicts[0]["source"] == 1
    stored = await client.responses.retrieve(resp.id)
    assert [i.model_dump() for i in stored.output] == [i.model_dump() for i in resp.output]
    items = await client.responses.input_items.list(resp.id)
    assert [i.type for i in items.data] == ["message"]
    # Without include, the call says what it searched but not what it found.
    plain = await client.responses.create(model="quote", input=SCHOOL, tools=[FILES])
    assert plain.output[0].results is None and plain.output[1].content[0].annotations


async def test_a_client_keeping_its_own_history_sends_the_search_items_back(
    served: tuple[Site, str], island: dict[str, Any]
) -> None:
    client = _openai(*served)
    first = await client.responses.create(model="quote", input=SCHOOL, tools=[FILES])
    history = [i.model_dump(exclude_none=True) for i in first.output]
    follow = await client.responses.create(
        model="quote",
        input=[{"role": "user", "content": SCHOOL}, *history, {"role": "user", "content": "And?"}],
        tools=[FILES],
    )
    assert follow.status == "completed" and follow.output[0].type == "file_search_call"
    items = await client.responses.input_items.list(follow.id, order="asc")
    assert [i.type for i in items.data] == ["message", "file_search_call", "message", "message"]


async def test_streamed_file_search_follows_the_documented_events(
    served: tuple[Site, str], island: dict[str, Any]
) -> None:
    client = _openai(*served)
    stream = await client.responses.create(model="quote", input=SCHOOL, tools=[FILES], stream=True)
    events = [e async for e in stream]
    kinds = [e.type for e in events]
    search = [k for k in kinds if k.startswith("response.file_search_call.")]
    assert search == [
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
    ]
    assert kinds.index("response.file_search_call.completed") < kinds.index(
        "response.output_text.delta"
    )
    added = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert [(e.output_index, e.annotation_index) for e in added] == [(1, 0)]
    assert kinds.index(added[0].type) < kinds.index("response.output_text.done")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1]
    assert final.type == "response.completed"
    part = final.response.output[1].content[0]
    assert part.text == text
    assert part.annotations[0].model_dump() == added[0].annotation.model_dump()
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_web_search_answers_with_url_citations(
    served: tuple[Site, str], web: FakeWeb
) -> None:
    client = _openai(*served)
    resp = await client.responses.create(
        model="quote",
        input=QUESTION,
        tools=[{"type": "web_search", "search_context_size": "low"}],
        include=["web_search_call.action.sources"],
    )
    call, message = resp.output
    assert call.type == "web_search_call" and call.status == "completed"
    assert call.action.type == "search" and call.action.query == QUESTION
    assert [s.url for s in call.action.sources or []] == [web.page("/vireltan")]
    part = message.content[0]
    assert part.annotations, part
    for cite in part.annotations:  # each supported sentence, citing the page it came from
        assert cite.type == "url_citation" and cite.url == web.page("/vireltan")
        assert cite.title == "Vireltan lighthouse"
        assert 0 <= cite.start_index < cite.end_index <= len(part.text)
    first = part.annotations[0]
    assert "1874" in part.text[first.start_index : first.end_index]


async def test_streamed_web_search_preview_and_both_tools_together(
    served: tuple[Site, str], island: dict[str, Any], web: FakeWeb
) -> None:
    client = _openai(*served)
    stream = await client.responses.create(
        model="quote",
        input="When were the Osk island school and the Vireltan lighthouse built or first lit?",
        tools=[FILES, {"type": "web_search_preview"}],
        stream=True,
    )
    events = [e async for e in stream]
    kinds = [e.type for e in events]
    for tool in ("file_search_call", "web_search_call"):
        assert f"response.{tool}.completed" in kinds, kinds
    final = events[-1].response
    assert [i.type for i in final.output] == ["file_search_call", "web_search_call", "message"]
    sources = final.output[2].content[0].model_extra["grounding"]["sources"]
    assert any(s.get("url") == web.page("/vireltan") for s in sources), sources
    assert any(s["document_id"] == island["document_id"] for s in sources), sources


@pytest.mark.parametrize(
    ("tool", "error", "param", "says"),
    [
        (
            {"type": "file_search", "vector_store_ids": ["nowhere"]},
            openai.NotFoundError,
            "tools[0].vector_store_ids",
            "nowhere",
        ),
        (
            {**FILES, "filters": {"type": "eq", "key": "a", "value": "b"}},
            openai.BadRequestError,
            "tools[0].filters",
            "filters",
        ),
        (
            {**FILES, "ranking_options": {"score_threshold": 0.5}},
            openai.BadRequestError,
            "tools[0].ranking_options",
            "ranking_options",
        ),
        (
            {
                "type": "web_search",
                "user_location": {"type": "approximate", "country": "FR"},
            },
            openai.BadRequestError,
            "tools[0].user_location",
            "user_location",
        ),
        (
            {"type": "code_interpreter", "container": {"type": "auto"}},
            openai.BadRequestError,
            "tools[0]",
            "code_interpreter",
        ),
    ],
)
async def test_unsupported_or_unknown_tool_parts_are_named(
    served: tuple[Site, str], tool: dict, error: type, param: str, says: str
) -> None:
    client = _openai(*served)
    with pytest.raises(error) as refused:
        await client.responses.create(model="quote", input=SCHOOL, tools=[tool])
    assert refused.value.body["param"] == param and says in refused.value.message


async def test_another_users_collection_is_not_found(
    served: tuple[Site, str], island: dict[str, Any]
) -> None:
    s, _ = served
    key, _ = await s.user_key("capped", "capped-pw-123")
    tool = {"type": "file_search", "vector_store_ids": [island["collection_id"]]}
    with pytest.raises(openai.NotFoundError):
        await _openai(s, key).responses.create(model="quote", input=SCHOOL, tools=[tool])


async def test_web_search_without_an_engine_is_a_clear_400(upstream: str, tmp_path: Any) -> None:
    settings = Settings(
        data_dir=tmp_path,
        models=[ModelConfig(name="quote", provider="openai-compatible", base_url=upstream)],
    )
    async with site(settings) as s:
        with pytest.raises(openai.BadRequestError) as refused:
            await _openai(s, "any").responses.create(
                model="quote", input=QUESTION, tools=[{"type": "web_search"}]
            )
    assert "Web search is not enabled" in refused.value.message
    assert refused.value.body["param"] == "tools[0]"
