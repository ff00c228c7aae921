"""OpenAI wire format (names and field order as in the OpenAI spec). No logic here.

Extensions to the spec are marked `# extension`. Stream chunks are built as plain
dicts on the hot path (see services/completions.py) but follow the same shapes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from causerie.jsonsafe import BoundedBody


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatCompletionContentPartText(_Wire):
    type: Literal["text"]
    text: str


class ChatCompletionContentPartOther(_Wire):
    type: Literal["image_url", "input_audio", "file", "refusal"]


ContentPart = Annotated[
    ChatCompletionContentPartText | ChatCompletionContentPartOther, Field(discriminator="type")
]


class ChatCompletionMessageToolCallFunction(_Wire):
    name: str
    arguments: str


class ChatCompletionMessageToolCall(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: ChatCompletionMessageToolCallFunction


class ChatCompletionRequestMessage(_Wire):
    role: Literal["developer", "system", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    tool_call_id: str | None = None


class FunctionObject(_Wire):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatCompletionTool(_Wire):
    type: Literal["function"]
    function: FunctionObject


class ChatCompletionStreamOptions(_Wire):
    include_usage: bool | None = None


class ResponseFormatJsonSchemaSchema(_Wire):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: ResponseFormatJsonSchemaSchema | None = None


class WebSearchOptions(_Wire):
    user_location: dict[str, Any] | None = None
    search_context_size: Literal["low", "medium", "high"] | None = None


class CreateChatCompletionRequest(_Wire, BoundedBody):
    messages: list[ChatCompletionRequestMessage] = Field(min_length=1)
    model: str
    metadata: dict[str, str] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    user: str | None = None
    max_completion_tokens: int | None = Field(None, ge=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    store: bool | None = None
    stream: bool | None = False
    stop: str | list[str] | None = None
    logit_bias: dict[str, float] | None = Field(None, max_length=300)  # as OpenAI
    logprobs: bool | None = None
    max_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1, le=128)
    seed: int | None = None
    stream_options: ChatCompletionStreamOptions | None = None
    tools: list[ChatCompletionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    web_search_options: WebSearchOptions | None = None
    # Extension (llama.cpp): false disables reuse of the KV cache for this request.
    cache_prompt: bool | None = None
    # Extension (Causerie): answer from these knowledge collections (ids or names), with
    # numbered sources and checked citations; clients that do not know it never send it.
    collections: list[str] | None = Field(None, max_length=50)


class ChatCompletionResponseMessage(BaseModel):
    content: str | None
    refusal: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    role: Literal["assistant"] = "assistant"


class ChatCompletionChoice(BaseModel):
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
    index: int
    message: ChatCompletionResponseMessage
    logprobs: dict[str, Any] | None = None


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class CompletionUsage(BaseModel):
    completion_tokens: int
    prompt_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class CreateChatCompletionResponse(BaseModel):
    id: str
    choices: list[ChatCompletionChoice]
    created: int
    model: str
    system_fingerprint: str | None = None
    object: Literal["chat.completion"] = "chat.completion"
    usage: CompletionUsage


class Model(BaseModel):
    id: str
    created: int
    object: Literal["model"] = "model"
    owned_by: str
    type: Literal["chat", "embedding"] = "chat"  # extension (as Together AI's): what it serves


class ListModelsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class Error(BaseModel):
    code: str | None
    message: str
    param: str | None
    type: str


class ErrorResponse(BaseModel):
    error: Error
