"""The grounded turn: retrieve -> select evidence -> prompt -> generate -> check -> shape.

One pipeline for /v1/chat/completions and conversation turns (both go through
CompletionService.stream). Its steps are typed: `Grounded` (the evidence and the
rewritten request, knowledge/grounding.py), the provider chunks, then the checked
grounding (content with verified markers, citations, sources).

A reply that is empty or only markers ("[1]", "[1] [2]") never reaches the client:
such a prefix is held back; if the model ends with nothing else, the turn asks once
more under a JSON schema that requires words, and failing that says plainly, in the
question's language, that no answer could be produced.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio

from causerie.errors import CauserieError
from causerie.knowledge.grounding import Grounded, Grounder
from causerie.providers.base import Provider

log = logging.getLogger(__name__)

_MARKERS = re.compile(r"\[\s*\d+(?:\s*,\s*\d+)*\s*\]")
# Engines stream a marker in pieces ("[1" then "]"): an unclosed one at the end of what
# has come so far may still close, so it says nothing yet either.
_OPEN_MARKER = re.compile(r"\[[\d\s,]*$")
NO_ANSWER = {
    "en": "No answer could be produced from the sources found; see them below.",
    "fr": "Aucune réponse n'a pu être produite à partir des sources trouvées ; "
    "consultez-les ci-dessous.",
}
RETRY = {
    "en": "Write the answer itself in words, as a full sentence, then its source marker.",
    "fr": "Écris la réponse elle-même en mots, en une phrase complète, puis sa source.",
}
_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 8}},
    "required": ["answer"],
}


def bare(text: str) -> bool:
    """Whether a reply says nothing but markers (or nothing at all)."""
    return not any(c.isalnum() for c in _MARKERS.sub("", text))


def bare_so_far(text: str) -> bool:
    """Whether a streamed prefix may still turn out bare (it ends in an open marker)."""
    return bare(_OPEN_MARKER.sub("", _MARKERS.sub("", text)))


class GroundedTurn:
    """The grounded steps of one chat turn, around the provider's stream."""

    def __init__(self, grounder: Grounder, provider: Provider, owner: str):
        self.grounder = grounder
        self.provider = provider
        self.owner = owner
        self.grounded: Grounded | None = None
        self.extra_usage: dict[str, int] = {}

    async def retrieve(self, collections: list[str], body: dict[str, Any]) -> Grounded:
        """Retrieve, select evidence and write the prompt (in a thread: it embeds)."""
        self.grounded = await anyio.to_thread.run_sync(
            self.grounder.ground, collections, body, self.owner
        )
        return self.grounded

    def generate(self) -> AsyncIterator[dict[str, Any]]:
        """The provider's chunks with bare-marker replies held back and recovered."""
        g = self.grounded
        assert g is not None
        if not g.relevant:  # nothing relevant: say so instead of letting the model invent
            return g.nothing_found_chunks()
        return self._guarded(self.provider.stream(g.body))

    async def _guarded(self, source: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict]:
        held, flowing = "", False
        async with aclosing(source) as chunks:
            async for chunk in chunks:
                choices = chunk.get("choices") or []
                delta = choices[0].get("delta") or {} if choices else {}
                if not flowing and delta.get("content"):
                    held += delta.pop("content")
                    if not bare_so_far(held):
                        delta["content"], held, flowing = held, "", True
                if choices and choices[0].get("finish_reason") and not flowing:
                    yield _content_chunk(await self._recover())
                    flowing = True
                if not choices and chunk.get("usage") is not None:
                    _add_usage(chunk["usage"], self.extra_usage)
                yield chunk

    async def _recover(self) -> str:
        """One constrained retry; else an honest statement in the question's language."""
        g = self.grounded
        assert g is not None
        body = {**g.body, "messages": [*g.body["messages"]]}
        last = dict(body["messages"][-1])
        last["content"] = f"{last['content']}\n\n{RETRY[g.language]}"
        body["messages"][-1] = last
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": _SCHEMA},
        }
        body.setdefault("max_tokens", 120)
        text = ""
        try:
            async with aclosing(self.provider.stream(body)) as chunks:
                async for chunk in chunks:
                    for choice in chunk.get("choices") or ():
                        text += (choice.get("delta") or {}).get("content") or ""
                    if not chunk.get("choices") and chunk.get("usage"):
                        _add_usage(self.extra_usage, chunk["usage"])
            answer = str(json.loads(text).get("answer", "")).strip()
        except (ValueError, AttributeError, CauserieError) as exc:
            log.info("constrained retry of a bare-marker reply failed: %s", exc)
            answer = ""
        return answer if answer and not bare(answer) else NO_ANSWER[g.language]

    async def check(self, content: str) -> dict[str, Any]:
        """Verify the answer's sentences against the sources; the checked grounding."""
        g = self.grounded
        assert g is not None
        if not g.relevant:
            return {"content": content, "citations": [], "sources": []}
        return await anyio.to_thread.run_sync(self.grounder.check, g, content)


def _content_chunk(text: str) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }


def _add_usage(total: dict[str, Any], more: dict[str, Any]) -> None:
    """Add a usage's token counts into another (the retry is billed with the turn)."""
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if isinstance(more.get(key), int):
            total[key] = int(total.get(key) or 0) + more[key]
