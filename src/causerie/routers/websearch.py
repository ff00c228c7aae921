"""Whether this server can search the web (the UI shows its toggle only then)."""

from fastapi import APIRouter, Request

from causerie.routers import services

router = APIRouter(prefix="/api", tags=["web search"])


@router.get("/web-search")
def web_search(request: Request) -> dict:
    """{"enabled": bool, "engine": name or null}."""
    web = services(request).knowledge.web
    return {"enabled": web is not None, "engine": web.engine.name if web else None}
