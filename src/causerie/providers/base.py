"""The provider interface every model backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Capabilities:
    """What a provider's model can do beyond plain chat."""

    tools: bool = False
    json_schema: bool = False
    embeddings: bool = False


@runtime_checkable
class Provider(Protocol):
    """A chat model backend.

    `stream` takes an OpenAI chat request body (model already resolved) and yields
    OpenAI `chat.completion.chunk` dicts, ending with a usage chunk (`choices: []`).
    Closing the iterator early must stop the generation.
    """

    name: str
    capabilities: Capabilities

    @property
    def ready(self) -> bool: ...

    @property
    def context_size(self) -> int | None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...
