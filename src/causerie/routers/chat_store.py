"""Stored chat completions under /v1/chat/completions (those created with store: true)."""

from __future__ import annotations

from typing import Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from causerie.errors import InvalidRequest
from causerie.routers import services
from causerie.routers.auth import billed_to
from causerie.services.stored_completions import MAX_METADATA

router = APIRouter(prefix="/v1/chat/completions", tags=["openai"])


class UpdateChatCompletion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metadata: dict[str, str] | None


def _owner(request: Request) -> str:
    return billed_to(request)[0]


def _metadata_filter(request: Request) -> dict[str, str]:
    """`metadata[key]=value` query parameters, as the openai SDK sends them."""
    found = {
        k[len("metadata[") : -1]: v
        for k, v in request.query_params.items()
        if k.startswith("metadata[") and k.endswith("]")
    }
    if len(found) > MAX_METADATA:
        raise InvalidRequest(f"At most {MAX_METADATA} metadata filters.", param="metadata")
    return found


@router.get("")
async def list_chat_completions(
    request: Request,
    model: str | None = None,
    after: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "asc",
) -> dict[str, Any]:
    """The caller's stored chat completions, filtered by model and metadata."""
    store = services(request).stored_completions
    meta = _metadata_filter(request)

    def page() -> dict[str, Any]:
        return store.list(
            _owner(request), model=model, metadata=meta, after=after, limit=limit, order=order
        )

    return await anyio.to_thread.run_sync(page)


@router.get("/{completion_id}")
async def get_chat_completion(completion_id: str, request: Request) -> dict[str, Any]:
    """One stored chat completion."""
    store = services(request).stored_completions
    return await anyio.to_thread.run_sync(store.get, completion_id, _owner(request))


@router.post("/{completion_id}")
async def update_chat_completion(
    completion_id: str, body: UpdateChatCompletion, request: Request
) -> dict[str, Any]:
    """Replace a stored chat completion's metadata."""
    if body.metadata is not None and len(body.metadata) > MAX_METADATA:
        raise InvalidRequest(f"At most {MAX_METADATA} metadata pairs.", param="metadata")
    store = services(request).stored_completions
    return await anyio.to_thread.run_sync(
        store.update, completion_id, _owner(request), body.metadata
    )


@router.delete("/{completion_id}")
async def delete_chat_completion(completion_id: str, request: Request) -> dict[str, Any]:
    """Delete a stored chat completion."""
    store = services(request).stored_completions
    return await anyio.to_thread.run_sync(store.delete, completion_id, _owner(request))


@router.get("/{completion_id}/messages")
async def list_chat_completion_messages(
    completion_id: str,
    request: Request,
    after: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "asc",
) -> dict[str, Any]:
    """The request messages of a stored chat completion."""
    store = services(request).stored_completions

    def page() -> dict[str, Any]:
        return store.messages(completion_id, _owner(request), after=after, limit=limit, order=order)

    return await anyio.to_thread.run_sync(page)
