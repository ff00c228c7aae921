"""Schemathesis over the operations of Causerie's own /openapi.json that issue 12 hardened
(embeddings, search, uploads, URL ingestion, jobs and their cancel, sign-in and out), on a
live server: whatever the generated input, never a 5xx."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from causerie.app import create_app
from causerie.settings import Settings
from tests.support import LiveServer

TOUCHED = (
    r"^/v1/embeddings$|^/api/knowledge/(search|jobs/.*|collections/\{collection_id\}/(documents|urls))$"
    r"|^/api/auth/(login|logout|state)$"
)
FUZZ = settings(
    max_examples=5,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A single-user server without a chat model (fuzzing these routes needs none)."""
    base = tmp_path_factory.mktemp("fuzz-hostile")
    config = base / "causerie.toml"
    config.write_text("models = []\n")
    with LiveServer(config, base / "data") as live:
        yield live


def _schema() -> Any:
    data_dir = Path(tempfile.gettempdir()) / "causerie-fuzz-hostile-schema"
    spec = create_app(Settings(data_dir=data_dir, models=[])).openapi()  # builds, no I/O
    return schemathesis.openapi.from_dict(spec).include(path_regex=TOUCHED)


schema = _schema()


@schema.parametrize()
@FUZZ
def test_hardened_operations_never_fail_with_5xx(case: Any, server: LiveServer) -> None:
    response = case.call(base_url=server.url, timeout=60)
    case.validate_response(response, checks=[not_a_server_error])
