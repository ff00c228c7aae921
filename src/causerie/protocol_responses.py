"""OpenAI Responses API wire format (names and field order as in the OpenAI spec). No logic.

Input items and tools stay loosely typed here: services/responses.py checks each one so that
an unsupported kind gets an error naming it, rather than a generic validation failure.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextResponseFormatConfiguration(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(None, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseTextParam(_Wire):
    format: TextResponseFormatConfiguration | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class CreateResponse(_Wire):
    metadata: dict[str, str] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    user: str | None = None
    previous_response_id: str | None = None
    model: str
    reasoning: dict[str, Any] | None = None
    background: bool | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    max_tool_calls: int | None = None
    text: ResponseTextParam | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    input: str | list[dict[str, Any]] = Field(min_length=1)
    include: list[str] | None = None
    parallel_tool_calls: bool | None = None
    store: bool | None = True
    instructions: str | None = None
    stream: bool | None = False
    conversation: str | dict[str, Any] | None = None
    top_logprobs: int | None = None


class ResponseItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeleteResponseResponse(BaseModel):  # the spec has no name for it; the SDK returns None
    id: str
    object: Literal["response"] = "response"
    deleted: bool = True
