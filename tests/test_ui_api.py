"""The parts of /api the web UI added: search by title and content, editing the first message."""

from __future__ import annotations

import json

import httpx

from tests.support import SMOL


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
    return events


async def _new(client: httpx.AsyncClient, title: str = "") -> str:
    r = await client.post("/api/conversations", json={"title": title, "model": SMOL})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _titles(client: httpx.AsyncClient, **params: object) -> list[str]:
    r = await client.get("/api/conversations", params=params)
    assert r.status_code == 200, r.text
    return [c["title"] for c in r.json()["data"]]


async def test_search_matches_title_and_message_text(client: httpx.AsyncClient) -> None:
    await _new(client, "Recette du zkqcassoulet")
    by_text = await _new(client, "Holiday plans")
    await _say(client, by_text, "Visit the zkqlighthouse of 100% sure_fire fame?")
    await _new(client, "Unrelated")

    assert await _titles(client, q="ZKQCASSOULET") == ["Recette du zkqcassoulet"]
    assert await _titles(client, q="zkqlighthouse") == ["Holiday plans"]
    assert sorted(await _titles(client, q="zkq")) == ["Holiday plans", "Recette du zkqcassoulet"]
    # LIKE wildcards in the query are literal characters, not patterns.
    assert await _titles(client, q="100% sure_fire") == ["Holiday plans"]
    assert await _titles(client, q="10_%") == []
    # Paging still works on a filtered list.
    first = (await client.get("/api/conversations", params={"q": "zkq", "limit": 1})).json()
    assert first["has_more"] is True
    rest = await client.get(
        "/api/conversations", params={"q": "zkq", "limit": 1, "cursor": first["next_cursor"]}
    )
    assert [c["title"] for c in rest.json()["data"]] == ["Recette du zkqcassoulet"]
    assert rest.json()["has_more"] is False


async def test_editing_the_first_message_makes_a_root_sibling(client: httpx.AsyncClient) -> None:
    conv = await _new(client)
    first = (await _say(client, conv, "Say hello."))[0][1]
    assert first["parent_id"] is None
    edited = (await _say(client, conv, "Say goodbye.", parent_id=None))[0][1]
    assert edited["parent_id"] is None
    shown = (await client.get(f"/api/conversations/{conv}")).json()["messages"]
    assert shown[0]["content"] == "Say goodbye."
    assert shown[0]["siblings"] == [first["id"], edited["id"]]
    # Without parent_id the message still follows the current leaf.
    follow = (await _say(client, conv, "And again."))[0][1]
    assert follow["parent_id"] == shown[-1]["id"]
