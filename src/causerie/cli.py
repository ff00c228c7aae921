"""The `causerie` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from causerie.accounts_cli import refusal, users
from causerie.db_cli import db_group
from causerie.imports_cli import export, import_group
from causerie.knowledge import cli as knowledge_cli
from causerie.settings import Settings, load_settings


def _settings(config: Path | None, **overrides: object) -> Settings:
    where = f" ({config})" if config else ""
    try:
        return load_settings(config, **overrides)
    except ValidationError as exc:
        # One line per problem, named by its place in the file; no pydantic internals.
        problems = "\n".join(f"  {_problem(e)}" for e in exc.errors())
        raise click.ClickException(f"invalid configuration{where}:\n{problems}") from None
    except (FileNotFoundError, ValueError) as exc:  # a TOML syntax error is a ValueError
        raise click.ClickException(f"invalid configuration{where}: {exc}") from None


def _problem(error: Any) -> str:
    place = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{place}: {message}" if place else message


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
    from causerie.server import protocol_for

    settings = _settings(config, host=host, port=port, data_dir=data_dir)
    if reason := refusal(settings):
        raise click.ClickException(reason)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every upstream request at INFO: one line per chat turn, on the hot path.
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
        http=protocol_for(settings),  # bounded request heads, slowloris deadlines
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
@click.option("--no-probe", is_flag=True, help="Do not contact remote model servers.")
@click.option("--server", help="A running Causerie (URL): show its circuit state per target.")
def models(config: Path | None, data_dir: Path | None, no_probe: bool, server: str | None) -> None:
    """List models, aliases and their targets, with file state or upstream health."""
    import asyncio

    import httpx

    from causerie.inventory import inventory

    settings = _settings(config, data_dir=data_dir)
    if not settings.models:
        click.echo("no models configured", err=True)
        sys.exit(1)
    try:
        rows = asyncio.run(inventory(settings, probe=not no_probe, server=server))
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot read {server}: {exc}") from None
    for row in rows:
        mark = "*" if row.default else " "
        hidden = "" if row.public else "\t(alias target only)"
        click.echo(f"{mark} {row.name}\t{row.kind}\t{row.source}\t{row.state}{hidden}")


main.add_command(knowledge_cli.ingest)
main.add_command(users)
main.add_command(knowledge_cli.eval_group)
main.add_command(import_group)
main.add_command(export)
main.add_command(db_group)
