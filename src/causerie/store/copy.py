"""Copy every table of one database into another, empty one (SQLite -> PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from sqlalchemy import Engine, Table, func, insert, select, text

# Imported for their tables: every table of Base.metadata is copied.
import causerie.knowledge.tables
import causerie.store.accounts
import causerie.store.responses  # noqa: F401
from causerie.errors import InvalidRequest
from causerie.store.models import Base

BATCH = 500


def _rows(source: Engine, table: Table) -> Iterator[list[dict]]:
    order = list(table.primary_key.columns)
    if table.name == "messages":
        order = [table.c.created_at, table.c.id]  # a parent is written before its replies
    with source.connect() as conn:
        result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
        for part in result.mappings().partitions(BATCH):
            yield [dict(r) for r in part]


def row_counts(engine: Engine) -> dict[str, int]:
    """The number of rows of every table, in dependency order."""
    with engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def copy_database(
    source: Engine, target: Engine, counts: dict[str, int], progress: Callable[[int], None]
) -> None:
    """Copy each table's rows in dependency order, then check each table's row count.

    counts: row_counts(source); progress gets the number of rows of each batch copied.
    The target must be migrated and hold no user data (a fresh `db upgrade`).
    """
    tables = Base.metadata.sorted_tables
    with target.connect() as conn:
        for table in tables:
            if table.name != "users" and conn.scalar(select(func.count()).select_from(table)):
                raise InvalidRequest(f"the target database is not empty ({table.name})")
    for table in tables:
        with target.begin() as conn:
            if table.name == "users":
                conn.execute(table.delete())  # the local user made by migrating
            for batch in _rows(source, table):
                conn.execute(insert(table), batch)
                if table.name == "knowledge_chunks" and target.dialect.name == "postgresql":
                    _vectors(conn, batch)
                progress(len(batch))
            if target.dialect.name == "postgresql":
                _advance_sequences(conn, table)
        with target.connect() as conn:
            copied = conn.scalar(select(func.count()).select_from(table)) or 0
        if copied != counts[table.name]:
            raise InvalidRequest(f"{table.name}: {copied} rows copied of {counts[table.name]}")


def _vectors(conn, batch: list[dict]) -> None:  # type: ignore[no-untyped-def]
    from causerie.knowledge.pgsearch import vector_literal

    conn.execute(
        text("UPDATE knowledge_chunks SET embedding_vector = CAST(:v AS vector) WHERE id = :id"),
        [
            {"id": r["id"], "v": vector_literal(np.frombuffer(r["embedding"], dtype=np.float32))}
            for r in batch
        ],
    )


def _advance_sequences(conn, table: Table) -> None:  # type: ignore[no-untyped-def]
    """Integer keys were copied as they were: new rows must start after them."""
    for col in table.primary_key.columns:
        if col.autoincrement is True:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                    f"coalesce((SELECT max({col.name}) FROM {table.name}), 0) + 1, false)"
                )
            )
