"""Fuzzing with schemathesis: OpenAI's own schema and Causerie's /openapi.json, on a live server.

Every response must be a non-5xx and, where the schema documents its status, match it. The
examples are bounded so this runs in CI in a couple of minutes on SmolLM2.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from causerie.app import create_app
from causerie.settings import Settings
from tests.support import SMOL, LiveServer, smol_model, write_config

# Beside the repository (../shared), or beside a git worktree's parent directory.
SPEC = next(
    (
        spec
        for parent in Path(__file__).resolve().parents[2:4]
        if (spec := parent / "shared" / "openai" / "openapi.yaml").is_file()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "openai" / "openapi.yaml",
)
OPERATIONS = ["createChatCompletion", "listModels", "retrieveModel", "createEmbedding"]
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)
MAX_TOKENS = 4  # generation is not what is fuzzed: keep each call short
# The Responses API and stored chat completions (issue 14).
STORED_OPERATIONS = [
    "createResponse",
    "getResponse",
    "deleteResponse",
    "cancelResponse",
    # Not listInputItems: the spec's discriminator mapping for its items lists schema names,
    # not the `type` values ("message") OpenAI and Causerie return, so schemathesis refuses
    # every real item (ST111). The SDK suite's input_items tests check those bodies.
    "listChatCompletions",
    "getChatCompletion",
    "updateChatCompletion",
    "deleteChatCompletion",
    "getChatCompletionMessages",
]
STORED_FUZZ = settings(FUZZ, max_examples=3)

if not SPEC.is_file():  # the schema lives beside the repository, not in it
    pytest.skip(f"OpenAI schema not found at {SPEC}", allow_module_level=True)


def _live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("fuzz")
    server = LiveServer(write_config(base / "causerie.toml", [smol_model()]), base / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live single-user server on SmolLM2 (no accounts: fuzzing the API, not logins)."""
    yield from _live(tmp_path_factory)


@pytest.fixture(scope="module")
def stored_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Its own server: fuzzing Causerie's own routes may create the first account, after
    which the unauthenticated requests that make real objects would get 401. One stored
    completion is made first: OpenAI's spec types a list's first_id/last_id as strings,
    which an empty list cannot honour (it says null, as OpenAI's API does)."""
    for server in _live(tmp_path_factory):
        body = {"model": SMOL, "messages": [{"role": "user", "content": "Hi"}], "store": True}
        body["max_tokens"] = MAX_TOKENS
        httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120).raise_for_status()
        yield server


def _short(case: Any) -> None:
    """Point generation at the real model with a tiny budget; leave everything else fuzzed."""
    body = case.body
    if not isinstance(body, dict):
        return
    if "messages" in body:
        body["max_completion_tokens"] = MAX_TOKENS
        body.pop("max_tokens", None)
        if len(str(body.get("messages"))) % 2 == 0:
            body["model"] = SMOL  # half the cases reach the model, half an unknown name
    if "input" in body:  # a Responses API request
        body["max_output_tokens"] = MAX_TOKENS
        if len(str(body.get("input"))) % 2 == 0:
            body["model"] = SMOL


openai_spec = schemathesis.openapi.from_path(SPEC)  # parsed once: it is large
openai_schema = openai_spec.include(operation_id=OPERATIONS)
stored_schema = openai_spec.include(operation_id=STORED_OPERATIONS)


def _real_object(case: Any, server: LiveServer) -> None:
    """Half the cases name a real stored object (made for the case) instead of a random id."""
    params = case.path_parameters or {}
    if len(str(params)) % 2:
        return
    prompt = [{"role": "user", "content": "Hi"}]
    if "response_id" in params:
        body = {"model": SMOL, "input": prompt, "max_output_tokens": MAX_TOKENS}
        r = httpx.post(f"{server.url}/v1/responses", json=body, timeout=120)
        params["response_id"] = r.raise_for_status().json()["id"]
    if "completion_id" in params:
        body = {"model": SMOL, "messages": prompt, "max_tokens": MAX_TOKENS, "store": True}
        r = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120)
        params["completion_id"] = r.raise_for_status().json()["id"]


def _own_openapi() -> dict[str, Any]:
    """Causerie's /openapi.json, as the app serves it (building the app does no I/O)."""
    data_dir = Path(tempfile.gettempdir()) / "causerie-fuzz-schema"
    return create_app(Settings(data_dir=data_dir, models=[smol_model()])).openapi()


own_schema = schemathesis.openapi.from_dict(_own_openapi())


@openai_schema.parametrize()
@FUZZ
def test_openai_schema(case: Any, fuzz_server: LiveServer) -> None:
    _short(case)
    response = case.call(base_url=f"{fuzz_server.url}/v1", timeout=120)
    case.validate_response(response, checks=CHECKS)


@own_schema.parametrize()
@FUZZ
def test_own_schema(case: Any, fuzz_server: LiveServer) -> None:
    _short(case)
    response = case.call(base_url=fuzz_server.url, timeout=120)
    case.validate_response(response, checks=CHECKS)


@stored_schema.parametrize()
@STORED_FUZZ
def test_openai_schema_responses_and_stored_completions(
    case: Any, stored_server: LiveServer
) -> None:
    _short(case)
    _real_object(case, stored_server)
    response = case.call(base_url=f"{stored_server.url}/v1", timeout=120)
    case.validate_response(response, checks=CHECKS)
