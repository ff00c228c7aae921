"""A PostgreSQL database for a benchmark run: a given URL, or a temporary pgserver one."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PGSERVER = "pgserver"  # the --postgresql value that asks for a temporary server


@contextmanager
def postgresql(url: str) -> Iterator[str]:
    """url itself, or with 'pgserver' a fresh database on a temporary server."""
    if url != PGSERVER:
        yield url
        return
    from tests.pg_support import Postgres  # the tests' server: PyPI's pgserver

    # Not under a private temporary tree: pgserver runs the server as its own user.
    directory = Path(tempfile.mkdtemp(prefix="causerie-bench-pg-"))
    directory.chmod(0o755)
    server = Postgres(directory)
    try:
        yield server.fresh()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
