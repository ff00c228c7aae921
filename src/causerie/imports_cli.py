"""`causerie import chatgpt PATH`: another product's export into Causerie, with progress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from causerie.errors import CauserieError


@click.group("import")
def import_group() -> None:
    """Import conversations exported from another product."""


@import_group.command("chatgpt")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--user", "user", help="The account to import into (default: the local user).")
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def chatgpt(path: Path, user: str | None, config: Path | None, data_dir: Path | None) -> None:
    """A ChatGPT data export: its ZIP or unzipped folder (old or sharded layout)."""
    from causerie.cli import _settings
    from causerie.services.imports import ImportService
    from causerie.store.db import Database, make_engine

    settings = _settings(config, data_dir=data_dir)
    db = Database(make_engine(settings.db_url))
    try:
        db.prepare()
        owner = _owner(db, user)
        with click.progressbar(length=1, label="importing", file=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            summary = ImportService(db).import_chatgpt(path, owner, progress)
    except CauserieError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.engine.dispose()
    _report(summary)
    if summary.errors:
        raise SystemExit(1)


@import_group.command("causerie")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--user", "user", help="The account to import into (default: the local user).")
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def causerie(path: Path, user: str | None, config: Path | None, data_dir: Path | None) -> None:
    """A `causerie export` ZIP from this or another Causerie."""
    from causerie.services.imports import ImportService

    with _database(config, data_dir) as db:
        summary = ImportService(db).import_causerie(path, _owner(db, user))
    _report(summary)
    if summary.errors:
        raise SystemExit(1)


@import_group.command("openwebui")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--user", "user", help="The account to import into (default: the local user).")
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def openwebui(path: Path, user: str | None, config: Path | None, data_dir: Path | None) -> None:
    """An Open WebUI chat export (the JSON of Settings → Chats → Export)."""
    from causerie.services.imports import ImportService

    with _database(config, data_dir) as db:
        summary = ImportService(db).import_openwebui(path, _owner(db, user))
    _report(summary)
    if summary.errors:
        raise SystemExit(1)


@click.command("export")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), required=True, help="ZIP to write."
)
@click.option("--user", "user", help="The account to export (default: the local user).")
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def export(output: Path, user: str | None, config: Path | None, data_dir: Path | None) -> None:
    """A user's conversations, every branch, as a ZIP (docs/export-format.md)."""
    from causerie.services.imports.causerie_format import export_user

    with _database(config, data_dir) as db:
        count = export_user(db, _owner(db, user), output)
    click.echo(f"exported {count} conversation(s) to {output}", err=True)


@contextmanager
def _database(config: Path | None, data_dir: Path | None) -> Iterator:
    """The configured database, migrated; its errors become the command's message."""
    from causerie.cli import _settings
    from causerie.store.db import Database, make_engine

    db = Database(make_engine(_settings(config, data_dir=data_dir).db_url))
    try:
        db.prepare()
        yield db
    except CauserieError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.engine.dispose()


def _owner(db, name: str | None) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from causerie.store.models import LOCAL_USER_ID, User

    if name is None:
        return LOCAL_USER_ID
    with db.session() as s:
        uid = s.execute(select(User.id).where(User.name == name)).scalar_one_or_none()
    if uid is None:
        raise click.ClickException(f"no user named '{name}'")
    return uid


def _report(summary) -> None:  # type: ignore[no-untyped-def]
    echo = lambda text: click.echo(text, err=True)  # noqa: E731
    echo(
        f"imported: {summary.conversations_added} new conversation(s), "
        f"{summary.conversations_updated} updated, {summary.messages_added} message(s); "
        f"{summary.unchanged} already imported"
    )
    for reason, n in sorted(summary.skipped.items()):
        echo(f"skipped: {n} entr{'y' if n == 1 else 'ies'}: {reason}")
    for kind, n in sorted(summary.not_shown.items()):
        echo(f"not shown as turns: {n} {kind} message(s)")
    for error in summary.errors:
        echo(f"error: {error}")
