"""The grounded turn: retrieve -> select evidence -> prompt -> generate -> check -> shape.

One pipeline for /v1/chat/completions and conversation turns (both go through
CompletionService.stream; a conversation turn is a typed `Turn`). Evidence comes from
sources behind one interface (knowledge/evidence.py: the user's collections, the web),
numbered together. Its steps are typed: `Ask` to every source, their `Found` passages,
`Grounded` (the evidence and the rewritten request, knowledge/grounding.py), the
provider chunks, then the checked grounding (content with verified markers, citations,
sources), shaped onto the first and last chunks (or the whole message) here.

A reply that is empty or only markers ("[1]", "[1] [2]") never reaches the client:
such a prefix is held back; if the model ends with nothing else, the turn asks once
more under a JSON schema that requires words, and failing that says plainly, in the
question's language, that no answer could be produced.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

import anyio

from causerie.errors import CauserieError
from causerie.knowledge.citations import own_up
from causerie.knowledge.evidence import EvidenceSource
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
    "en": "Write the answer itself in words, in one short sentence, and the number of its source.",
    "fr": "Écris la réponse elle-même en mots, en une phrase courte, et le numéro de sa source.",
}
# The answer's length is bounded by the schema, not only by max_tokens: cut off by
# max_tokens, the JSON string never closed and a right answer was lost (3 of the public
# set's bare replies). The source comes apart so the model cannot answer with it alone.
_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 8, "maxLength": 300},
        "source": {"type": "integer", "minimum": 1},
    },
    "required": ["answer", "source"],
}
RETRY_TOKENS = 160  # 300 characters of French and the JSON around them


def bare(text: str) -> bool:
    """Whether a reply says nothing but markers (or nothing at all)."""
    return not any(c.isalnum() for c in _MARKERS.sub("", text))


def _with_marker(reply: dict[str, Any], sources: int) -> str:
    """The retry's answer, ending with the marker of the source it names (when real)."""
    answer = str(reply.get("answer", "")).strip()
    n = reply.get("source")
    if not answer or _MARKERS.search(answer) or not isinstance(n, int) or not 1 <= n <= sources:
        return answer
    stop = answer[-1] if answer[-1] in ".!?" else ""
    return f"{answer.removesuffix(stop).rstrip()} [{n}]{stop or '.'}"


def bare_so_far(text: str) -> bool:
    """Whether a streamed prefix may still turn out bare (it ends in an open marker)."""
    return bare(_OPEN_MARKER.sub("", _MARKERS.sub("", text)))


class GroundedTurn:
    """The grounded steps of one chat turn, around the provider's stream."""

    def __init__(self, grounder: Grounder, provider: Provider, owner: str, web: bool = False):
        self.grounder = grounder
        self.provider = provider
        self.owner = owner
        self.web = web  # asked with web_search_options: OpenAI's annotations too
        self.grounded: Grounded | None = None
        self.extra_usage: dict[str, int] = {}

    async def retrieve(self, evidence: Sequence[EvidenceSource], body: dict[str, Any]) -> Grounded:
        """Gather evidence, select it and write the prompt (in a thread: it embeds, fetches)."""
        self.grounded = await anyio.to_thread.run_sync(
            self.grounder.ground_from, evidence, body, self.owner
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
        body["max_tokens"] = max(body.get("max_tokens") or 0, RETRY_TOKENS)
        text = ""
        try:
            async with aclosing(self.provider.stream(body)) as chunks:
                async for chunk in chunks:
                    for choice in chunk.get("choices") or ():
                        text += (choice.get("delta") or {}).get("content") or ""
                    if not chunk.get("choices") and chunk.get("usage"):
                        _add_usage(self.extra_usage, chunk["usage"])
            answer = _with_marker(json.loads(text), len(g.sources))
        except (ValueError, AttributeError, CauserieError) as exc:
            log.info("constrained retry of a bare-marker reply failed: %s", exc)
            answer = ""
        return answer if answer and not bare(answer) else NO_ANSWER[g.language]

    async def check(self, content: str) -> dict[str, Any]:
        """Verify the answer's sentences against the sources; the checked grounding."""
        g = self.grounded
        assert g is not None
        if not g.relevant:
            result: dict[str, Any] = {"content": content, "citations": [], "sources": []}
        else:
            result = await anyio.to_thread.run_sync(self.grounder.check, g, content)
            if content not in NO_ANSWER.values():  # our own statement claims nothing
                result = own_up(result, g.language)
        if g.web is not None:
            result["web"] = g.web  # extension: pages read and those that could not be
        return result

    def shape_first(self, chunk: dict[str, Any]) -> None:
        """The first chunk carries the numbered sources (extension)."""
        if self.grounded is not None:
            chunk["sources"] = self.grounded.sources_json()

    async def shape_last(self, chunk: dict[str, Any], content: str) -> dict[str, Any]:
        """The finishing chunk carries the checked grounding and, for the web, annotations."""
        grounding = await self.check(content)
        chunk["grounding"] = grounding  # extension
        if self.web:  # OpenAI's field, indexing the content streamed
            delta = chunk["choices"][0].setdefault("delta", {})
            delta["annotations"] = url_citations(content, grounding)
        return grounding


def grounded_message(grounding: dict[str, Any], web: bool) -> dict[str, Any]:
    """A whole (non-streamed) message's fields from its checked grounding."""
    fields = {
        "content": grounding["content"],  # with the verified markers
        "sources": grounding["sources"],  # extension
        "citations": grounding["citations"],  # extension: one verdict per sentence
    }
    if web:
        fields["annotations"] = url_citations(grounding["content"], grounding)
        fields["web_search"] = grounding.get("web")  # extension: pages read and unread
    return fields


_MARKS = r"(?:\s*\[\s*\d+(?:\s*,\s*\d+)*\s*\])*"
# A sentence's markers come before or after its full stop ("pupils [1]." or "pupils. [1]").
_CLOSING = re.compile(f"{_MARKS}[.!?…:;]?{_MARKS}")


def url_citations(content: str, grounding: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenAI's url_citation annotations: each supported sentence citing a web page."""
    return [
        {
            "type": "url_citation",
            "url_citation": {
                "start_index": s,
                "end_index": e,
                "url": p["url"],
                "title": p["document"],
            },
        }
        for s, e, p in cited_spans(content, grounding)
        if p.get("url")
    ]


def cited_spans(content: str, grounding: dict[str, Any]) -> list[tuple[int, int, dict[str, Any]]]:
    """(start, end, source) of each sentence the checker found supported by its source.

    Spans index `content` (the streamed text or the checked one) and cover the sentence
    with its markers; a sentence the checker found but content does not hold is skipped.
    """
    sources = {s["index"]: s for s in grounding.get("sources") or ()}
    out, at = [], 0
    for cite in grounding.get("citations") or ():
        source = sources.get(cite.get("source"))
        if cite.get("status") != "supported" or source is None:
            continue
        core = cite["sentence"].rstrip(".!?…:;").strip()
        start = content.find(core, at) if core else -1
        if start < 0:
            continue
        end = start + len(core)
        closing = _CLOSING.match(content, end)
        end = closing.end() if closing else end
        at = end
        out.append((start, end, source))
    return out


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
