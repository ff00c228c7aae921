"""Liveness and readiness."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from causerie.routers import services
from causerie.routers.auth import OPEN

# Probes from a load balancer or an orchestrator carry no credentials.
router = APIRouter(tags=["health"], dependencies=[OPEN])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Every configured model is loaded (503 until then, or when one failed to load)."""
    catalog = services(request).catalog
    errors = catalog.load_errors()
    state = "error" if errors else "ready" if catalog.ready else "loading"
    body: dict = {"status": state, "models": catalog.status()}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=200 if state == "ready" else 503)
