"""Conversations: a tree of messages per conversation, replies streamed and persisted."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from causerie.errors import CauserieError, InvalidRequest, NotFound
from causerie.services.completions import CompletionService, Outcome
from causerie.services.context import ContextFitter, refuse_oversized
from causerie.store.db import Database
from causerie.store.folding import fold, folded
from causerie.store.models import Conversation, Message, new_id, utcnow

TITLE_CHARS = 60
FLUSH_SECONDS = 0.5  # how often a streaming reply is written to the database


@dataclass(frozen=True)
class Turn:
    """One conversation turn about to be answered: what was stored and what to send."""

    user: dict[str, Any] | None  # the user's new message (None when regenerating)
    reply: dict[str, Any]  # the assistant's placeholder, filled as the answer streams
    request: dict[str, Any]  # the chat completion request (OpenAI wire format)


@dataclass
class Event:
    """One step of a streamed reply: 'message', 'delta', 'done' or 'error'."""

    kind: str
    data: dict[str, Any]


def _iso(at: datetime) -> str:
    # SQLite hands datetimes back without their zone; every one we store is UTC.
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def conversation_json(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "model": c.model,
        "system_prompt": c.system_prompt,
        "temperature": c.temperature,
        "web_search": bool(c.web_search),
        "current_leaf_id": c.current_leaf_id,
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
    }


# Error fields that are words, not figures: error_detail keeps the others (code, sizes).
_WORDS = ("message", "type", "param")

# The error of a reply its reader stopped (Stop, a closed tab), as opposed to a failure.
STOPPED = "the reply was stopped"


def message_json(m: Message, siblings: list[str] | None = None) -> dict[str, Any]:
    out = {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": m.role,
        "content": m.content,
        "status": m.status,
        "model": m.model,
        "finish_reason": m.finish_reason,
        "error": m.error,
        "error_detail": m.error_detail,  # the error's code and figures (sizes), for the UI
        "out_of_view": m.out_of_view or 0,  # earlier messages its model could not read
        "stopped": m.status == "interrupted" and m.error == STOPPED,
        "usage": None
        if m.prompt_tokens is None
        else {"prompt_tokens": m.prompt_tokens, "completion_tokens": m.completion_tokens},
        "created_at": _iso(m.created_at),
    }
    if siblings is not None:
        out["siblings"] = siblings
    return out


class ConversationService:
    """CRUD on conversations and the message tree; streams replies from a model."""

    def __init__(self, db: Database, completions: CompletionService):
        self.db = db
        self.completions = completions
        grounder = completions.grounder
        self.fitter = ContextFitter(
            completions, grounder.config.evidence_words if grounder else None
        )

    # -- conversations ---------------------------------------------------------------

    def create(
        self,
        owner: str,
        *,
        title: str = "",
        model: str | None = None,
        system_prompt: str | None = None,
        temperature: float | None = None,
        web_search: bool = False,
    ) -> dict:
        """A new, empty conversation."""
        if model is not None:
            self.completions.catalog.get(model)
        with self.db.session() as s:
            conv = Conversation(
                owner_id=owner,
                title=title,
                model=model,
                system_prompt=system_prompt,
                temperature=temperature,
                web_search=web_search,
            )
            s.add(conv)
            s.flush()
            return conversation_json(conv)

    def list(
        self, owner: str, *, limit: int = 20, cursor: str | None = None, q: str | None = None
    ) -> dict:
        """Conversations, most recently updated first, in pages; q filters on title or text."""
        with self.db.session() as s:
            query = select(Conversation).where(Conversation.owner_id == owner)
            if q and q.strip():
                query = query.where(_matching(owner, q.strip()))
            if cursor:
                at, cid = _decode_cursor(cursor)
                query = query.where(
                    or_(
                        Conversation.updated_at < at,
                        and_(Conversation.updated_at == at, Conversation.id < cid),
                    )
                )
            newest_first = query.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            rows = s.scalars(newest_first.limit(limit + 1)).all()
            page = rows[:limit]
            more = len(rows) > limit
            return {
                "data": [conversation_json(c) for c in page],
                "has_more": more,
                "next_cursor": _encode_cursor(page[-1]) if more else None,
            }

    def get(self, owner: str, conv_id: str) -> dict:
        """A conversation with the messages of its active branch."""
        with self.db.session() as s:
            conv = _owned(s, owner, conv_id)
            out = conversation_json(conv)
            out["messages"] = _active_path(s, conv, conv.current_leaf_id)
            return out

    def update(self, owner: str, conv_id: str, changes: dict[str, Any]) -> dict:
        """Rename, or change the model, system prompt, temperature or web search toggle."""
        if changes.get("model") is not None:
            self.completions.catalog.get(changes["model"])
        with self.db.session() as s:
            conv = _owned(s, owner, conv_id)
            for key in ("title", "model", "system_prompt", "temperature", "web_search"):
                if key in changes:
                    setattr(conv, key, changes[key])
            conv.updated_at = utcnow()
            return conversation_json(conv)

    def delete(self, owner: str, conv_id: str) -> None:
        """Delete a conversation and all its messages."""
        with self.db.session() as s:
            conv = _owned(s, owner, conv_id)
            s.execute(delete(Message).where(Message.conversation_id == conv.id))
            s.delete(conv)

    def stop(self, owner: str, conv_id: str, message_id: str) -> dict:
        """Stop a reply being streamed, by this process or another replica; returns it.

        The request is written on the row (its error, while it is still streaming); the
        process streaming the reply sees it when it next writes the reply (every
        FLUSH_SECONDS while tokens arrive), ends there and stores it as stopped, so a
        reader waits for 'streaming' to end as before. A reply not streaming is unchanged.
        """
        with self.db.session() as s:
            msg = _message(s, _owned(s, owner, conv_id), message_id)
            s.execute(
                update(Message)
                .where(Message.id == msg.id, Message.status == "streaming")
                .values(error=STOPPED)
            )
            s.refresh(msg)
            return message_json(msg)

    def switch_branch(self, owner: str, conv_id: str, message_id: str) -> dict:
        """Show the branch through a message, down to its newest leaf."""
        with self.db.session() as s:
            conv = _owned(s, owner, conv_id)
            _message(s, conv, message_id)
            children = _children_map(s, conv.id)
            leaf = message_id
            while children.get(leaf):
                leaf = children[leaf][-1]
            conv.current_leaf_id = leaf
            out = conversation_json(conv)
            out["messages"] = _active_path(s, conv, leaf, children)
            return out

    # -- replies ---------------------------------------------------------------------

    def start_turn(
        self,
        owner: str,
        conv_id: str,
        content: str | None,
        *,
        parent_id: str | None,
        regenerate: str | None,
        model: str | None,
        at_root: bool = False,
        max_tokens: int | None = None,
        web_search: bool | None = None,
    ) -> Turn:
        """Store the user's message (or pick the one to answer again) and a reply placeholder.

        parent_id None means after the current leaf; at_root starts a new first message
        (editing the first message of a conversation); web_search None follows the
        conversation's toggle.
        """
        with self.db.session() as s:
            conv = _owned(s, owner, conv_id)
            if regenerate is not None:
                old = _message(s, conv, regenerate)
                if old.role != "assistant" or old.parent_id is None:
                    raise InvalidRequest("Only an assistant reply can be regenerated.")
                user_msg = _message(s, conv, old.parent_id)
                created_user = None
            else:
                if not content or not content.strip():
                    raise InvalidRequest("The message is empty.", param="content")
                parent = (
                    None
                    if at_root
                    else (parent_id if parent_id is not None else conv.current_leaf_id)
                )
                if parent is not None:
                    _message(s, conv, parent)
                user_msg = Message(
                    id=new_id(),
                    conversation_id=conv.id,
                    owner_id=owner,
                    parent_id=parent,
                    role="user",
                    content=content,
                )
                s.add(user_msg)
                created_user = user_msg
                if not conv.title:
                    conv.title = _title(content)
            model_name = model or conv.model or self.completions.catalog.default
            if model_name is None:
                raise InvalidRequest("No model is configured.", param="model")
            self.completions.catalog.get(model_name)
            reply = Message(
                id=new_id(),
                conversation_id=conv.id,
                owner_id=owner,
                parent_id=user_msg.id,
                role="assistant",
                content="",
                status="streaming",
                model=model_name,
            )
            s.add(reply)
            conv.current_leaf_id = reply.id
            conv.updated_at = utcnow()
            s.flush()
            history = _path(s, conv.id, user_msg.id)
            messages = [{"role": m.role, "content": m.content} for m in history]
            if conv.system_prompt:
                messages.insert(0, {"role": "system", "content": conv.system_prompt})
            request: dict[str, Any] = {"model": model_name, "messages": messages}
            if conv.temperature is not None:
                request["temperature"] = conv.temperature
            grounder = self.completions.grounder
            if grounder is not None and (attached := grounder.conversation_collections(conv.id, s)):
                request["collections"] = attached  # answer from the attached collections
            if web_search if web_search is not None else conv.web_search:
                request["web_search_options"] = {}  # refused if the server has no engine
            if max_tokens is not None:
                request["max_tokens"] = max_tokens
            if created_user is not None:  # refused before it is stored: nothing to clean up
                refuse_oversized(content or "", self.fitter.context_of(model_name), request)
            user_json = message_json(created_user) if created_user else None
            return Turn(user_json, message_json(reply), request)

    async def reply(
        self, turn: Turn, billed_to: tuple[str, str | None] | None = None
    ) -> AsyncIterator[Event]:
        """Stream the model's answer, writing it to the database as it arrives."""
        if turn.user is not None:
            yield Event("message", turn.user)
        reply_id = turn.reply["id"]
        yield Event("message", turn.reply)
        outcome = Outcome()
        status, error = "interrupted", STOPPED
        detail: dict[str, Any] | None = None
        out_of_view = 0
        written, last_flush = 0, time.monotonic()
        try:
            fitted = self.fitter.stream(turn.request, billed_to, outcome)
            async with aclosing(fitted) as chunks:
                async for chunk in chunks:
                    if chunk.get("context", {}).get("dropped"):  # history the model cannot see
                        out_of_view = chunk["context"]["dropped"]
                        yield Event("context", {"id": reply_id, **chunk["context"]})
                    for choice in chunk.get("choices") or ():
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield Event("delta", {"id": reply_id, "content": text})
                    if "sources" in chunk:  # grounded reply: numbered sources, then verdicts
                        yield Event("sources", {"id": reply_id, "sources": chunk["sources"]})
                    if "grounding" in chunk:
                        outcome.content = chunk["grounding"]["content"]  # verified markers
                        yield Event("grounding", {"id": reply_id, **chunk["grounding"]})
                    if (
                        time.monotonic() - last_flush > FLUSH_SECONDS
                        and len(outcome.content) > written
                    ):
                        if not await anyio.to_thread.run_sync(self._flush, reply_id, outcome):
                            break  # Stop, asked through any replica (see stop())
                        written, last_flush = len(outcome.content), time.monotonic()
                else:
                    status, error = "complete", None
        except CauserieError as exc:
            # A reply cut after some text is kept as interrupted: it can be continued
            # or regenerated; one that produced nothing is an error.
            status, error = ("interrupted" if outcome.content else "error"), exc.message
            detail = {k: v for k, v in exc.body()["error"].items() if k not in _WORDS}
            yield Event("error", {"id": reply_id, **exc.body()})
        finally:
            # Shielded: a client that goes away must not stop us recording what it got.
            with anyio.CancelScope(shield=True):
                final = await anyio.to_thread.run_sync(
                    self._save, reply_id, outcome, status, error, detail, out_of_view
                )
                if outcome.grounding is not None and self.completions.grounder is not None:
                    await anyio.to_thread.run_sync(
                        self.completions.grounder.save, reply_id, outcome.grounding
                    )
        yield Event("done", final)

    def _flush(self, reply_id: str, outcome: Outcome) -> bool:
        """Write a streaming reply's text so far; False once someone stopped it."""
        with self.db.session() as s:
            written = s.execute(
                update(Message)
                .where(Message.id == reply_id, Message.status == "streaming")
                .where(Message.error.is_(None))  # set by stop()
                .values(content=outcome.content, updated_at=utcnow())
            )
            return written.rowcount == 1

    def _save(
        self,
        reply_id: str,
        outcome: Outcome,
        status: str,
        error: str | None,
        detail: dict[str, Any] | None = None,
        out_of_view: int = 0,
    ) -> dict:
        with self.db.session() as s:
            usage = outcome.usage or {}
            s.execute(
                update(Message)
                .where(Message.id == reply_id)
                .values(
                    content=outcome.content,
                    status=status,
                    error=error,
                    error_detail=detail,
                    out_of_view=out_of_view or None,
                    finish_reason=outcome.finish_reason,
                    prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=usage.get("completion_tokens"),
                    updated_at=utcnow(),
                )
            )
            return message_json(s.get_one(Message, reply_id))


def _owned(s: Session, owner: str, conv_id: str) -> Conversation:
    conv = s.get(Conversation, conv_id)
    if conv is None or conv.owner_id != owner:  # another user's is reported as missing
        raise NotFound(f"No conversation with id '{conv_id}'.")
    return conv


def _message(s: Session, conv: Conversation, message_id: str) -> Message:
    msg = s.get(Message, message_id)
    if msg is None or msg.conversation_id != conv.id:
        raise NotFound(f"No message with id '{message_id}' in this conversation.")
    return msg


def _children_map(s: Session, conv_id: str) -> dict[str | None, list[str]]:
    rows = s.execute(
        select(Message.id, Message.parent_id)
        .where(Message.conversation_id == conv_id)
        .order_by(Message.created_at, Message.id)
    ).all()
    children: dict[str | None, list[str]] = {}
    for mid, parent in rows:
        children.setdefault(parent, []).append(mid)
    return children


def _path(s: Session, conv_id: str, leaf_id: str | None) -> list[Message]:
    """Messages from the root down to leaf_id."""
    if leaf_id is None:
        return []
    by_id = {m.id: m for m in s.scalars(select(Message).where(Message.conversation_id == conv_id))}
    path = []
    node = by_id.get(leaf_id)
    while node is not None:
        path.append(node)
        node = by_id.get(node.parent_id) if node.parent_id else None
    return path[::-1]


def _active_path(
    s: Session,
    conv: Conversation,
    leaf_id: str | None,
    children: dict[str | None, list[str]] | None = None,
) -> list[dict]:
    children = children if children is not None else _children_map(s, conv.id)
    return [message_json(m, children.get(m.parent_id, [m.id])) for m in _path(s, conv.id, leaf_id)]


def _matching(owner: str, text: str) -> ColumnElement[bool]:
    """Title or any message containing text, ignoring case and accents (wildcards escaped)."""
    text = fold(text)
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    in_messages = (
        select(Message.id)
        .where(
            Message.conversation_id == Conversation.id,
            Message.owner_id == owner,
            folded(Message.content).like(pattern, escape="\\"),
        )
        .exists()
    )
    return or_(folded(Conversation.title).like(pattern, escape="\\"), in_messages)


def _title(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _encode_cursor(c: Conversation) -> str:
    return base64.urlsafe_b64encode(f"{c.updated_at.isoformat()}|{c.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, cid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(at), cid
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("Invalid cursor.", param="cursor") from None
