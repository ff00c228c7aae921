"""Liveness and readiness."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from causerie.routers import services

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Every configured model is loaded (503 until then)."""
    catalog = services(request).catalog
    body = {"status": "ready" if catalog.ready else "loading", "models": catalog.status()}
    return JSONResponse(body, status_code=200 if catalog.ready else 503)
