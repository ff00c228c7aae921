"""The Responses API under /v1/responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from causerie.errors import CauserieError, InvalidRequest
from causerie.http import EventStreamResponse, coalesce, sse_event
from causerie.protocol_responses import CreateResponse, DeleteResponseResponse, ResponseItemList
from causerie.routers import services
from causerie.routers.auth import METERED, billed_to
from causerie.routers.openai import _unless_disconnected

router = APIRouter(prefix="/v1/responses", tags=["responses"])


def _owner(request: Request) -> str:
    return billed_to(request)[0]


@router.post("", response_model=None, dependencies=[METERED])
async def create_response(body: CreateResponse, request: Request) -> Response:
    """A model response, streamed as server-sent events or returned whole."""
    svc = services(request).responses
    run = await svc.start(body, billed_to(request))
    if not body.stream:
        result = await _unless_disconnected(request, svc.complete(run))
        return result if isinstance(result, Response) else JSONResponse(result)
    events = svc.events(run)
    # The first event comes only once the model started: an earlier failure keeps its status.
    first = await anext(events)
    return EventStreamResponse(coalesce(_sse(first, events)))


async def _sse(
    first: dict[str, Any], events: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[bytes]:
    seq = first["sequence_number"]
    try:
        yield sse_event(first["type"], first)
        async for event in events:
            seq = event["sequence_number"]
            yield sse_event(event["type"], event)
    except CauserieError as exc:  # the status is already sent: say it in the stream
        err = exc.body()["error"]
        yield sse_event("error", {"type": "error", "sequence_number": seq + 1, **err})
    finally:
        await events.aclose()  # type: ignore[attr-defined]


@router.get("/{response_id}")
async def get_response(response_id: str, request: Request, stream: bool = False) -> dict[str, Any]:
    """A stored response of the caller's."""
    if stream:  # replays a background response's events at OpenAI; there are none here
        raise InvalidRequest(
            "stream=true on a stored response (replaying a background response's events) "
            "is not supported.",
            param="stream",
        )
    return await anyio.to_thread.run_sync(
        services(request).responses.get, response_id, _owner(request)
    )


@router.delete("/{response_id}", response_model=DeleteResponseResponse)
async def delete_response(response_id: str, request: Request) -> DeleteResponseResponse:
    """Delete a stored response."""
    await anyio.to_thread.run_sync(services(request).responses.delete, response_id, _owner(request))
    return DeleteResponseResponse(id=response_id)


@router.get("/{response_id}/input_items", response_model=ResponseItemList)
async def list_input_items(
    response_id: str,
    request: Request,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> dict[str, Any]:
    """The input items of a stored response, a page at a time."""
    svc = services(request).responses
    return await anyio.to_thread.run_sync(
        svc.input_items, response_id, _owner(request), limit, order, after
    )


@router.post("/{response_id}/cancel")
async def cancel_response(response_id: str, request: Request) -> dict[str, Any]:
    """Stop a response still being generated."""
    return await services(request).responses.cancel(response_id, _owner(request))
