"""The parts of /api the web UI added: search by title and content, editing the first message.

Answers come from a scripted OpenAI-compatible upstream on 127.0.0.1 (short and exact), since
only the message tree matters here and a small real model can ramble for minutes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from bench.ui.upstream import ScriptedUpstream

from causerie.settings import ModelConfig, Settings
from tests.support import app_client

MODEL = "scripted"


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream({"short": "Noted."}, tokens_per_second=1000) as up:
        yield up


@pytest.fixture(scope="module")
async def api(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> AsyncIterator[httpx.AsyncClient]:
    model = ModelConfig(
        name=MODEL,
        provider="openai-compatible",
        base_url=f"{upstream.url}/v1",
        upstream_model="script:short",
    )
    data_dir: Path = tmp_path_factory.mktemp("ui-api")
    async with app_client(Settings(data_dir=data_dir, models=[model])) as client:
        yield client


async def _say(client: httpx.AsyncClient, conv_id: str, content: str, **extra: object) -> list:
    """Send a message and read the whole SSE answer; the events as (kind, data)."""
    events = []
    async with client.stream(
        "POST", f"/api/conversations/{conv_id}/messages", json={"content": content, **extra}
    ) as r:
        assert r.status_code == 200, await r.aread()
        kind = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    assert events[-1][0] == "done", events
    assert events[-1][1]["content"] == "Noted."
    return events


async def _new(client: httpx.AsyncClient, title: str = "") -> str:
    r = await client.post("/api/conversations", json={"title": title, "model": MODEL})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _titles(client: httpx.AsyncClient, **params: object) -> list[str]:
    r = await client.get("/api/conversations", params=params)
    assert r.status_code == 200, r.text
    return [c["title"] for c in r.json()["data"]]


async def test_search_matches_title_and_message_text(api: httpx.AsyncClient) -> None:
    await _new(api, "Recette du zkqcassoulet")
    by_text = await _new(api, "Holiday plans")
    await _say(api, by_text, "Should I visit the zkqlighthouse of 100% sure_fire fame?")
    await _new(api, "Unrelated")

    assert await _titles(api, q="ZKQCASSOULET") == ["Recette du zkqcassoulet"]
    assert await _titles(api, q="zkqlighthouse") == ["Holiday plans"]
    assert sorted(await _titles(api, q="zkq")) == ["Holiday plans", "Recette du zkqcassoulet"]
    # LIKE wildcards in the query are literal characters, not patterns.
    assert await _titles(api, q="100% sure_fire") == ["Holiday plans"]
    assert await _titles(api, q="10_%") == []
    # Paging still works on a filtered list.
    first = (await api.get("/api/conversations", params={"q": "zkq", "limit": 1})).json()
    assert first["has_more"] is True
    rest = await api.get(
        "/api/conversations", params={"q": "zkq", "limit": 1, "cursor": first["next_cursor"]}
    )
    assert [c["title"] for c in rest.json()["data"]] == ["Recette du zkqcassoulet"]
    assert rest.json()["has_more"] is False


async def test_editing_the_first_message_makes_a_root_sibling(api: httpx.AsyncClient) -> None:
    conv = await _new(api)
    first = (await _say(api, conv, "Say hello."))[0][1]
    assert first["parent_id"] is None
    edited = (await _say(api, conv, "Say goodbye.", parent_id=None))[0][1]
    assert edited["parent_id"] is None
    shown = (await api.get(f"/api/conversations/{conv}")).json()["messages"]
    assert shown[0]["content"] == "Say goodbye."
    assert shown[0]["siblings"] == [first["id"], edited["id"]]
    # Without parent_id the message still follows the current leaf.
    follow = (await _say(api, conv, "And again."))[0][1]
    assert follow["parent_id"] == shown[-1]["id"]
