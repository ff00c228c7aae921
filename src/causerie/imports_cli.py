"""`causerie import chatgpt PATH`: another product's export into Causerie, with progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from causerie.errors import CauserieError


@click.group("import")
def import_group() -> None:
    """Import conversations exported from another product."""


def _options(fn: Callable) -> Callable:
    """The options every import and export command takes."""
    fn = click.option("--data-dir", type=click.Path(path_type=Path), help="Database and files.")(fn)
    fn = click.option("--config", type=click.Path(path_type=Path), help="TOML settings file.")(fn)
    return click.option("--user", help="The account (default: the local user).")(fn)


@import_group.command("chatgpt")
@click.argument("path", type=click.Path(path_type=Path))
@_options
def chatgpt(path: Path, user: str | None, config: Path | None, data_dir: Path | None) -> None:
    """A ChatGPT data export: its ZIP or unzipped folder (old or sharded layout)."""
    _run_import(config, data_dir, user, lambda svc, who, tick: svc.import_chatgpt(path, who, tick))


@import_group.command("causerie")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--instance", is_flag=True, help="Restore a whole-instance export (every account).")
@_options
def causerie(
    path: Path, instance: bool, user: str | None, config: Path | None, data_dir: Path | None
) -> None:
    """A `causerie export` ZIP from this or another Causerie."""
    if instance and user:
        raise click.UsageError("--instance restores every account: give no --user")
    if instance:
        _run_import(config, data_dir, None, lambda svc, _who, _tick: svc.import_instance(path))
    else:
        _run_import(config, data_dir, user, lambda svc, who, _tick: svc.import_causerie(path, who))


@import_group.command("openwebui")
@click.argument("path", type=click.Path(path_type=Path))
@_options
def openwebui(path: Path, user: str | None, config: Path | None, data_dir: Path | None) -> None:
    """An Open WebUI chat export (the JSON of Settings → Chats → Export)."""
    _run_import(config, data_dir, user, lambda svc, who, _tick: svc.import_openwebui(path, who))


# run(service, owner, progress) -> Summary
Run = Callable[[Any, str, Callable[[int, int], None]], Any]


def _run_import(config: Path | None, data_dir: Path | None, user: str | None, run: Run) -> None:
    """One import into the configured database, with a progress bar and a summary."""
    from causerie.knowledge.embeddings import make_embedder
    from causerie.knowledge.service import KnowledgeService
    from causerie.services.imports import ImportService

    with _database(config, data_dir) as (db, settings):
        knowledge = settings.knowledge
        embedder = make_embedder(knowledge.embedder, knowledge.embed_threads)  # loads if used
        service = ImportService(db, KnowledgeService(db, embedder))
        owner = _owner(db, user)
        with click.progressbar(length=1, label="importing", file=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            summary = run(service, owner, progress)
    _report(summary)
    if summary.errors:
        raise SystemExit(1)


@click.command("export")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), required=True, help="ZIP to write."
)
@click.option("--instance", is_flag=True, help="Every account and its data (an admin backup).")
@_options
def export(
    output: Path, instance: bool, user: str | None, config: Path | None, data_dir: Path | None
) -> None:
    """A user's data (conversations, collections, documents, account) as a ZIP.

    The format is described in docs/export-format.md.
    """
    from causerie.services.imports.causerie_format import export_instance, export_user

    if instance and user:
        raise click.UsageError("--instance exports every account: give no --user")
    with _database(config, data_dir) as (db, _settings):
        counts = (
            export_instance(db, output) if instance else export_user(db, _owner(db, user), output)
        )
    what = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    click.echo(f"exported {what} to {output}", err=True)


@contextmanager
def _database(config: Path | None, data_dir: Path | None) -> Iterator:
    """The configured database, migrated, and the settings; errors become the message."""
    from causerie.cli import _settings
    from causerie.store.db import Database, make_engine

    settings = _settings(config, data_dir=data_dir)
    db = Database(make_engine(settings.db_url))
    try:
        db.prepare()
        yield db, settings
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
    for kind, n in sorted(summary.restored.items()):
        echo(f"restored: {n} {kind}")
    for error in summary.errors:
        echo(f"error: {error}")
