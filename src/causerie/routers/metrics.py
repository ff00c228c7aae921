"""Operations: Prometheus metrics and the health of every model target."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from causerie.errors import NotFound
from causerie.metrics import CONTENT_TYPE
from causerie.routers import services
from causerie.routers.auth import OPEN, require_operator

# They tell model names, upstream URLs' health and traffic: not for anonymous callers.
# Open to `authenticate`: require_operator also takes the metrics token, which is no key.
router = APIRouter(tags=["operations"], dependencies=[OPEN, Depends(require_operator)])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format: requests, errors, fallbacks, TTFT and tokens/s."""
    svc = services(request)
    if not svc.settings.metrics:
        raise NotFound("Metrics are disabled (settings: metrics = false).")
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/health/targets")
async def targets(request: Request) -> dict:
    """Circuit state, recent errors and successes of every model target."""
    return {"targets": services(request).catalog.health()}
