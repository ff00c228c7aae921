"""`causerie db`: the database of a deployment, for those who migrate explicitly."""

from __future__ import annotations

from pathlib import Path

import click


@click.group(name="db")
def db_group() -> None:
    """Manage the database (schema upgrades)."""


@db_group.command()
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def upgrade(config: Path | None, data_dir: Path | None) -> None:
    """Migrate the configured database to the newest schema (what `serve` does at start)."""
    from sqlalchemy.exc import SQLAlchemyError

    from causerie.cli import _settings  # the CLI's error reporting for bad configuration
    from causerie.store.db import make_engine, migrate, revision

    settings = _settings(config, data_dir=data_dir)
    engine = make_engine(settings.db_url)
    try:
        before = revision(engine)
        migrate(engine)
        after = revision(engine)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot upgrade the database: {exc.__cause__ or exc}") from None
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"database already at {after}", err=True)
    else:
        click.echo(f"database upgraded from {before or 'empty'} to {after}", err=True)
