"""Conversations that outgrow the model's context keep working (real SmolLM2, 2,048 a slot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.core_support import assert_openai_error, conversation_events
from tests.support import SMOL

SLOT = 4096 // 2  # smol_model(): n_ctx 4096 shared by 2 slots
REPLY = 4  # max_tokens: the answers' length does not matter here
README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


async def create(client: httpx.AsyncClient) -> str:
    r = await client.post("/api/conversations", json={"temperature": 0})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def say(client: httpx.AsyncClient, conv: str, content: str) -> httpx.Response:
    return await client.post(
        f"/api/conversations/{conv}/messages", json={"content": content, "max_tokens": REPLY}
    )


async def answered(client: httpx.AsyncClient, conv: str, content: str) -> dict[str, Any]:
    """Send; the reply must complete. Returns the events by kind (the last of each)."""
    r = await say(client, conv, content)
    assert r.status_code == 200, r.text
    events = dict(conversation_events(r.text))
    assert "error" not in events, events
    done = events["done"]
    assert done["status"] == "complete", done
    # What the engine read: its own count, within the slot with room left for the reply.
    assert done["usage"]["prompt_tokens"] + REPLY <= SLOT, done["usage"]
    return events


async def test_a_long_history_is_fitted_and_keeps_answering(client: httpx.AsyncClient) -> None:
    conv = await create(client)
    chunk = README[:3600]  # about 1,150 tokens: one fits the slot, two do not
    first = await answered(client, conv, "Summarise this.\n" + chunk)
    assert "context" not in first  # all of it was read
    second = await answered(client, conv, "And this?\n" + README[3600:7200])
    assert second["context"]["dropped"] >= 1  # the oldest turn went out of view
    third = await answered(client, conv, "Bonjour")
    assert third["context"]["dropped"] >= 1
    # Nothing is lost from the conversation itself: every turn is still stored.
    stored = (await client.get(f"/api/conversations/{conv}")).json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"] * 3


async def test_a_200_kb_paste_is_refused_with_its_size(client: httpx.AsyncClient) -> None:
    conv = await create(client)
    await answered(client, conv, "Bonjour")
    paste = (README * 20)[:200_000]
    r = await say(client, conv, paste)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "message_too_long" and err["param"] == "content"
    assert err["chars"] == 200_000 and err["tokens"] > err["limit"] > 0
    assert "200000 characters" in err["message"]
    # Refused before it was stored: the conversation goes on as if it had not been sent.
    after = await answered(client, conv, "Bonjour encore")
    assert "context" not in after
    stored = (await client.get(f"/api/conversations/{conv}")).json()["messages"]
    assert len(stored) == 4 and all(len(m["content"]) < 10_000 for m in stored)


async def test_a_message_the_engine_counts_too_long_does_not_brick(
    client: httpx.AsyncClient,
) -> None:
    conv = await create(client)
    digits = "1234567890" * 300  # 3,000 bytes, a token each: beyond the slot
    r = await say(client, conv, digits)
    events = dict(conversation_events(r.text))
    err = events["error"]["error"]
    assert err["code"] == "message_too_long" and err["tokens"] > SLOT, err
    # The stored oversized message is left out of later turns instead of failing them.
    later = await answered(client, conv, "Bonjour")
    assert later["context"]["dropped"] == 2


async def test_v1_keeps_openai_context_error_with_counts(client: httpx.AsyncClient) -> None:
    long = [{"role": "user", "content": "lorem ipsum " * 3000}]
    for stream in (False, True):
        r = await client.post(
            "/v1/chat/completions",
            json={"model": SMOL, "messages": long, "max_tokens": 4, "stream": stream},
        )
        err = assert_openai_error(r, 400, code="context_length_exceeded", param="messages")
        assert err["message"].startswith(f"This model's maximum context length is {SLOT} tokens")
        assert "your messages resulted in" in err["message"]


async def test_search_ignores_accents_and_case(client: httpx.AsyncClient) -> None:
    titles = {"Listes chaînées en C": "", "Café au lait": "", "ÉCOLE d'été": "Москва"}
    ids = {}
    for title, extra in titles.items():
        r = await client.post("/api/conversations", json={"title": title})
        ids[title] = r.json()["id"]
        if extra:  # a message too: search reads contents, not only titles
            await say(client, ids[title], extra)

    async def found(q: str) -> set[str]:
        r = await client.get("/api/conversations", params={"q": q, "limit": 100})
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()["data"]} & set(ids.values())

    for q in ("chainee", "CHAÎNÉE", "Chaînée", "chaÎnee"):
        assert await found(q) == {ids["Listes chaînées en C"]}, q
    assert await found("cafe") == await found("CAFÉ") == {ids["Café au lait"]}
    assert await found("ecole d'ete") == {ids["ÉCOLE d'été"]}
    assert await found("москва") == {ids["ÉCOLE d'été"]}  # case folds beyond ASCII too
    assert await found("chaine%") == set()  # wildcards are still literal


async def test_a_chats_own_collection_is_made_once_and_outlives_the_chat(
    client: httpx.AsyncClient,
) -> None:
    conv = (await client.post("/api/conversations", json={"title": "Phares"})).json()["id"]
    # Its natural name is taken by a collection of the user's: the chat's id tells it apart.
    taken = await client.post("/api/knowledge/collections", json={"name": "Fichiers · Phares"})
    assert taken.status_code == 201, taken.text
    url = f"/api/conversations/{conv}/own-collection"
    own = (await client.post(url, json={"label": "Fichiers"})).json()
    assert own["name"] == f"Fichiers · {conv}" and own["conversation_id"] == conv
    attached = (await client.get(f"/api/conversations/{conv}/collections")).json()["data"]
    assert [c["id"] for c in attached] == [own["id"]]
    # Detached in Documents, then a file attached again: the same collection, attached again.
    await client.put(f"/api/conversations/{conv}/collections", json={"collections": []})
    again = await client.post(url)
    assert again.status_code == 200 and again.json()["id"] == own["id"]
    attached = (await client.get(f"/api/conversations/{conv}/collections")).json()["data"]
    assert [c["id"] for c in attached] == [own["id"]]
    assert (await client.post(url, json={"label": ""})).status_code == 400
    assert (await client.post("/api/conversations/nope/own-collection")).status_code == 404
    # Deleting the chat leaves its files reachable in Documents.
    assert (await client.delete(f"/api/conversations/{conv}")).status_code == 204
    left = (await client.get(f"/api/knowledge/collections/{own['id']}")).json()
    assert left["name"] == f"Fichiers · {conv}"
