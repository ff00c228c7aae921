"""The conversations API (/api) in-process on a real SmolLM2 and a real SQLite database."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.core_support import assert_openai_error, conversation_events
from tests.support import SMOL

# Short replies keep the suite fast; the model is real, only its length is capped.
REPLY_TOKENS = 12


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/conversations", json={"temperature": 0, **body})
    assert r.status_code == 201, r.text
    return r.json()


async def get(client: httpx.AsyncClient, conv_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/conversations/{conv_id}")
    assert r.status_code == 200, r.text
    return r.json()


async def say(
    client: httpx.AsyncClient, conv_id: str, content: str, **extra: Any
) -> list[tuple[str, dict[str, Any]]]:
    """Post a user message; the parsed reply events."""
    r = await client.post(
        f"/api/conversations/{conv_id}/messages",
        json={"content": content, "max_tokens": REPLY_TOKENS, **extra},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return conversation_events(r.text)


async def regenerate(
    client: httpx.AsyncClient, conv_id: str, message_id: str
) -> list[tuple[str, dict[str, Any]]]:
    r = await client.post(
        f"/api/conversations/{conv_id}/messages/{message_id}/regenerate",
        json={"max_tokens": REPLY_TOKENS},
    )
    assert r.status_code == 200, r.text
    return conversation_events(r.text)


def check_reply_events(events: list[tuple[str, dict[str, Any]]], *, with_user: bool) -> dict:
    """message(s), then deltas of the reply, then done with the stored reply; returns it."""
    kinds = [k for k, _ in events]
    head = ["message", "message"] if with_user else ["message"]
    assert kinds[: len(head)] == head, kinds
    assert kinds[-1] == "done", kinds
    assert set(kinds[len(head) : -1]) == {"delta"}, kinds
    placeholder = events[len(head) - 1][1]
    assert placeholder["role"] == "assistant" and placeholder["status"] == "streaming"
    assert placeholder["content"] == ""
    if with_user:
        assert events[0][1]["role"] == "user"
        assert placeholder["parent_id"] == events[0][1]["id"]
    done = events[-1][1]
    assert done["id"] == placeholder["id"]
    deltas = [d for k, d in events if k == "delta"]
    assert all(d["id"] == done["id"] for d in deltas)
    assert done["content"] == "".join(d["content"] for d in deltas)
    assert done["content"].strip()
    assert done["status"] == "complete"
    assert done["finish_reason"] in ("stop", "length")
    assert done["model"] == SMOL
    assert done["usage"]["prompt_tokens"] > 0
    assert 0 < done["usage"]["completion_tokens"] <= REPLY_TOKENS
    return done


# -- conversations -----------------------------------------------------------------------


async def test_create_and_get_empty_conversation(client: httpx.AsyncClient) -> None:
    conv = await create(client, title="Plans", system_prompt="Be brief.")
    assert conv["title"] == "Plans"
    assert conv["system_prompt"] == "Be brief."
    assert conv["temperature"] == 0
    assert conv["model"] is None
    assert conv["current_leaf_id"] is None
    assert conv["created_at"].endswith("+00:00")
    fetched = await get(client, conv["id"])
    assert fetched["messages"] == []
    assert {k: v for k, v in fetched.items() if k != "messages"} == conv


async def test_list_is_paged_newest_first(client: httpx.AsyncClient) -> None:
    mine = [(await create(client, title=f"page test {i}"))["id"] for i in range(5)]
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/conversations", params=params)).json()
        assert len(page["data"]) <= 2
        seen.extend(page["data"])
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        assert cursor
    ids = [c["id"] for c in seen]
    assert len(ids) == len(set(ids)), "a conversation appeared on two pages"
    assert pages >= 3
    stamps = [c["updated_at"] for c in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert [i for i in ids if i in mine] == mine[::-1]


async def test_rename_moves_to_top(client: httpx.AsyncClient) -> None:
    old = await create(client, title="first name")
    await create(client, title="newer")
    r = await client.patch(f"/api/conversations/{old['id']}", json={"title": "second name"})
    assert r.status_code == 200, r.text
    renamed = r.json()
    assert renamed["title"] == "second name"
    assert renamed["updated_at"] > old["updated_at"]
    assert (await get(client, old["id"]))["title"] == "second name"
    top = (await client.get("/api/conversations", params={"limit": 1})).json()["data"][0]
    assert top["id"] == old["id"]
    r = await client.patch(f"/api/conversations/{old['id']}", json={"temperature": 0.5})
    assert r.json()["title"] == "second name" and r.json()["temperature"] == 0.5


async def test_delete_then_404(client: httpx.AsyncClient) -> None:
    conv = await create(client, title="to delete")
    await say(client, conv["id"], "Hello!")
    r = await client.delete(f"/api/conversations/{conv['id']}")
    assert r.status_code == 204 and r.content == b""
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"title": "x"}),
        ("DELETE", "", None),
        ("POST", "/messages", {"content": "hi"}),
        ("PUT", "/branch", {"message_id": "x"}),
    ]:
        r = await client.request(method, f"/api/conversations/{conv['id']}{path}", json=body)
        assert_openai_error(r, 404, code="not_found")
    ids = [c["id"] for c in (await client.get("/api/conversations?limit=100")).json()["data"]]
    assert conv["id"] not in ids


# -- replies and the message tree --------------------------------------------------------


async def test_post_message_streams_and_stores_the_reply(client: httpx.AsyncClient) -> None:
    conv = await create(client)
    events = await say(client, conv["id"], "What is the capital of Germany?")
    done = check_reply_events(events, with_user=True)
    user = events[0][1]
    assert user["content"] == "What is the capital of Germany?"
    assert user["parent_id"] is None
    stored = await get(client, conv["id"])
    assert stored["title"] == "What is the capital of Germany?"
    assert stored["current_leaf_id"] == done["id"]
    assert [m["id"] for m in stored["messages"]] == [user["id"], done["id"]]
    assert stored["messages"][1] == {**done, "siblings": [done["id"]]}
    assert stored["messages"][0]["siblings"] == [user["id"]]
    # A second turn follows the first, with the whole history in its prompt.
    events2 = await say(client, conv["id"], "And of France?")
    done2 = check_reply_events(events2, with_user=True)
    assert events2[0][1]["parent_id"] == done["id"]
    assert done2["usage"]["prompt_tokens"] > done["usage"]["prompt_tokens"]
    path = (await get(client, conv["id"]))["messages"]
    assert [m["role"] for m in path] == ["user", "assistant", "user", "assistant"]


async def test_system_prompt_is_part_of_the_prompt(client: httpx.AsyncClient) -> None:
    plain = await create(client)
    framed = await create(client, system_prompt="You are a pirate. " * 20)
    a = (await say(client, plain["id"], "Hello!"))[-1][1]
    b = (await say(client, framed["id"], "Hello!"))[-1][1]
    assert b["usage"]["prompt_tokens"] > a["usage"]["prompt_tokens"] + 50


async def test_regenerate_makes_a_sibling(client: httpx.AsyncClient) -> None:
    conv = await create(client)
    first = (await say(client, conv["id"], "Name a fruit."))[-1][1]
    events = await regenerate(client, conv["id"], first["id"])
    second = check_reply_events(events, with_user=False)
    assert second["id"] != first["id"]
    assert second["parent_id"] == first["parent_id"]
    stored = await get(client, conv["id"])
    assert stored["current_leaf_id"] == second["id"]
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert stored["messages"][1]["siblings"] == [first["id"], second["id"]]
    # Back to the first answer: it was kept whole.
    r = await client.put(
        f"/api/conversations/{conv['id']}/branch", json={"message_id": first["id"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["messages"][1] == {**first, "siblings": [first["id"], second["id"]]}
    # Only an assistant reply can be regenerated.
    r = await client.post(
        f"/api/conversations/{conv['id']}/messages/{first['parent_id']}/regenerate"
    )
    assert_openai_error(r, 400, type_="invalid_request_error")


async def test_edit_creates_a_branch_and_branches_switch(client: httpx.AsyncClient) -> None:
    conv = await create(client)
    t1 = await say(client, conv["id"], "Name a colour.")
    u1, a1 = t1[0][1], t1[-1][1]
    t2 = await say(client, conv["id"], "Name an animal.")
    u2, a2 = t2[0][1], t2[-1][1]
    # Edit the second question: post under its parent.
    t3 = await say(client, conv["id"], "Name a tree.", parent_id=u2["parent_id"])
    u3, a3 = t3[0][1], t3[-1][1]
    assert u3["parent_id"] == a1["id"]
    path = (await get(client, conv["id"]))["messages"]
    assert [m["id"] for m in path] == [u1["id"], a1["id"], u3["id"], a3["id"]]
    assert path[2]["siblings"] == [u2["id"], u3["id"]]
    # Switch back to the old branch: down to its newest leaf.
    r = await client.put(f"/api/conversations/{conv['id']}/branch", json={"message_id": u2["id"]})
    assert r.status_code == 200, r.text
    switched = r.json()
    assert switched["current_leaf_id"] == a2["id"]
    assert [m["id"] for m in switched["messages"]] == [u1["id"], a1["id"], u2["id"], a2["id"]]
    assert (await get(client, conv["id"]))["current_leaf_id"] == a2["id"]
    # A new message now continues the branch being looked at.
    t4 = await say(client, conv["id"], "Another one?")
    assert t4[0][1]["parent_id"] == a2["id"]
    # Switching to a message in the middle shows the newest leaf below it.
    r = await client.put(f"/api/conversations/{conv['id']}/branch", json={"message_id": a1["id"]})
    assert r.json()["current_leaf_id"] == a3["id"]


async def test_edit_of_the_first_message(client: httpx.AsyncClient) -> None:
    conv = await create(client)
    first = await say(client, conv["id"], "Name a colour.")
    edited = await say(client, conv["id"], "Name a number.", parent_id=None)
    assert edited[0][1]["parent_id"] is None
    path = (await get(client, conv["id"]))["messages"]
    assert [m["id"] for m in path] == [edited[0][1]["id"], edited[-1][1]["id"]]
    assert path[0]["siblings"] == [first[0][1]["id"], edited[0][1]["id"]]


async def test_reply_failure_is_stored_as_error(client: httpx.AsyncClient) -> None:
    conv = await create(client)
    # Digits take a token each: short enough to be stored, too long for the engine's count.
    events = await say(client, conv["id"], "1234567890" * 300)
    kinds = [k for k, _ in events]
    assert kinds == ["message", "message", "error", "done"], kinds
    err = events[2][1]
    assert err["error"]["code"] == "message_too_long"
    assert events[-1][1]["status"] == "error"
    stored = (await get(client, conv["id"]))["messages"]
    assert stored[0]["role"] == "user" and stored[0]["content"].startswith("1234567890")
    assert stored[1]["status"] == "error" and stored[1]["error"]


# -- not found and bad input -------------------------------------------------------------


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    assert_openai_error(await client.get("/api/conversations/nope"), 404, code="not_found")
    conv = await create(client)
    base = f"/api/conversations/{conv['id']}"
    r = await client.put(f"{base}/branch", json={"message_id": "nope"})
    assert_openai_error(r, 404, code="not_found")
    r = await client.post(f"{base}/messages/nope/regenerate")
    assert_openai_error(r, 404, code="not_found")
    r = await client.post(f"{base}/messages", json={"content": "hi", "parent_id": "nope"})
    assert_openai_error(r, 404, code="not_found")
    r = await client.post(f"{base}/messages", json={"content": "hi", "model": "gpt-17"})
    assert_openai_error(r, 404, code="model_not_found")
    r = await client.post("/api/conversations", json={"model": "gpt-17"})
    assert_openai_error(r, 404, code="model_not_found")
    # Nothing was stored by the failed attempts.
    assert (await get(client, conv["id"]))["messages"] == []


async def test_message_of_another_conversation_is_404(client: httpx.AsyncClient) -> None:
    one = await create(client)
    other = await create(client)
    reply = (await say(client, one["id"], "Hi!"))[-1][1]
    base = f"/api/conversations/{other['id']}"
    r = await client.put(f"{base}/branch", json={"message_id": reply["id"]})
    assert_openai_error(r, 404)
    r = await client.post(f"{base}/messages", json={"content": "hi", "parent_id": reply["id"]})
    assert_openai_error(r, 404)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "", {"title": "x" * 501}),
        ("POST", "", {"temperature": 5}),
        ("POST", "", {"colour": "blue"}),
        ("PATCH", "/{id}", {"title": 42}),
        ("POST", "/{id}/messages", {"content": ""}),
        ("POST", "/{id}/messages", {"content": "   "}),
        ("POST", "/{id}/messages", {}),
        ("POST", "/{id}/messages", {"content": "hi", "max_tokens": 0}),
        ("POST", "/{id}/messages", {"content": ["hi"]}),
        ("PUT", "/{id}/branch", {}),
        ("GET", "?limit=0", None),
        ("GET", "?limit=1000", None),
        ("GET", "?cursor=not-a-cursor", None),
    ],
)
async def test_bad_input_is_400(
    client: httpx.AsyncClient, method: str, path: str, body: dict | None
) -> None:
    conv = await create(client)
    url = "/api/conversations" + path.format(id=conv["id"])
    r = await client.request(method, url, json=body)
    assert_openai_error(r, 400, type_="invalid_request_error")
    assert (await get(client, conv["id"]))["messages"] == []


async def test_invalid_json_is_400(client: httpx.AsyncClient) -> None:
    conv = await create(client)
    r = await client.post(
        f"/api/conversations/{conv['id']}/messages",
        content=b'{"content": ',
        headers={"content-type": "application/json"},
    )
    assert_openai_error(r, 400, type_="invalid_request_error")
