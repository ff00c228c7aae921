"""Helpers for the core suite: SSE parsing, OpenAI error bodies and stream invariants."""

from __future__ import annotations

import json
from typing import Any

import httpx

DONE = "[DONE]"


def sse_frames(text: str) -> list[tuple[str | None, Any]]:
    """(event name, JSON payload or the literal [DONE]) for every server-sent event."""
    frames: list[tuple[str | None, Any]] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        kind, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                kind = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
            else:
                raise AssertionError(f"unexpected SSE line: {line!r}")
        payload = "\n".join(data)
        frames.append((kind, payload if payload == DONE else json.loads(payload)))
    return frames


def chat_stream(text: str) -> list[dict[str, Any]]:
    """The chunks of a /v1 stream, checked to end with exactly one data: [DONE]."""
    frames = sse_frames(text)
    assert frames, "empty stream"
    assert all(kind is None for kind, _ in frames), "the OpenAI stream has no named events"
    payloads = [p for _, p in frames]
    assert payloads[-1] == DONE, f"stream does not end with [DONE]: {payloads[-1]!r}"
    assert DONE not in payloads[:-1]
    return payloads[:-1]


def check_stream_invariants(
    chunks: list[dict[str, Any]], *, model: str, include_usage: bool
) -> dict[str, Any] | None:
    """Assert DESIGN.md's stream invariants; return the usage chunk's usage if any."""
    assert chunks
    ids = {c["id"] for c in chunks}
    created = {c["created"] for c in chunks}
    assert len(ids) == 1 and next(iter(ids)).startswith("chatcmpl-"), ids
    assert len(created) == 1 and isinstance(next(iter(created)), int), created
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["model"] == model for c in chunks)
    with_choices = [c for c in chunks if c["choices"]]
    assert with_choices[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in with_choices[1:])
    finishes = [c["choices"][0].get("finish_reason") for c in with_choices]
    assert finishes[-1] in ("stop", "length", "tool_calls"), finishes[-1]
    assert all(f is None for f in finishes[:-1]), "finish_reason before the last choice chunk"
    usage_chunks = [c for c in chunks if not c["choices"]]
    if not include_usage:
        assert usage_chunks == [], "usage chunk sent without stream_options.include_usage"
        assert all(c.get("usage") is None for c in chunks)
        return None
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1], "usage chunk must be last"
    usage = usage_chunks[0]["usage"]
    check_usage(usage)
    return usage


def check_usage(usage: dict[str, Any]) -> None:
    """Counted, not zeroed: prompt and completion tokens add up."""
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def stream_text(chunks: list[dict[str, Any]]) -> str:
    """The assistant text a stream carried."""
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def assert_openai_error(
    r: httpx.Response,
    status: int,
    *,
    code: str | None = None,
    param: str | None = None,
    type_: str | None = None,
) -> dict[str, Any]:
    """The response is an OpenAI error body with this status (and code/param/type if given)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"], err
    assert "Traceback" not in err["message"]
    if code is not None:
        assert err["code"] == code, err
    if param is not None:
        assert err["param"] == param, err
    if type_ is not None:
        assert err["type"] == type_, err
    return err


def conversation_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The named events of an /api reply stream."""
    frames = sse_frames(text)
    assert all(kind is not None for kind, _ in frames), frames
    return [(kind, data) for kind, data in frames if kind is not None]
