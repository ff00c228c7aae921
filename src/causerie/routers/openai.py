"""The OpenAI API under /v1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from causerie.errors import CauserieError
from causerie.http import EventStreamResponse, coalesce, sse_data
from causerie.protocol import CreateChatCompletionRequest, ListModelsResponse, Model
from causerie.routers import services
from causerie.routers.auth import billed_to

router = APIRouter(prefix="/v1", tags=["openai"])
DISCONNECT_POLL_SECONDS = 0.25


def _model(request: Request, name: str) -> Model:
    catalog = services(request).catalog
    return Model(
        id=name, created=catalog.created, owned_by=catalog.owned_by(name), type=catalog.kind(name)
    )


@router.get("/models", response_model=ListModelsResponse)
async def list_models(request: Request) -> ListModelsResponse:
    """Every model this server answers with."""
    names = await services(request).catalog.listing()
    return ListModelsResponse(data=[_model(request, n) for n in names])


@router.get("/models/{model_id:path}", response_model=Model)
async def retrieve_model(model_id: str, request: Request) -> Model:
    """One model, or 404."""
    return _model(request, model_id)


@router.post("/chat/completions", response_model=None)
async def create_chat_completion(body: CreateChatCompletionRequest, request: Request) -> Response:
    """Chat completions, streamed as server-sent events or returned whole."""
    svc = services(request).completions
    prep = svc.prepare(body, billed_to=billed_to(request))
    if not body.stream:
        result = await _unless_disconnected(request, svc.complete(prep))
        return result if isinstance(result, Response) else JSONResponse(result)
    chunks = svc.stream(prep)
    # Wait for the first chunk so that failures before any output keep their status.
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = None
    return EventStreamResponse(coalesce(_sse(first, chunks)))


async def _sse(first: dict | None, chunks: AsyncIterator[dict]) -> AsyncIterator[bytes]:
    try:
        if first is not None:
            yield sse_data(first)
        async for chunk in chunks:
            yield sse_data(chunk)
        yield sse_data("[DONE]")
    except CauserieError as exc:  # after output started, the status is already sent
        yield sse_data(exc.body())
    finally:
        await chunks.aclose()  # stops the generation if the client went away


async def _unless_disconnected(request: Request, work: Any) -> Any:
    """Await work, cancelling it (and so the generation) if the client disconnects."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_SECONDS)
            if done:
                return task.result()
            if await request.is_disconnected():
                # Nobody is left to read an answer: free the slot and send nothing useful.
                return Response(status_code=499)
    finally:
        task.cancel()
