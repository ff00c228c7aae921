"""A real PostgreSQL 16 with pgvector for the tests (PyPI's pgserver), never a mock."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

DATABASES = ["sqlite", "postgresql"]


def empty_database(request: pytest.FixtureRequest, kind: str, directory: Path) -> str | None:
    """The URL of an empty database of one kind; None for SQLite's default in the data dir."""
    if kind == "sqlite":
        return None
    return request.getfixturevalue("postgres").fresh()


class Postgres:
    """One PostgreSQL server in a temporary directory; cheap fresh databases on it."""

    def __init__(self, directory: Path):
        import pgserver  # test-only dependency, imported when a test asks for PostgreSQL

        self.directory = directory
        self.server = pgserver.get_server(directory, cleanup_mode="delete")

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of one database (psycopg 3, Unix socket)."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.directory}"

    def fresh(self) -> str:
        """The URL of a new, empty database."""
        name = "t_" + uuid.uuid4().hex[:16]
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete its files."""
        self.server.cleanup()
