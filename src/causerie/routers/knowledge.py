"""Knowledge API: collections, documents, ingestion jobs, search; and /v1/embeddings.

Every call passes owner(request) and every query filters on it: another user's object is
simply not found (404).
"""

from __future__ import annotations

import base64
import re
from typing import Annotated, Literal

import anyio
import numpy as np
from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from causerie.errors import InvalidRequest, ModelNotFound
from causerie.jsonsafe import BoundedBody
from causerie.knowledge.system import Knowledge
from causerie.routers import received, services
from causerie.routers.auth import METERED, billed_to, owner
from causerie.settings import Settings

router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])
conversation_router = APIRouter(prefix="/api/conversations", tags=["knowledge"])
v1_router = APIRouter(prefix="/v1", tags=["openai"])
MAX_EMBEDDING_INPUTS = 2048
UPLOAD_PATH = re.compile(r"/api/knowledge/collections/[^/]+/documents")
MULTIPART_OVERHEAD = 64 * 1024  # part headers and boundaries around the file


def upload_body_limit(settings: Settings) -> tuple[str, re.Pattern[str], int]:
    """The upload route's body limit: one whole document, and never below the usual limit."""
    limit = max(settings.max_request_bytes, settings.knowledge.max_document_bytes)
    return "POST", UPLOAD_PATH, limit + MULTIPART_OVERHEAD


def _k(request: Request) -> Knowledge:
    return services(request).knowledge


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)


class CollectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)


class UrlIngest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=10_000)
    collections: list[str] = Field(min_length=1, max_length=50)
    k: int = Field(10, ge=1, le=100)
    mode: Literal["hybrid", "text", "vector"] = "hybrid"


class CollectionsAttach(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collections: list[str] = Field(max_length=50)


class OwnCollection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The start of the collection's name (the UI sends it in the user's language).
    label: str = Field("Chat files", min_length=1, max_length=100)


class CreateEmbeddingRequest(BoundedBody):
    """OpenAI's embeddings request; `input_type` is an extension (e5 prefixes)."""

    model_config = ConfigDict(extra="allow")
    input: str | list[str] | list[int] | list[list[int]]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None
    input_type: Literal["passage", "query"] = "passage"  # extension


# -- collections ---------------------------------------------------------------------


@router.post("/collections", status_code=201)
def create_collection(body: CollectionCreate, request: Request) -> dict:
    return _k(request).service.create_collection(owner(request), body.name, body.description)


@router.get("/collections")
def list_collections(request: Request) -> dict:
    return _k(request).service.list_collections(owner(request))


@router.get("/collections/{collection_id}")
def get_collection(collection_id: str, request: Request) -> dict:
    return _k(request).service.get_collection(owner(request), collection_id)


@router.patch("/collections/{collection_id}")
def update_collection(collection_id: str, body: CollectionUpdate, request: Request) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return _k(request).service.update_collection(owner(request), collection_id, changes)


@router.delete("/collections/{collection_id}", status_code=204)
def delete_collection(collection_id: str, request: Request) -> Response:
    _k(request).service.delete_collection(owner(request), collection_id)
    return Response(status_code=204)


# -- documents and jobs ----------------------------------------------------------------


@router.post("/collections/{collection_id}/documents", status_code=202)
async def upload_documents(
    collection_id: str, request: Request, file: Annotated[list[UploadFile], File()]
) -> dict:
    """Queue one ingestion job per uploaded file (multipart field `file`, repeatable)."""
    submit = _k(request).jobs.submit_upload
    out = [
        await anyio.to_thread.run_sync(
            submit, owner(request), collection_id, received(part, "document")
        )
        for part in file
    ]
    return {"object": "list", "data": out}


@router.post("/collections/{collection_id}/urls", status_code=202)
def ingest_url(collection_id: str, body: UrlIngest, request: Request) -> dict:
    """Queue the ingestion of a document fetched from a URL."""
    return _k(request).jobs.submit_url(owner(request), collection_id, body.url)


@router.get("/collections/{collection_id}/documents")
def list_documents(collection_id: str, request: Request) -> dict:
    return _k(request).service.list_documents(owner(request), collection_id)


@router.get("/collections/{collection_id}/jobs")
def list_jobs(collection_id: str, request: Request) -> dict:
    return _k(request).jobs.list(owner(request), collection_id)


@router.get("/jobs/{job_id}")
def get_job(job_id: str, request: Request) -> dict:
    return _k(request).jobs.get(owner(request), job_id)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, request: Request) -> dict:
    return _k(request).jobs.cancel(owner(request), job_id)


@router.get("/documents/{document_id}")
def get_document(document_id: str, request: Request, text: bool = False) -> dict:
    return _k(request).service.get_document(owner(request), document_id, with_text=text)


@router.get("/documents/{document_id}/passage")
def get_passage(
    document_id: str, request: Request, start: int = Query(ge=0), end: int = Query(ge=0)
) -> dict:
    """The exact passage a citation points at, with context before and after."""
    return _k(request).service.passage(owner(request), document_id, start, end)


@router.delete("/documents/{document_id}", status_code=204)
def delete_document(document_id: str, request: Request) -> Response:
    _k(request).service.delete_document(owner(request), document_id)
    return Response(status_code=204)


@router.post("/search", dependencies=[METERED])
def search(body: SearchRequest, request: Request) -> dict:
    """Hybrid (or full-text only, or vector only) search over collections."""
    svc = _k(request).service
    user_id, key_id = billed_to(request)

    def meter(tokens: int) -> None:  # the query's embedding, counted like /v1/embeddings
        services(request).quotas.record(
            user_id, key_id, svc.embedder.name, {"prompt_tokens": tokens}
        )

    hits = svc.search(
        owner(request), body.query, body.collections, k=body.k, mode=body.mode, on_tokens=meter
    )
    return {"object": "list", "data": [h.json() for h in hits]}


# -- conversations ---------------------------------------------------------------------


@conversation_router.get("/{conv_id}/collections")
def conversation_collections(conv_id: str, request: Request) -> dict:
    data = _k(request).service.conversation_collections(owner(request), conv_id)
    return {"object": "list", "data": data}


@conversation_router.put("/{conv_id}/collections")
def attach_collections(conv_id: str, body: CollectionsAttach, request: Request) -> dict:
    """Answer this conversation from exactly these collections (ids or names)."""
    svc = _k(request).service
    data = svc.set_conversation_collections(owner(request), conv_id, body.collections)
    return {"object": "list", "data": data}


@conversation_router.post("/{conv_id}/own-collection")
def own_collection(conv_id: str, request: Request, body: OwnCollection | None = None) -> dict:
    """The collection of files attached in this chat: created and attached on first call."""
    label = (body or OwnCollection()).label
    return _k(request).service.own_collection(owner(request), conv_id, label)


@conversation_router.get("/{conv_id}/grounding")
def conversation_grounding(conv_id: str, request: Request) -> dict:
    """Sources and checked citations of the conversation's grounded replies, by message id."""
    k = _k(request)
    k.service.conversation_collections(owner(request), conv_id)  # 404 unless owned
    return {"data": k.grounder.conversation_grounding(owner(request), conv_id)}


# -- OpenAI embeddings -----------------------------------------------------------------


@v1_router.post("/embeddings", dependencies=[METERED])
def create_embeddings(body: CreateEmbeddingRequest, request: Request) -> dict:
    """OpenAI's embeddings endpoint on the knowledge embedding model."""
    knowledge = _k(request)
    embedder = knowledge.service.embedder
    if body.model != embedder.name and services(request).catalog.find(body.model) is not None:
        raise InvalidRequest(
            f"'{body.model}' is a chat model: embeddings come from '{embedder.name}'.",
            param="model",
            code="model_not_supported",
        )
    if body.model != embedder.name and body.model not in knowledge.config.embedding_aliases:
        raise ModelNotFound(
            f"The embedding model '{body.model}' does not exist; use '{embedder.name}'.",
            param="model",
        )
    texts = _inputs(body.input)
    if body.dimensions is not None and body.dimensions != embedder.dim:
        raise InvalidRequest(
            f"'{embedder.name}' makes {embedder.dim}-dimensional vectors.", param="dimensions"
        )
    tokens = _request_tokens(knowledge, texts)
    # Bulk: the embedder serves searches between this request's inputs.
    vectors = knowledge.service.embed(texts, as_query=body.input_type == "query", bulk=True)
    user_id, key_id = billed_to(request)
    # Counted like a chat's prompt: in usage, and against the tokens/day quota.
    services(request).quotas.record(user_id, key_id, embedder.name, {"prompt_tokens": tokens})
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
            for i, v in enumerate(vectors)
        ],
        "model": body.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _inputs(value: str | list[str] | list[int] | list[list[int]]) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not texts:
        raise InvalidRequest("'input' must not be empty.", param="input")
    if not all(isinstance(t, str) for t in texts):
        raise InvalidRequest(
            "Token arrays are not supported as input; send strings.", param="input"
        )
    if len(texts) > MAX_EMBEDDING_INPUTS:
        raise InvalidRequest(f"At most {MAX_EMBEDDING_INPUTS} inputs per request.", param="input")
    for i, t in enumerate(texts):
        if not t.strip():
            raise InvalidRequest(f"Input {i} is empty.", param="input")
    return [str(t) for t in texts]


def _request_tokens(knowledge: Knowledge, texts: list[str]) -> int:
    """Tokens of the whole request, each input and the sum bounded before any embedding."""
    limit = knowledge.config.max_embedding_request_tokens
    total = 0
    for i, text in enumerate(texts):
        total += knowledge.service.input_tokens(text, f"Input {i}")
        if total > limit:
            raise InvalidRequest(
                f"The inputs pass {limit} tokens in all (at input {i}); this server embeds "
                f"at most {limit} tokens per request. Send them in several requests.",
                param="input",
                code="max_tokens_per_request",
            )
    return total


def _encode(vector: np.ndarray, fmt: str) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return [float(x) for x in vector]
