"""The Responses API: a request translated to a chat completion, run, streamed and stored.

Routing, fallback, quotas and usage accounting are the chat-completion machinery's
(services/completions.py); this module only translates, frames events and keeps the
stored responses that `previous_response_id` continues from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
from pydantic import ValidationError
from sqlalchemy import delete, or_, select, update

from causerie.errors import CauserieError, InvalidRequest
from causerie.protocol import CreateChatCompletionRequest
from causerie.protocol_responses import CreateResponse
from causerie.services.completions import CompletionService, Outcome, Prepared
from causerie.services.responses_input import (
    chat_messages,
    chat_response_format,
    chat_tool_choice,
    chat_tools,
    check_supported,
    item_id,
    normalise_input,
)
from causerie.services.responses_tools import (
    Builtins,
    annotations,
    builtin_tools,
    search_events,
    search_items,
)
from causerie.services.stored_completions import page
from causerie.store.db import Database
from causerie.store.models import utcnow
from causerie.store.responses import StoredResponse, owned

CANCEL_WAIT_SECONDS = 5.0
# The generating process refreshes its responses' heartbeat this often; a response still
# in progress whose heartbeat is older than STALE_SECONDS lost its writer (a crash).
HEARTBEAT_SECONDS = 1.0
STALE_SECONDS = 10.0
_WRITER_DIED = {
    "code": "server_error",
    "message": "The server process generating this response stopped before it finished.",
}
_NEVER_NULL = {"user", "usage"}
_TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete"}


@dataclass
class Run:
    """One response being generated."""

    id: str
    req: CreateResponse
    owner: str
    prep: Prepared
    items: list[dict[str, Any]]
    transcript: list[dict[str, Any]]  # chat messages before this turn's output
    builtins: Builtins = field(default_factory=Builtins)
    created_at: int = field(default_factory=lambda: int(time.time()))
    cancelled: bool = False
    done: anyio.Event = field(default_factory=anyio.Event)
    error: CauserieError | None = None
    seq: int = 0

    def event(self, kind: str, **data: Any) -> dict[str, Any]:
        self.seq += 1
        return {"type": kind, "sequence_number": self.seq - 1, **data}


class ResponseService:
    """Creates, stores, continues and cancels responses."""

    def __init__(self, db: Database, completions: CompletionService):
        self.db = db
        self.completions = completions
        self._running: dict[str, Run] = {}  # in this process, for cancel
        self._beating: asyncio.Task[None] | None = None

    async def start(self, req: CreateResponse, billed_to: tuple[str, str | None]) -> Run:
        """Validate and translate a request (and store it as in progress)."""
        check_supported(req)
        owner = billed_to[0]
        history: list[dict[str, Any]] = []
        if req.previous_response_id:
            prev = await anyio.to_thread.run_sync(self._row, req.previous_response_id, owner)
            history = list(prev.transcript)
        builtins = builtin_tools(req.tools, req.tool_choice, req.include)
        items = normalise_input(req.input)
        transcript = history + chat_messages(items)
        system = [{"role": "system", "content": req.instructions}] if req.instructions else []
        chat: dict[str, Any] = {"model": req.model, "messages": system + transcript}
        optional = {
            "temperature": req.temperature,
            "top_p": req.top_p,
            "max_completion_tokens": req.max_output_tokens,
            "tools": chat_tools(req.tools),
            "tool_choice": chat_tool_choice(req.tool_choice),
            "parallel_tool_calls": req.parallel_tool_calls,
            "response_format": chat_response_format(req),
        }
        chat.update({k: v for k, v in optional.items() if v is not None})
        chat.update(builtins.chat_fields())
        try:
            chat_req = CreateChatCompletionRequest.model_validate(chat)
        except ValidationError as exc:
            raise InvalidRequest(f"Invalid input: {exc.errors()[0]['msg']}", param="input") from exc
        try:
            prep = self.completions.prepare(chat_req, billed_to=billed_to)
        except CauserieError as exc:  # a vector store or the web engine: name the tool
            raise builtins.rename(exc) from None
        run = Run(item_id("resp"), req, owner, prep, items, transcript, builtins)
        if req.store:
            await anyio.to_thread.run_sync(self._insert, run)
        return run

    async def events(self, run: Run) -> AsyncIterator[dict[str, Any]]:
        """The documented event sequence; an error before any output is raised instead."""
        self._running[run.id] = run
        if run.req.store and (self._beating is None or self._beating.done()):
            self._beating = asyncio.create_task(self._heartbeat())
        outcome = Outcome()
        try:
            async with aclosing(self.completions.stream(run.prep, outcome)) as chunks:
                try:
                    first = await anext(chunks, None)
                except CauserieError as exc:
                    run.error = exc
                    await self._finish(run, outcome, None)
                    raise
                yield run.event("response.created", response=self.body(run, "in_progress"))
                yield run.event("response.in_progress", response=self.body(run, "in_progress"))
                searches = search_items(run.builtins, outcome.evidence, item_id)
                for index, item in enumerate(searches):
                    for e in search_events(run, index, item):
                        yield e
                at = len(searches)  # the message's output_index
                msg_id: str | None = None
                try:
                    chunk = first
                    while chunk is not None and not run.cancelled:
                        delta = (chunk.get("choices") or [{}])[0].get("delta") or {}
                        if text := delta.get("content"):
                            if msg_id is None:
                                msg_id = item_id("msg")
                                for e in _text_opened(run, msg_id, at):
                                    yield e
                            yield run.event(
                                "response.output_text.delta",
                                item_id=msg_id,
                                output_index=at,
                                content_index=0,
                                delta=text,
                                logprobs=[],
                            )
                        chunk = await anext(chunks, None)
                except CauserieError as exc:
                    run.error = exc
            output = list(searches)
            if msg_id is not None:
                message = _message_item(msg_id, outcome, searches)
                for e in _text_closed(run, message, len(output)):
                    yield e
                output.append(message)
            for call in outcome.tool_calls:
                item = _call_item(call)
                for e in _call_events(run, len(output), item):
                    yield e
                output.append(item)
            final = await self._finish(run, outcome, output)
            if final["status"] == "failed":
                yield run.event("response.failed", response=final)
            else:
                yield run.event(
                    _TERMINAL.get(final["status"], "response.incomplete"), response=final
                )
        finally:
            self._running.pop(run.id, None)
            run.done.set()

    async def complete(self, run: Run) -> dict[str, Any]:
        """Run to the end and return the response object (a failure is raised)."""
        final: dict[str, Any] = {}
        async with aclosing(self.events(run)) as events:
            async for event in events:
                final = event.get("response", final)
        if run.error is not None:
            raise run.error
        return final

    def body(
        self, run: Run, status: str, output: list[dict[str, Any]] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """The response object, with the request's settings echoed as OpenAI does."""
        req = run.req
        fmt = (
            req.text.format.model_dump(by_alias=True, exclude_none=True)
            if req.text and req.text.format
            else {"type": "text"}
        )
        body = {
            "id": run.id,
            "object": "response",
            "created_at": run.created_at,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens,
            "model": run.prep.model,
            "output": output or [],
            "parallel_tool_calls": req.parallel_tool_calls is not False,
            "previous_response_id": req.previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "store": bool(req.store),
            "temperature": req.temperature,
            "text": {"format": fmt},
            "tool_choice": req.tool_choice or "auto",
            "tools": req.tools or [],
            "top_p": req.top_p,
            "truncation": "disabled",
            "usage": None,
            "user": req.user,
            "metadata": req.metadata or {},
            **extra,
        }
        # The spec has no null for these: absent rather than null (usage while in progress).
        return {k: v for k, v in body.items() if v is not None or k not in _NEVER_NULL}

    async def _finish(
        self, run: Run, outcome: Outcome, output: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {"usage": _usage(outcome.usage)}
        if run.error is not None:
            status = "failed"
            err = run.error.body()["error"]
            extra["error"] = {"code": err["code"] or err["type"], "message": err["message"]}
        elif run.cancelled:
            status = "cancelled"
        elif outcome.finish_reason == "length":
            status = "incomplete"
            extra["incomplete_details"] = {"reason": "max_output_tokens"}
        else:
            status = "completed"
        final = self.body(run, status, output, **extra)
        if run.req.store:
            transcript = run.transcript + _assistant_turn(outcome)
            await anyio.to_thread.run_sync(self._update, run.id, final, transcript)
        return final

    # -- stored responses -------------------------------------------------------------------

    def _insert(self, run: Run) -> None:
        with self.db.session() as s:
            s.add(
                StoredResponse(
                    id=run.id,
                    owner_id=run.owner,
                    model=run.prep.model,
                    status="in_progress",
                    previous_response_id=run.req.previous_response_id,
                    body=self.body(run, "in_progress"),
                    input_items=run.items,
                    transcript=run.transcript,
                )
            )

    def _update(self, rid: str, body: dict[str, Any], transcript: list[dict[str, Any]]) -> None:
        with self.db.session() as s:
            row = s.get(StoredResponse, rid)
            if row is not None:  # deleted while it ran: stays deleted
                row.status, row.body, row.transcript = body["status"], body, transcript

    def _row(self, rid: str, owner: str) -> StoredResponse:
        """The owner's stored response; one whose writer died is failed first."""
        with self.db.session() as s:
            row = owned(s, StoredResponse, rid, owner, "response", "response_id")
            cutoff = utcnow() - timedelta(seconds=STALE_SECONDS)
            if row.status == "in_progress" and rid not in self._running:
                failed = {**row.body, "status": "failed", "error": _WRITER_DIED}
                done = s.execute(
                    update(StoredResponse)
                    .where(
                        StoredResponse.id == rid,
                        StoredResponse.status == "in_progress",
                        # None: stored before heartbeats existed (migration 0018)
                        or_(
                            StoredResponse.heartbeat_at.is_(None),
                            StoredResponse.heartbeat_at < cutoff,
                        ),
                    )
                    .values(status="failed", body=failed)
                )
                if done.rowcount:
                    s.refresh(row)
            return row

    async def _heartbeat(self) -> None:
        """While this process generates stored responses: refresh them, read cancels."""
        while self._running:
            await anyio.sleep(HEARTBEAT_SECONDS)
            runs = dict(self._running)
            stopped = await anyio.to_thread.run_sync(self._beat, list(runs))
            for rid in stopped:  # cancelled through another process
                if rid in runs:
                    runs[rid].cancelled = True

    def _beat(self, ids: list[str]) -> list[str]:
        with self.db.session() as s:
            mine = StoredResponse.id.in_(ids)
            running = StoredResponse.status == "in_progress"
            s.execute(update(StoredResponse).where(mine, running).values(heartbeat_at=utcnow()))
            return list(s.scalars(select(StoredResponse.id).where(mine, ~running)))

    def get(self, rid: str, owner: str) -> dict[str, Any]:
        """A stored response."""
        return self._row(rid, owner).body

    def delete(self, rid: str, owner: str) -> None:
        """Forget a stored response."""
        self._row(rid, owner)
        with self.db.session() as s:
            s.execute(delete(StoredResponse).where(StoredResponse.id == rid))

    def input_items(
        self, rid: str, owner: str, limit: int, order: str, after: str | None
    ) -> dict[str, Any]:
        """One page of a stored response's input items."""
        items = list(self._row(rid, owner).input_items)
        if order == "desc":
            items.reverse()
        return page(items, after, limit)

    async def cancel(self, rid: str, owner: str) -> dict[str, Any]:
        """Stop a response still being generated (here or by another process); return it."""
        row = await anyio.to_thread.run_sync(self._row, rid, owner)
        run = self._running.get(rid)
        if row.status != "in_progress":
            raise InvalidRequest(
                f"Response '{rid}' is {row.status} and not running: only a response still "
                "in progress can be cancelled.",
                param="response_id",
            )
        if run is not None:
            run.cancelled = True
            with anyio.move_on_after(CANCEL_WAIT_SECONDS):
                await run.done.wait()
            return await anyio.to_thread.run_sync(self.get, rid, owner)
        # Another process generates it: mark it, its heartbeat reads the mark and stops.
        await anyio.to_thread.run_sync(self._mark_cancelled, rid)
        body = await anyio.to_thread.run_sync(self.get, rid, owner)
        with anyio.move_on_after(CANCEL_WAIT_SECONDS):
            while body["status"] == "in_progress":  # until its writer stored the end
                await anyio.sleep(HEARTBEAT_SECONDS / 4)
                body = await anyio.to_thread.run_sync(self.get, rid, owner)
        return {**body, "status": "cancelled"} if body["status"] == "in_progress" else body

    def _mark_cancelled(self, rid: str) -> None:
        with self.db.session() as s:
            s.execute(
                update(StoredResponse)
                .where(StoredResponse.id == rid, StoredResponse.status == "in_progress")
                .values(status="cancelled")
            )


def _text_opened(run: Run, msg_id: str, index: int) -> list[dict[str, Any]]:
    item = {
        "id": msg_id,
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    return [
        run.event("response.output_item.added", output_index=index, item=item),
        run.event(
            "response.content_part.added",
            item_id=msg_id,
            output_index=index,
            content_index=0,
            part=part,
        ),
    ]


def _text_closed(run: Run, message: dict[str, Any], index: int) -> list[dict[str, Any]]:
    part = message["content"][0]
    where = {"item_id": message["id"], "output_index": index, "content_index": 0}
    return [
        *(
            run.event(
                "response.output_text.annotation.added", **where, annotation_index=i, annotation=a
            )
            for i, a in enumerate(part["annotations"])
        ),
        run.event("response.output_text.done", **where, text=part["text"], logprobs=[]),
        run.event("response.content_part.done", **where, part=part),
        run.event("response.output_item.done", output_index=index, item=message),
    ]


def _call_events(run: Run, index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    where = {"item_id": item["id"], "output_index": index}
    return [
        run.event(
            "response.output_item.added",
            output_index=index,
            item={**item, "arguments": "", "status": "in_progress"},
        ),
        run.event("response.function_call_arguments.delta", **where, delta=item["arguments"]),
        run.event(
            "response.function_call_arguments.done",
            **where,
            arguments=item["arguments"],
            name=item["name"],
        ),
        run.event("response.output_item.done", output_index=index, item=item),
    ]


def _message_item(msg_id: str, outcome: Outcome, searches: list[dict[str, Any]]) -> dict[str, Any]:
    text = outcome.content
    part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    if searches and outcome.grounding is not None:
        part["annotations"] = annotations(text, outcome.grounding)
        # Extension: the checker's verdicts, as chat completions' streamed `grounding`.
        part["grounding"] = outcome.grounding
    status = "incomplete" if outcome.finish_reason == "length" else "completed"
    return {
        "id": msg_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [part],
    }


def _call_item(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item_id("fc"),
        "type": "function_call",
        "status": "completed",
        "call_id": call["id"],
        "name": call["function"]["name"],
        "arguments": call["function"]["arguments"],
    }


def _assistant_turn(outcome: Outcome) -> list[dict[str, Any]]:
    if not outcome.content and not outcome.tool_calls:
        return []
    turn: dict[str, Any] = {"role": "assistant", "content": outcome.content or None}
    if outcome.tool_calls:
        turn["tool_calls"] = outcome.tool_calls
    return [turn]


def _usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return {
        "input_tokens": usage.get("prompt_tokens", 0),
        # No explicit cache writes here (the engine's prompt cache is implicit): 0, as OpenAI
        # reports for a request that writes none; the field is required since openai 3.5x.
        "input_tokens_details": {"cached_tokens": cached or 0, "cache_write_tokens": 0},
        "output_tokens": usage.get("completion_tokens", 0),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.get("total_tokens", 0),
    }
