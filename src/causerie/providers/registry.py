"""Provider factories, found through the `causerie.providers` entry-point group.

Built-in providers register exactly as a third-party plugin would: an entry point
named after the `provider` value in a model's config, pointing at a factory
`(ModelConfig, Settings) -> Provider`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from causerie.providers.base import Provider
from causerie.settings import ModelConfig, Settings

Factory = Callable[[ModelConfig, Settings], Provider]
GROUP = "causerie.providers"


def available_factories() -> dict[str, Factory]:
    """Every provider factory installed, by name."""
    return {ep.name: ep.load() for ep in entry_points(group=GROUP)}


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One provider per configured model, keyed by the model's public name."""
    factories = available_factories()
    providers: dict[str, Provider] = {}
    for model in settings.models:
        factory = factories.get(model.provider)
        if factory is None:
            known = ", ".join(sorted(factories)) or "none"
            raise ValueError(
                f"model {model.name!r}: unknown provider {model.provider!r} (installed: {known})"
            )
        providers[model.name] = factory(model, settings)
    return providers
