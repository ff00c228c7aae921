"""Tool calls a model wrote as plain JSON text, turned into OpenAI `tool_calls`.

Small models offered tools often answer with the call as a JSON object, fenced or not,
instead of their template's markers, and llama.cpp's parser then hands it over as
ordinary content. While a reply may still be such a call its text is held back; at the
end it becomes a `tool_calls` delta (finish reason `tool_calls`) or is released as text.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

_FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_OPENERS = ("{", "[", "<tool_call>")


def offered_tools(body: dict[str, Any]) -> set[str]:
    """Names of the functions a request lets the model call."""
    if body.get("tool_choice") == "none":
        return set()
    return {t["function"]["name"] for t in body.get("tools") or () if "function" in t}


def could_be_call(text: str) -> bool:
    """True while the reply so far may still turn out to be a tool call written as JSON."""
    s = text.lstrip()
    if any(s.startswith(o) or o.startswith(s) for o in _OPENERS):
        return True
    if not s.startswith("```"):
        return "```".startswith(s)
    rest = s[3:]
    if "json".startswith(rest):
        return True
    rest = rest.removeprefix("json").lstrip()
    return rest == "" or rest[0] in "{["


def parse_calls(text: str, names: set[str]) -> list[dict[str, Any]] | None:
    """OpenAI tool calls if the whole text is one or more calls of offered tools."""
    s = text.strip()
    if fenced := _FENCED.match(s):
        s = fenced.group(1)
    calls = []
    for payload in _TAGGED.findall(s) or [s]:
        try:
            value = json.loads(payload)
        except ValueError:
            return None
        for item in value if isinstance(value, list) else [value]:
            call = _call(item, names)
            if call is None:
                return None
            calls.append(call)
    return calls or None


def _call(item: Any, names: set[str]) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    fn = item["function"] if isinstance(item.get("function"), dict) else item
    name = fn.get("name")
    args = fn.get("arguments", fn.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return None
    if name not in names or not isinstance(args, dict):
        return None
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)},
    }


async def recover_tool_calls(
    chunks: AsyncIterator[dict[str, Any]], names: set[str]
) -> AsyncIterator[dict[str, Any]]:
    """Pass engine chunks on, turning a reply that is only a JSON tool call into tool_calls."""
    held, holding = "", True
    async with aclosing(chunks) as source:
        async for chunk in source:
            choices = chunk.get("choices")
            if not holding or not choices:
                yield chunk
                continue
            choice = choices[0]
            delta = choice.setdefault("delta", {})
            if delta.get("tool_calls"):  # the engine parsed the call itself
                holding = False
                if held:
                    yield _with_delta(chunk, {"content": held})
                yield chunk
                continue
            if text := delta.pop("content", None):
                held += text
                if not could_be_call(held):
                    delta["content"], held, holding = held, "", False
            if choice.get("finish_reason") and holding and held:
                calls = parse_calls(held, names)
                if calls is None:
                    yield _with_delta(chunk, {"content": held})
                else:
                    parts = [{"index": i, **c} for i, c in enumerate(calls)]
                    yield _with_delta(chunk, {"tool_calls": parts})
                    choice["finish_reason"] = "tool_calls"
            if delta or choice.get("finish_reason"):
                yield chunk


def _with_delta(template: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A chunk like template (same fields) carrying only this delta."""
    choice = {"index": 0, "delta": delta, "finish_reason": None}
    return {**{k: v for k, v in template.items() if k != "choices"}, "choices": [choice]}
