"""The `causerie` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from causerie.settings import Settings, load_settings


def _settings(config: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, **overrides)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None


@click.group()
@click.version_option(package_name="causerie")
def main() -> None:
    """Causerie: a self-hosted ChatGPT with an OpenAI-compatible API."""


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8000).")
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def serve(host: str | None, port: int | None, config: Path | None, data_dir: Path | None) -> None:
    """Start the server (web UI at /, OpenAI API at /v1)."""
    import uvicorn

    from causerie.app import create_app

    settings = _settings(config, host=host, port=port, data_dir=data_dir)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app = create_app(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Causerie on http://{settings.host}:{settings.port} (data in {settings.data_dir})",
        err=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def models(config: Path | None, data_dir: Path | None) -> None:
    """List the configured models and whether their files are in place."""
    from causerie.modelfiles import describe_source

    settings = _settings(config, data_dir=data_dir)
    default = settings.default_model or (settings.models[0].name if settings.models else None)
    for model in settings.models:
        mark = "*" if model.name == default else " "
        source, state = describe_source(model, settings.model_cache_dir)
        click.echo(f"{mark} {model.name}\t{model.provider}\t{source}\t{state}")
    if not settings.models:
        click.echo("no models configured", err=True)
        sys.exit(1)
