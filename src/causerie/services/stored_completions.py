"""Stored chat completions (`store: true`): kept per user, listed, updated and deleted."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select

from causerie.errors import NotFound
from causerie.protocol import CreateChatCompletionRequest
from causerie.services.completions import Outcome
from causerie.store.db import Database
from causerie.store.responses import StoredChatCompletion, owned

# OpenAI's limits on metadata: 16 pairs, keys of 64 and values of 512 characters.
MAX_METADATA = 16


def _message_json(index: int, cid: str, msg: Any) -> dict[str, Any]:
    out = msg.model_dump(exclude_none=True, by_alias=True)
    content = out.get("content")
    if isinstance(content, list):  # the stored message's content is its text; parts beside
        out["content_parts"] = content
        out["content"] = "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
    out.setdefault("content", None)
    out["id"] = f"{cid}-{index}"
    return out


class StoredCompletions:
    """The chat completions clients asked to keep."""

    def __init__(self, db: Database):
        self.db = db

    def save(
        self, owner: str, req: CreateChatCompletionRequest, completion: dict[str, Any]
    ) -> None:
        """Keep a finished completion with the request that produced it."""
        cid = completion["id"]
        stored = {**completion, "metadata": req.metadata or {}}
        with self.db.session() as s:
            s.add(
                StoredChatCompletion(
                    id=cid,
                    owner_id=owner,
                    model=completion["model"],
                    stored_at=time.time_ns() // 1000,
                    metadata_=req.metadata or {},
                    completion=stored,
                    messages=[_message_json(i, cid, m) for i, m in enumerate(req.messages)],
                )
            )

    def save_streamed(
        self, owner: str, req: CreateChatCompletionRequest, chunk: dict[str, Any], out: Outcome
    ) -> None:
        """Keep a streamed completion, rebuilt from its outcome (chunk gives id and created)."""
        message: dict[str, Any] = {"role": "assistant", "content": out.content, "refusal": None}
        if out.tool_calls:
            message["tool_calls"] = out.tool_calls
        completion = {
            "id": chunk["id"],
            "object": "chat.completion",
            "created": chunk["created"],
            "model": chunk["model"],
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": out.finish_reason or "stop",
                }
            ],
            "usage": out.usage,
        }
        self.save(owner, req, completion)

    def _row(self, s: Any, cid: str, owner: str) -> StoredChatCompletion:
        return owned(s, StoredChatCompletion, cid, owner, "chat completion", "completion_id")

    def get(self, cid: str, owner: str) -> dict[str, Any]:
        """One stored completion."""
        with self.db.session() as s:
            return self._row(s, cid, owner).completion

    def update(self, cid: str, owner: str, metadata: dict[str, str] | None) -> dict[str, Any]:
        """Replace a stored completion's metadata (the only field that may change)."""
        with self.db.session() as s:
            row = self._row(s, cid, owner)
            row.metadata_ = metadata or {}
            row.completion = {**row.completion, "metadata": row.metadata_}
            return row.completion

    def delete(self, cid: str, owner: str) -> dict[str, Any]:
        """Forget a stored completion."""
        with self.db.session() as s:
            self._row(s, cid, owner)
            s.execute(delete(StoredChatCompletion).where(StoredChatCompletion.id == cid))
        return {"id": cid, "object": "chat.completion.deleted", "deleted": True}

    def list(
        self,
        owner: str,
        *,
        model: str | None,
        metadata: dict[str, str],
        after: str | None,
        limit: int,
        order: str,
    ) -> dict[str, Any]:
        """A page of the owner's stored completions, oldest first unless order is desc."""
        q = select(StoredChatCompletion).where(StoredChatCompletion.owner_id == owner)
        if model:
            q = q.where(StoredChatCompletion.model == model)
        for key, value in metadata.items():  # json_extract on SQLite, ->> on PostgreSQL
            q = q.where(StoredChatCompletion.metadata_[key].as_string() == value)
        keys = (StoredChatCompletion.stored_at, StoredChatCompletion.id)
        q = q.order_by(*(k.desc() for k in keys) if order == "desc" else keys)
        with self.db.session() as s:
            rows = list(s.scalars(q))
        return page([r.completion for r in rows], after, limit)

    def messages(
        self, cid: str, owner: str, *, after: str | None, limit: int, order: str
    ) -> dict[str, Any]:
        """A page of the request messages of a stored completion."""
        with self.db.session() as s:
            items = list(self._row(s, cid, owner).messages)
        if order == "desc":
            items.reverse()
        return page(items, after, limit)


def page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """One page of a list object, after the item with id `after`."""
    if after is not None:
        ids = [i["id"] for i in items]
        if after not in ids:
            raise NotFound(f"No item with id '{after}' found.", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
