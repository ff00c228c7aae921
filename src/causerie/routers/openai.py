"""The OpenAI API under /v1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from causerie.errors import CauserieError
from causerie.http import EventStreamResponse, coalesce, sse_data
from causerie.protocol import CreateChatCompletionRequest, ListModelsResponse, Model
from causerie.routers import services
from causerie.routers.auth import METERED, billed_to
from causerie.services.completions import Outcome

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


@router.post("/chat/completions", response_model=None, dependencies=[METERED])
async def create_chat_completion(body: CreateChatCompletionRequest, request: Request) -> Response:
    """Chat completions, streamed as server-sent events or returned whole."""
    svc = services(request).completions
    payer = billed_to(request)
    prep = svc.prepare(body, billed_to=payer)
    stored = services(request).stored_completions
    if not body.stream:
        result = await _unless_disconnected(request, svc.complete(prep))
        if body.store and not isinstance(result, Response):
            await anyio.to_thread.run_sync(stored.save, payer[0], body, result)
        return result if isinstance(result, Response) else JSONResponse(result)
    outcome = Outcome()
    chunks = svc.stream(prep, outcome)
    # Wait for the first chunk so that failures before any output keep their status.
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = None

    async def keep() -> None:  # store: true on a stream keeps it once it has ended
        if body.store and first is not None:
            await anyio.to_thread.run_sync(stored.save_streamed, payer[0], body, first, outcome)

    return EventStreamResponse(coalesce(_sse(first, chunks, keep)))


async def _sse(
    first: dict | None, chunks: AsyncIterator[dict], ended: Any = None
) -> AsyncIterator[bytes]:
    try:
        if first is not None:
            yield sse_data(first)
        async for chunk in chunks:
            yield sse_data(chunk)
        if ended is not None:
            await ended()
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
