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


@db_group.command()
@click.option(
    "--to", "target_url", required=True, help="An empty database, e.g. postgresql+psycopg://..."
)
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def copy(target_url: str, config: Path | None, data_dir: Path | None) -> None:
    """Copy the configured database (every table, vectors included) into another one."""
    from sqlalchemy.exc import SQLAlchemyError

    from causerie.cli import _settings
    from causerie.errors import CauserieError
    from causerie.store.copy import copy_database, row_counts
    from causerie.store.db import Database, make_engine

    settings = _settings(config, data_dir=data_dir)
    source, target = Database(make_engine(settings.db_url)), Database(make_engine(target_url))
    try:
        source.prepare()
        target.prepare()
        counts = row_counts(source.engine)
        with click.progressbar(length=max(sum(counts.values()), 1), label="copying") as bar:
            copy_database(source.engine, target.engine, counts, bar.update)
    except CauserieError as exc:
        raise click.ClickException(exc.message) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot copy the database: {exc.__cause__ or exc}") from None
    finally:
        source.engine.dispose()
        target.engine.dispose()
    rows = sum(counts.values())
    click.echo(f"copied {rows} rows in {len(counts)} tables; every count checked", err=True)
