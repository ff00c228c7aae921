"""The product's own API for the web UI: conversations and their message trees."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from causerie.http import sse_event
from causerie.jsonsafe import BoundedBody
from causerie.routers import services
from causerie.routers.auth import METERED, billed_to, owner
from causerie.services.conversations import Event

router = APIRouter(prefix="/api", tags=["conversations"])


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("", max_length=500)
    model: str | None = None
    system_prompt: str | None = Field(None, max_length=100_000)
    temperature: float | None = Field(None, ge=0, le=2)
    web_search: bool = Field(False, description="Search the web for every answer.")


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=500)
    model: str | None = None
    system_prompt: str | None = Field(None, max_length=100_000)
    temperature: float | None = Field(None, ge=0, le=2)
    web_search: bool | None = None


class MessageCreate(BoundedBody):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=1_000_000)
    parent_id: str | None = Field(
        None,
        description="Answer after this message (edit = branch); an explicit null starts a "
        "new first message; absent means after the current leaf.",
    )
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1, description="Cap on the reply's length.")
    web_search: bool | None = Field(None, description="This message only; else the toggle's.")


class ReplyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1, description="Cap on the reply's length.")
    web_search: bool | None = Field(None, description="This reply only; else the toggle's.")


class BranchSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: str


@router.post("/conversations", status_code=201)
def create_conversation(body: ConversationCreate, request: Request) -> dict:
    return services(request).conversations.create(owner(request), **body.model_dump())


@router.get("/conversations")
def list_conversations(
    request: Request,
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = None,
    q: str | None = Query(None, max_length=200, description="Match in title or messages."),
) -> dict:
    svc = services(request).conversations
    return svc.list(owner(request), limit=limit, cursor=cursor, q=q)


@router.get("/conversations/{conv_id}")
def get_conversation(conv_id: str, request: Request) -> dict:
    return services(request).conversations.get(owner(request), conv_id)


@router.patch("/conversations/{conv_id}")
def update_conversation(conv_id: str, body: ConversationUpdate, request: Request) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return services(request).conversations.update(owner(request), conv_id, changes)


@router.delete("/conversations/{conv_id}", status_code=204)
def delete_conversation(conv_id: str, request: Request) -> Response:
    services(request).conversations.delete(owner(request), conv_id)
    return Response(status_code=204)


@router.put("/conversations/{conv_id}/branch")
def switch_branch(conv_id: str, body: BranchSwitch, request: Request) -> dict:
    svc = services(request).conversations
    return svc.switch_branch(owner(request), conv_id, body.message_id)


@router.post("/conversations/{conv_id}/messages", dependencies=[METERED])
def post_message(conv_id: str, body: MessageCreate, request: Request) -> StreamingResponse:
    """Add a user message and stream the assistant's reply as server-sent events."""
    svc = services(request).conversations
    turn = svc.start_turn(
        owner(request),
        conv_id,
        body.content,
        parent_id=body.parent_id,
        regenerate=None,
        model=body.model,
        at_root="parent_id" in body.model_fields_set and body.parent_id is None,
        max_tokens=body.max_tokens,
        web_search=body.web_search,
    )
    return _stream(svc.reply(turn, billed_to(request)))


@router.post("/conversations/{conv_id}/messages/{message_id}/regenerate", dependencies=[METERED])
def regenerate(
    conv_id: str, message_id: str, request: Request, body: ReplyOptions | None = None
) -> StreamingResponse:
    """Answer the same user message again, as a new sibling branch."""
    svc = services(request).conversations
    turn = svc.start_turn(
        owner(request),
        conv_id,
        None,
        parent_id=None,
        regenerate=message_id,
        model=body.model if body else None,
        max_tokens=body.max_tokens if body else None,
        web_search=body.web_search if body else None,
    )
    return _stream(svc.reply(turn, billed_to(request)))


@router.post("/conversations/{conv_id}/messages/{message_id}/stop")
def stop_reply(conv_id: str, message_id: str, request: Request) -> dict:
    """Stop a reply being streamed, whichever replica streams it."""
    return services(request).conversations.stop(owner(request), conv_id, message_id)


def _stream(events: AsyncIterator[Event]) -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        async for event in events:
            yield sse_event(event.kind, event.data)

    return StreamingResponse(frames(), media_type="text/event-stream")
