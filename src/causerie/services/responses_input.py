"""A Responses API request, translated into the chat request Causerie already knows how to run.

Everything the translation cannot honour is refused with an error naming it: a client must
never believe a tool, a file or an option was used when it was dropped.
"""

from __future__ import annotations

import uuid
from typing import Any

from causerie.errors import InvalidRequest
from causerie.protocol_responses import CreateResponse
from causerie.services.responses_tools import BUILTIN_TYPES, INCLUDES

_TEXT_PARTS = {"input_text", "output_text", "text"}
# Output items a client may send back as input (keeping its own history): what they found
# is in the assistant message after them, so they add nothing to the model's prompt.
_SEARCH_ITEMS = {"file_search_call", "web_search_call"}


def item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def check_supported(req: CreateResponse) -> None:
    """Refuse the options Causerie does not implement, naming each."""
    if req.background:
        raise InvalidRequest("background responses are not supported.", param="background")
    if req.conversation is not None:
        raise InvalidRequest(
            "conversation is not supported; use previous_response_id.", param="conversation"
        )
    if req.prompt is not None:
        raise InvalidRequest("Prompt templates (prompt) are not supported.", param="prompt")
    if req.truncation == "auto":
        raise InvalidRequest("truncation 'auto' is not supported.", param="truncation")
    if req.reasoning and any(v is not None for v in req.reasoning.values()):
        raise InvalidRequest("reasoning options are not supported.", param="reasoning")
    if req.max_tool_calls is not None:
        raise InvalidRequest("max_tool_calls is not supported.", param="max_tool_calls")
    if req.top_logprobs:
        raise InvalidRequest("top_logprobs is not supported.", param="top_logprobs")
    for name in req.include or ():
        if name not in INCLUDES:
            raise InvalidRequest(f"include '{name}' is not supported.", param="include")


def normalise_input(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as stored and listed by /input_items: each with a type and an id."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    items = []
    for raw in value:
        item = dict(raw)
        kind = item.setdefault("type", "message")
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                item["content"] = [{"type": "input_text", "text": content}]
            item.setdefault("id", item_id("msg"))
        elif kind in ("function_call", "function_call_output"):
            item.setdefault("id", item_id("fc" if kind == "function_call" else "fco"))
        elif kind in _SEARCH_ITEMS:
            item.setdefault("id", item_id("fs" if kind == "file_search_call" else "ws"))
        items.append(item)
    return items


def chat_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages for input items; consecutive function calls become one assistant turn."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        kind = item.get("type")
        param = f"input[{i}]"
        if kind == "message":
            out.append(_message(item, param))
        elif kind == "function_call":
            call = _function_call(item, param)
            last = out[-1] if out else None
            if last and last["role"] == "assistant" and last.get("tool_calls") is not None:
                last["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            out.append(_call_output(item, param))
        elif kind not in _SEARCH_ITEMS:
            raise InvalidRequest(f"Input items of type '{kind}' are not supported.", param=param)
    return out


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise InvalidRequest(f"Unknown message role '{role}'.", param=f"{param}.role")
    texts = []
    for j, part in enumerate(item.get("content") or ()):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        elif kind in _TEXT_PARTS and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            what = "Image input" if kind == "input_image" else f"Content parts of type '{kind}'"
            raise InvalidRequest(
                f"{what} is not supported by this model (text only).",
                param=f"{param}.content[{j}]",
            )
    return {"role": "system" if role == "developer" else role, "content": "\n".join(texts)}


def _function_call(item: dict[str, Any], param: str) -> dict[str, Any]:
    for key in ("call_id", "name", "arguments"):
        if not isinstance(item.get(key), str):
            raise InvalidRequest(f"A function_call item needs '{key}'.", param=f"{param}.{key}")
    return {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": item["arguments"]},
    }


def _call_output(item: dict[str, Any], param: str) -> dict[str, Any]:
    if not isinstance(item.get("call_id"), str):
        raise InvalidRequest("A function_call_output item needs 'call_id'.", param=param)
    output = item.get("output")
    if isinstance(output, list):  # content parts: only text can reach a text model
        output = "\n".join(
            p.get("text", "")
            for p in output
            if isinstance(p, dict) and p.get("type") in _TEXT_PARTS
        )
    if not isinstance(output, str):
        raise InvalidRequest("A function_call_output item needs 'output'.", param=f"{param}.output")
    return {"role": "tool", "tool_call_id": item["call_id"], "content": output}


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Function tools as chat tools; built-in tools Causerie lacks are refused by name.

    file_search and web_search are not chat tools: responses_tools.py turns them into the
    grounded request's fields.
    """
    out = []
    for i, tool in enumerate(tools or ()):
        if tool.get("type") in BUILTIN_TYPES:
            continue
        if tool.get("type") != "function":
            raise InvalidRequest(
                f"The built-in tool '{tool.get('type')}' is not supported; only function, "
                "file_search and web_search tools.",
                param=f"tools[{i}]",
            )
        if not isinstance(tool.get("name"), str):
            raise InvalidRequest("A function tool needs a name.", param=f"tools[{i}].name")
        fn = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object"}}
        if tool.get("description"):
            fn["description"] = tool["description"]
        out.append({"type": "function", "function": fn})
    return out or None


def chat_tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    if choice.get("type") in BUILTIN_TYPES:  # a given built-in tool always searches
        return None
    raise InvalidRequest(f"tool_choice {choice!r} is not supported.", param="tool_choice")


def chat_response_format(req: CreateResponse) -> dict[str, Any] | None:
    fmt = req.text.format if req.text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if not fmt.name or fmt.schema_ is None:
        raise InvalidRequest(
            "text.format of type 'json_schema' needs a name and a schema.", param="text.format"
        )
    return {"type": "json_schema", "json_schema": {"name": fmt.name, "schema": fmt.schema_}}
