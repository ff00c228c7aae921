"""Stored chat completions (store: true) through the official openai client on a real socket."""

from __future__ import annotations

import uuid

import openai
import pytest
from openai import OpenAI

from tests.support import SMOL, LiveServer


def sdk(server: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="anything", max_retries=0)


def _ask(client: OpenAI, text: str, **extra: object) -> str:
    done = client.chat.completions.create(
        model=SMOL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
        max_tokens=4,
        **extra,
    )
    return done.id


def test_store_list_filter_and_paginate(live: LiveServer) -> None:
    client = sdk(live)
    run = uuid.uuid4().hex  # this test's own tag: the live server is shared
    ids = [
        _ask(client, f"Hi {i}", store=True, metadata={"run": run, "n": str(i)}) for i in range(3)
    ]
    unstored = _ask(client, "Hi", metadata={"run": run})
    listed = client.chat.completions.list(metadata={"run": run}, model=SMOL)
    assert [c.id for c in listed.data] == ids  # oldest first, the unstored one absent
    one = client.chat.completions.list(metadata={"run": run, "n": "1"})
    assert [c.id for c in one.data] == [ids[1]]
    assert client.chat.completions.list(metadata={"run": run}, model="other").data == []
    # Pages of one, followed by the SDK itself through `after`.
    pages = client.chat.completions.list(metadata={"run": run}, limit=1)
    assert len(pages.data) == 1 and pages.has_more
    assert [c.id for c in pages] == ids
    newest = client.chat.completions.list(metadata={"run": run}, order="desc", limit=2)
    assert [c.id for c in newest.data] == ids[::-1][:2]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(unstored)


def test_retrieve_update_messages_and_delete(live: LiveServer) -> None:
    client = sdk(live)
    cid = _ask(client, "Say hello.", store=True, metadata={"topic": "greeting"})
    got = client.chat.completions.retrieve(cid)
    assert got.id == cid and got.model == SMOL and got.choices[0].message.role == "assistant"
    assert got.usage is not None and got.usage.completion_tokens > 0
    updated = client.chat.completions.update(cid, metadata={"topic": "changed"})
    assert updated.metadata == {"topic": "changed"}
    assert client.chat.completions.retrieve(cid).metadata == {"topic": "changed"}
    messages = client.chat.completions.messages.list(cid)
    assert [(m.role, m.content) for m in messages.data] == [
        ("system", "Be brief."),
        ("user", "Say hello."),
    ]
    assert len({m.id for m in messages.data}) == 2
    second = client.chat.completions.messages.list(cid, after=messages.data[0].id)
    assert [m.content for m in second.data] == ["Say hello."]
    deleted = client.chat.completions.delete(cid)
    assert deleted.deleted is True and deleted.id == cid
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(cid)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.delete(cid)


def test_a_streamed_completion_is_stored_once_it_ends(live: LiveServer) -> None:
    client = sdk(live)
    stream = client.chat.completions.create(
        model=SMOL,
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=6,
        store=True,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    got = client.chat.completions.retrieve(chunks[0].id)
    assert got.choices[0].message.content == text
    assert got.choices[0].finish_reason == chunks[-1].choices[0].finish_reason
