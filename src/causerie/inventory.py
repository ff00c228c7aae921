"""What `causerie models` prints: every model and alias, its targets and their health."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from causerie.errors import CauserieError
from causerie.modelfiles import describe_source
from causerie.providers.registry import available_factories
from causerie.settings import ModelConfig, Settings

PROBE_SECONDS = 5.0


@dataclass
class Row:
    """One line of the listing."""

    name: str
    kind: str  # the provider, or 'alias'
    source: str  # a file, an upstream URL, or an alias's chain
    state: str
    default: bool = False
    public: bool = True


async def inventory(
    settings: Settings, *, probe: bool = True, server: str | None = None
) -> list[Row]:
    """Rows for every model (file state or a live probe) and alias (its chain)."""
    running = await _server_health(server, settings) if server else None
    public = [m.name for m in settings.models if m.public] + [a.name for a in settings.aliases]
    default = settings.default_model or (public[0] if public else None)
    rows = await asyncio.gather(*(_model_row(m, settings, probe, running) for m in settings.models))
    for row in rows:
        row.default = row.name == default
    for alias in settings.aliases:
        chain = " -> ".join(alias.targets)
        state = _alias_state(alias.targets, running) if running is not None else "-"
        rows.append(Row(alias.name, "alias", chain, state, alias.name == default))
    return rows


async def _model_row(
    model: ModelConfig, settings: Settings, probe: bool, running: dict[str, Any] | None
) -> Row:
    state = _circuit(running.get(model.name)) if running is not None else "-"
    if model.provider == "embedded":
        source, file_state = describe_source(model, settings.model_cache_dir)
        state = file_state if running is None else state
    else:
        source = f"{model.base_url or '(preset URL)'} [{model.upstream_model or model.name}]"
        if running is None and probe:
            source, state = await _probe(model, settings)
    return Row(model.name, model.provider, source, state, public=model.public)


async def _probe(model: ModelConfig, settings: Settings) -> tuple[str, str]:
    """Ask the upstream for its model list: reachable, key accepted, how fast."""
    factory = available_factories().get(model.provider)
    if factory is None:
        return "?", f"unknown provider {model.provider!r}"
    try:
        provider = factory(model, settings)
    except ValueError as exc:
        return "?", f"misconfigured: {exc}"
    source = f"{getattr(provider, 'base_url', '?')} [{getattr(provider, 'upstream_model', '?')}]"
    if not hasattr(provider, "probe"):
        return source, "-"
    await provider.start()
    try:
        seconds = await asyncio.wait_for(provider.probe(), PROBE_SECONDS)
        return source, f"up ({seconds * 1000:.0f} ms)"
    except CauserieError as exc:
        return source, f"down: {exc.message}"
    except TimeoutError:
        return source, "down: no answer in time"
    finally:
        await provider.close()


async def _server_health(server: str, settings: Settings) -> dict[str, Any]:
    url = server.rstrip("/") + "/health/targets"
    # A server with accounts shows its targets to an admin or to its metrics token.
    token = settings.metrics_token
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
    async with httpx.AsyncClient(timeout=PROBE_SECONDS, headers=headers) as client:
        response = await client.get(url)
        if response.status_code in (401, 403):
            raise httpx.HTTPError(
                f"{response.status_code}: set metrics_token in the config (as on the server) "
                "to read a server that has accounts"
            )
        response.raise_for_status()
        return response.json()["targets"]


def _circuit(health: dict[str, Any] | None) -> str:
    if health is None:
        return "unknown to the server"
    state = {"closed": "up", "open": "down", "half_open": "probing"}.get(health["state"], "?")
    if health["state"] == "open":
        state += f" (retry in {health['retry_in']:.0f} s)"
    text = f"{state}, {health['requests']} requests, {health['errors']} errors"
    if health.get("last_error") and health["state"] != "closed":
        text += f"; last: {health['last_error']}"
    return text


def _alias_state(targets: list[str], running: dict[str, Any]) -> str:
    up = [t for t in targets if (running.get(t) or {}).get("state") == "closed"]
    return f"{len(up)}/{len(targets)} targets up" + (f", answering: {up[0]}" if up else "")
