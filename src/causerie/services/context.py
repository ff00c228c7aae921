"""Context fitting: the part of a conversation its model can read, newest turns first.

A conversation outgrows its model's context (4,096 tokens a slot by default); sending it
whole makes the engine refuse every later turn. So each turn sends the system prompt and
as many of the latest messages as fit, keeping room for the answer and, when collections
are attached, for the evidence the grounder adds.

Token counts are estimated from UTF-8 bytes, then checked by the engine itself: measured
once on SmolLM2's tokenizer when this was written (no benchmark keeps it), prose and
code take 3.2-3.9 bytes a token, digits, base64, CJK and emoji 1.0-1.3. The first try
assumes prose; if the engine still refuses, its reply gives the exact count, from which
the ratio is corrected; the last try counts one token a byte, which the measurements show
to be an upper bound.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from causerie.errors import ContextLengthExceeded, MessageTooLong
from causerie.protocol import CreateChatCompletionRequest
from causerie.services.completions import CompletionService, Outcome

PROSE_BYTES_PER_TOKEN = 3.0  # first guess: a little under the measured 3.2 for prose
LEAST_BYTES_PER_TOKEN = 1.0  # one token a byte: the measured worst case (digits)
# Refusing a message outright needs a count that cannot be too high: no measured text
# packed more than 3.95 bytes into a token.
MOST_BYTES_PER_TOKEN = 4.0
TEMPLATE_TOKENS = 32  # the chat template's fixed part (measured: 30 with SmolLM2)
MESSAGE_TOKENS = 8  # role markers around each message
REPLY_TOKENS = 512  # kept for the answer when the request sets no max_tokens
GROUNDING_TOKENS = 200  # the grounding instructions, besides the evidence itself
TOKENS_PER_EVIDENCE_WORD = 3  # evidence is budgeted in words (knowledge.evidence_words)
ATTEMPTS = 3
# History is dropped a block at a time, this share of the room: after a drop the prompt
# fills about 60 % of it, and the next turns keep the same start (the engine's cache).
DROP_BLOCK = 0.4


@dataclass
class Fitted:
    """The messages sent, how many earlier ones were left out, and their estimated size."""

    messages: list[dict[str, Any]]
    dropped: int
    tokens: int


def estimate(message: dict[str, Any], bytes_per_token: float) -> int:
    """Tokens one message takes, at this density."""
    size = len(str(message.get("content") or "").encode())
    return MESSAGE_TOKENS + math.ceil(size / bytes_per_token)


def budget(context: int, request: dict[str, Any], evidence_words: int | None) -> int:
    """Prompt tokens available: the context less the answer's room and the evidence's."""
    reply = request.get("max_tokens") or min(REPLY_TOKENS, context // 4)
    evidence = 0
    grounded = request.get("collections") or request.get("web_search_options") is not None
    if grounded and evidence_words:
        evidence = GROUNDING_TOKENS + TOKENS_PER_EVIDENCE_WORD * evidence_words
    return context - reply - evidence - TEMPLATE_TOKENS


def fit(messages: list[dict[str, Any]], room: int, bytes_per_token: float) -> Fitted:
    """System messages and the newest turns that fit in room tokens; the oldest go first.

    Turns are dropped in blocks, not one by one: dropping one more message each turn would
    change the start of the prompt every turn, and the engine would re-read all of it
    (bench/README.md, "Long conversations": 799 s for one turn under load). The cut points are
    fixed from the start of the conversation, about DROP_BLOCK of the room apart, so the
    kept history starts at the same message over the next several turns.

    The latest message always stays (it is what is being answered), even over the room:
    the engine then counts it exactly, and refuses it if it truly does not fit.
    """
    system = [m for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    costs = [estimate(m, bytes_per_token) for m in turns]
    used = sum(estimate(m, bytes_per_token) for m in system)
    for cut in _cuts(turns, costs, DROP_BLOCK * room):
        kept = sum(costs[cut:])
        if used + kept <= room:
            return Fitted(system + turns[cut:], cut, used + kept)
    return _newest(system, turns, costs, used, room)


def _cuts(turns: list[dict[str, Any]], costs: list[int], block: float) -> list[int]:
    """Where history may start: at a user message, once a block's worth precedes it."""
    cuts, since = [0], 0
    for i, (m, cost) in enumerate(zip(turns, costs, strict=True)):
        if i and m["role"] == "user" and since >= block:
            cuts.append(i)
            since = 0
        since += cost
    return cuts


def _newest(
    system: list[dict[str, Any]],
    turns: list[dict[str, Any]],
    costs: list[int],
    used: int,
    room: int,
) -> Fitted:
    """Even the last block is too long: as many of the newest messages as fit."""
    kept = min(1, len(turns))  # the latest, whatever its size
    used += costs[-1] if turns else 0
    while kept < len(turns) and used + costs[-kept - 1] <= room:
        kept += 1
        used += costs[-kept]
    # A reply must follow a user message: an assistant turn cut from its question goes too.
    while kept > 1 and turns[-kept]["role"] != "user":
        used -= costs[-kept]
        kept -= 1
    return Fitted(system + turns[len(turns) - kept :], len(turns) - kept, used)


def refuse_oversized(content: str, context: int | None, request: dict[str, Any]) -> None:
    """Refuse, before anything is stored or sent, a message that cannot fit even alone."""
    if context is None:
        return
    room = budget(context, request, None)
    tokens = estimate({"content": content}, MOST_BYTES_PER_TOKEN)
    if tokens > room:
        raise MessageTooLong(tokens, room, len(content))


class ContextFitter:
    """Streams a conversation turn with its history fitted to the model's context."""

    def __init__(self, completions: CompletionService, evidence_words: int | None):
        self.completions = completions
        self.evidence_words = evidence_words

    def context_of(self, model: str) -> int | None:
        """The context of one request slot of a model, None when unknown (remote models)."""
        return self.completions.catalog.get(model).context_size

    async def stream(
        self, request: dict[str, Any], billed_to: Any, outcome: Outcome
    ) -> AsyncIterator[dict]:
        """Completion chunks; the first carries a `context` extension: what was left out."""
        context = self.context_of(request["model"])
        if context is None:  # nothing to fit to: the upstream says if it is too long
            async for chunk in self._run(request, billed_to, outcome):
                yield chunk
            return
        room = budget(context, request, self.evidence_words)
        ratio = PROSE_BYTES_PER_TOKEN
        for attempt in range(ATTEMPTS):
            fitted = fit(request["messages"], room, ratio)
            started = False
            try:
                async for chunk in self._run(
                    {**request, "messages": fitted.messages}, billed_to, outcome
                ):
                    if not started:
                        chunk["context"] = {"dropped": fitted.dropped, "tokens": fitted.tokens}
                        started = True
                    yield chunk
                return
            except ContextLengthExceeded as exc:
                # Refused before any output: the engine counted; correct our density.
                if started or exc.tokens is None:
                    raise
                if _alone(fitted.messages):  # nothing left to drop: the message is too long
                    raise _too_long(fitted.messages[-1], exc.tokens, room) from None
                if attempt == ATTEMPTS - 1:
                    raise
                ratio = _corrected(ratio, fitted.tokens, exc.tokens, attempt)

    async def _run(
        self, request: dict[str, Any], billed_to: Any, outcome: Outcome
    ) -> AsyncIterator[dict]:
        req = CreateChatCompletionRequest.model_validate(request)
        prep = self.completions.prepare(req, billed_to=billed_to)
        async with aclosing(self.completions.stream(prep, outcome)) as chunks:
            async for chunk in chunks:
                yield chunk


def _alone(messages: list[dict[str, Any]]) -> bool:
    """Only the latest message is left besides system prompts: nothing more to drop."""
    return sum(m["role"] != "system" for m in messages) <= 1


def _too_long(message: dict[str, Any], tokens: int, limit: int) -> MessageTooLong:
    content = str(message.get("content") or "")
    return MessageTooLong(tokens, limit, len(content))


def _corrected(ratio: float, estimated: int, counted: int, attempt: int) -> float:
    """The density the engine's count implies, with a margin; one byte a token at the end."""
    if attempt >= ATTEMPTS - 2:
        return LEAST_BYTES_PER_TOKEN
    return max(LEAST_BYTES_PER_TOKEN, 0.9 * ratio * estimated / max(counted, 1))
