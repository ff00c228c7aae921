"""The configured models and their providers, by public name."""

from __future__ import annotations

import asyncio
import logging
import time

from causerie.errors import ModelNotFound
from causerie.providers.base import Provider

log = logging.getLogger(__name__)


class ModelCatalog:
    """Public model names mapped to the providers that serve them."""

    def __init__(self, providers: dict[str, Provider], default: str | None = None):
        self._providers = providers
        self.default = default or next(iter(providers), None)
        self.created = int(time.time())
        self._tasks: list[asyncio.Task[None]] = []

    def names(self) -> list[str]:
        """Public model names, in configuration order."""
        return list(self._providers)

    def get(self, name: str) -> Provider:
        """The provider for a public model name."""
        try:
            return self._providers[name]
        except KeyError:
            raise ModelNotFound(
                f"The model '{name}' does not exist or you do not have access to it.",
                param="model",
            ) from None

    @property
    def ready(self) -> bool:
        """True when every model is loaded."""
        return all(p.ready for p in self._providers.values())

    def status(self) -> dict[str, bool]:
        """Readiness of each model."""
        return {name: p.ready for name, p in self._providers.items()}

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
