"""Chat completions: validate a request, run it on its model, shape the chunks."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from causerie.errors import InvalidRequest
from causerie.knowledge.grounding import Documents
from causerie.protocol import CreateChatCompletionRequest
from causerie.providers.base import Provider
from causerie.services.grounded import GroundedTurn, grounded_message
from causerie.services.models import ModelCatalog
from causerie.services.toolcalls import offered_tools, recover_tool_calls
from causerie.store.models import LOCAL_USER_ID

if TYPE_CHECKING:
    from causerie.knowledge.evidence import EvidenceSource
    from causerie.knowledge.grounding import Grounded, Grounder

log = logging.getLogger(__name__)
# Told (user id, key id or None, model, usage) after each finished generation, on the event
# loop: it must not block (QuotaService.record only adds to an in-memory batch).
UsageHook = Callable[[str, "str | None", str, dict[str, Any]], None]

# Request fields handed to the engine unchanged when the client sets them.
_PASSTHROUGH = (
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tool_choice",
    "parallel_tool_calls",
    # llama.cpp extension: false makes the engine reprocess the whole prompt (benchmarks).
    "cache_prompt",
)


@dataclass
class Prepared:
    """A validated request, ready for its provider."""

    provider: Provider
    model: str
    body: dict[str, Any]
    include_usage: bool
    collections: list[str] | None = None  # extension: answer from these knowledge collections
    billed_to: tuple[str, str | None] | None = None  # (user id, key id) whose usage this is
    web_search: bool = False  # web_search_options: search the web for evidence too


@dataclass
class Outcome:
    """What a finished generation produced, for callers that store it."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    grounding: dict[str, Any] | None = None  # checked content, citations and sources
    # The evidence retrieved, known before the first chunk (the Responses API's search items).
    evidence: Grounded | None = None


class CompletionService:
    """Runs OpenAI chat requests on the configured models."""

    def __init__(
        self,
        catalog: ModelCatalog,
        max_messages: int,
        grounder: Grounder | None = None,
        on_usage: UsageHook | None = None,
        web: EvidenceSource | None = None,
        admit_web: Callable[[str, str | None], None] | None = None,
    ):
        self.catalog = catalog
        self.max_messages = max_messages
        self.grounder = grounder
        self.on_usage = on_usage
        self.web = web
        self.admit_web = admit_web  # RateLimited when a user or key has no web search left today

    def prepare(
        self, req: CreateChatCompletionRequest, billed_to: tuple[str, str | None] | None = None
    ) -> Prepared:
        """Check a request against the model and build the engine body."""
        provider = self.catalog.get(req.model)
        if req.n not in (None, 1):
            raise InvalidRequest("Only n=1 is supported.", param="n")
        if len(req.messages) > self.max_messages:
            raise InvalidRequest(
                f"Too many messages: {len(req.messages)} > {self.max_messages}.", param="messages"
            )
        if req.tools and not provider.capabilities.tools:
            raise InvalidRequest(f"Model '{req.model}' does not support tools.", param="tools")
        max_tokens = req.max_completion_tokens or req.max_tokens
        limit = provider.context_size
        if max_tokens is not None and limit is not None and max_tokens > limit:
            raise InvalidRequest(
                f"max_tokens is too large: {max_tokens}. This model supports at most "
                f"{limit} tokens of context.",
                param="max_tokens",
            )
        body: dict[str, Any] = {
            "messages": [_engine_message(i, m) for i, m in enumerate(req.messages)],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        fields = req.model_fields_set
        for name in _PASSTHROUGH:
            if name in fields and getattr(req, name) is not None:
                body[name] = getattr(req, name)
        if req.tools:
            body["tools"] = [t.model_dump(exclude_none=True) for t in req.tools]
        if req.response_format is not None and req.response_format.type != "text":
            body["response_format"] = _response_format(req)
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        collections = None
        if req.collections:
            if self.grounder is None:
                raise InvalidRequest("Knowledge collections are not enabled.", param="collections")
            # The requester's own collections only: another user's are not found.
            collections = self.grounder.resolve(req.collections, owner=_payer(billed_to))
        web = self._web_search(req)
        if web and self.admit_web is not None and billed_to is not None:
            self.admit_web(*billed_to)
        return Prepared(provider, req.model, body, include_usage, collections, billed_to, web)

    def _web_search(self, req: CreateChatCompletionRequest) -> bool:
        """Whether web_search_options asks for web search (refused when it is off)."""
        options = req.web_search_options
        if options is None:
            return False
        if self.web is None or self.grounder is None:
            raise InvalidRequest(
                "Web search is not enabled on this server (see [web_search] in the README).",
                param="web_search_options",
            )
        if options.user_location is not None:  # the engines we call take no location
            raise InvalidRequest(
                "web_search_options.user_location is not supported.",
                param="web_search_options.user_location",
            )
        return True

    async def stream(self, prep: Prepared, outcome: Outcome | None = None) -> AsyncIterator[dict]:
        """Yield OpenAI chunks with our id, creation time and public model name.

        Every chunk shares `id` and `created`; the first delta carries the role; the
        usage chunk is passed on only when the client asked, but always recorded.
        """
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        first = True
        outcome = outcome if outcome is not None else Outcome()
        turn = await self._ground(prep)
        if turn is not None:
            outcome.evidence = turn.grounded
        source = prep.provider.stream(prep.body) if turn is None else turn.generate()
        if names := offered_tools(prep.body):
            source = recover_tool_calls(source, names)
        async with aclosing(source) as chunks:
            async for chunk in chunks:
                chunk.pop("timings", None)
                chunk["id"] = cid
                chunk["created"] = created
                chunk["model"] = prep.model
                if choices := chunk.get("choices"):
                    delta = choices[0].setdefault("delta", {})
                    if first:
                        delta.setdefault("role", "assistant")
                        if turn is not None:
                            turn.shape_first(chunk)
                        first = False
                    _record(outcome, choices[0], delta)
                    if turn is not None and choices[0].get("finish_reason"):
                        outcome.grounding = await turn.shape_last(chunk, outcome.content)
                elif chunk.get("usage") is not None:
                    outcome.usage = chunk["usage"]
                    if not prep.include_usage:
                        continue
                yield chunk
        self._account(prep, outcome)

    async def complete(self, prep: Prepared) -> dict[str, Any]:
        """Run to the end and return a `chat.completion` object."""
        outcome = Outcome()
        cid, created = "", 0
        async for chunk in self.stream(prep, outcome):
            cid, created = chunk["id"], chunk["created"]
        # refusal is required (nullable) by OpenAI's schema: found by tests/test_fuzz.py.
        message: dict[str, Any] = {
            "role": "assistant",
            "content": outcome.content or None,
            "refusal": None,
        }
        if outcome.grounding is not None:
            message.update(grounded_message(outcome.grounding, prep.web_search))
        if outcome.tool_calls:
            message["tool_calls"] = outcome.tool_calls
        elif message["content"] is None:
            message["content"] = ""
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": prep.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": outcome.finish_reason or "stop",
                }
            ],
            "usage": outcome.usage or _zero_usage(),
        }

    def _account(self, prep: Prepared, outcome: Outcome) -> None:
        if self.on_usage is None or prep.billed_to is None or outcome.usage is None:
            return
        user_id, key_id = prep.billed_to
        usage = {**outcome.usage, "web_searches": 1} if prep.web_search else outcome.usage
        try:
            self.on_usage(user_id, key_id, prep.model, usage)
        except Exception:  # the reply was delivered; a lost usage row must not fail it
            log.exception("could not record usage of %s on %s", user_id, prep.model)

    async def _ground(self, prep: Prepared) -> GroundedTurn | None:
        if self.grounder is None:
            return None
        evidence: list[EvidenceSource] = []
        if prep.collections:
            evidence.append(Documents(self.grounder, prep.collections))
        if prep.web_search and self.web is not None:
            evidence.append(self.web)
        if not evidence:
            return None
        turn = GroundedTurn(self.grounder, prep.provider, _payer(prep.billed_to), prep.web_search)
        await turn.retrieve(evidence, prep.body)
        return turn


def _payer(billed_to: tuple[str, str | None] | None) -> str:
    return billed_to[0] if billed_to is not None else LOCAL_USER_ID


def _record(outcome: Outcome, choice: dict[str, Any], delta: dict[str, Any]) -> None:
    """Fold one delta into the outcome (content, tool-call fragments, finish)."""
    if text := delta.get("content"):
        outcome.content += text
    for part in delta.get("tool_calls") or ():
        index = part.get("index", 0)
        while len(outcome.tool_calls) <= index:
            outcome.tool_calls.append(
                {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
        call = outcome.tool_calls[index]
        call["id"] = part.get("id") or call["id"]
        fn = part.get("function") or {}
        call["function"]["name"] += fn.get("name") or ""
        call["function"]["arguments"] += fn.get("arguments") or ""
    if choice.get("finish_reason"):
        outcome.finish_reason = choice["finish_reason"]


# Only these reach the engine: unknown fields the wire model tolerates could hold values the
# engine cannot even parse (an integer beyond 64 bits made it fail: tests/test_fuzz.py).
_MESSAGE_FIELDS = {"role", "content", "name", "tool_call_id"}


def _engine_message(index: int, msg: Any) -> dict[str, Any]:
    out = msg.model_dump(exclude_none=True, by_alias=True, include=_MESSAGE_FIELDS)
    if msg.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": c.type,
                "function": {"name": c.function.name, "arguments": c.function.arguments},
            }
            for c in msg.tool_calls
        ]
    if out["role"] == "developer":  # chat templates know 'system', not the newer name
        out["role"] = "system"
    content = msg.content
    if isinstance(content, list):
        texts = []
        for part in content:
            if part.type != "text":
                raise InvalidRequest(
                    f"Content parts of type '{part.type}' are not supported by this model.",
                    param=f"messages.[{index}].content",
                )
            texts.append(part.text)
        out["content"] = "\n".join(texts)
    return out


def _response_format(req: CreateChatCompletionRequest) -> dict[str, Any]:
    fmt = req.response_format
    assert fmt is not None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise InvalidRequest(
            "response_format of type 'json_schema' needs json_schema.schema.",
            param="response_format",
        )
    return {
        "type": "json_schema",
        "json_schema": {"name": fmt.json_schema.name, "schema": fmt.json_schema.schema_},
    }


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
