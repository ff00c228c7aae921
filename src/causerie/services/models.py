"""The configured models and their providers, by public name."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from causerie.errors import InvalidRequest, ModelNotFound
from causerie.providers.base import Provider
from causerie.providers.routing import Routing

log = logging.getLogger(__name__)


class ModelCatalog:
    """Public model names mapped to the providers that serve them."""

    def __init__(
        self,
        providers: dict[str, Provider],
        default: str | None = None,
        routing: Routing | None = None,
        embedding_models: Sequence[str] = (),
    ):
        # providers: every configured model, started and closed here; routing: the public
        # names (models and aliases) over them, with fallback and circuit breakers.
        self._providers = providers
        self.routing = routing
        self._public: dict[str, Provider] = dict(routing.routes) if routing else providers
        self.default = default or next(iter(self._public), None)
        # Models served by /v1/embeddings only: listed, but nothing to chat with.
        self.embedding_models = [n for n in embedding_models if n not in self._public]
        self.created = int(time.time())
        self._tasks: list[asyncio.Task[None]] = []

    def names(self) -> list[str]:
        """Public model names, in configuration order."""
        return list(self._public)

    async def listing(self) -> list[str]:
        """Chat models (public names, then listed upstream models), then embedding models."""
        extra = await self.routing.upstream_names() if self.routing else []
        chat = self.names() + [n for n in extra if n not in self._public]
        return chat + [n for n in self.embedding_models if n not in chat]

    def find(self, name: str) -> Provider | None:
        """The chat provider for a public model name, if there is one."""
        return self.routing.resolve(name) if self.routing else self._providers.get(name)

    def get(self, name: str) -> Provider:
        """The chat provider for a public model name."""
        found = self._chat_or_embedding(name)
        if found is None:
            raise InvalidRequest(
                f"'{name}' is an embedding model: use it with /v1/embeddings, "
                "not for chat completions.",
                param="model",
                code="model_not_supported",
            )
        return found

    def kind(self, name: str) -> str:
        """'chat' or 'embedding' (raises ModelNotFound for an unknown name)."""
        return "chat" if self._chat_or_embedding(name) is not None else "embedding"

    def owned_by(self, name: str) -> str:
        """Who a public model belongs to, for /v1/models (embedding models: causerie)."""
        return getattr(self._chat_or_embedding(name), "owned_by", "causerie")

    def _chat_or_embedding(self, name: str) -> Provider | None:
        """The chat provider of a name, None for an embedding model, else ModelNotFound.

        Resolved once per call: a listed upstream name builds its route afresh each time.
        """
        found = self.find(name)
        if found is None and name not in self.embedding_models:
            raise ModelNotFound(
                f"The model '{name}' does not exist or you do not have access to it.",
                param="model",
            )
        return found

    def health(self) -> dict[str, dict]:
        """Circuit state and recent errors of every target."""
        return self.routing.health() if self.routing else {}

    @property
    def ready(self) -> bool:
        """True when every model is loaded."""
        return all(p.ready for p in self._providers.values())

    def status(self) -> dict[str, bool]:
        """Readiness of each model."""
        return {name: p.ready for name, p in self._providers.items()}

    def load_errors(self) -> dict[str, str]:
        """Why models failed to load, for those that did."""
        errors = {n: getattr(p, "load_error", None) for n, p in self._providers.items()}
        return {name: error for name, error in errors.items() if error}

    def start_loading(self) -> None:
        """Load every model in the background; /ready reports when they are."""
        for provider in self._providers.values():
            self._tasks.append(asyncio.create_task(self._load(provider)))

    async def _load(self, provider: Provider) -> None:
        try:
            await provider.start()
        except Exception:  # kept by the provider and reported on /ready and on use
            log.debug("load of %s failed", provider.name, exc_info=True)

    async def close(self) -> None:
        """Stop loading and release every model."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for provider in self._providers.values():
            await provider.close()
