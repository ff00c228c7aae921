"""The web UI's static files, served with headers that keep untrusted model output inert."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

WEB_DIR = Path(__file__).parent / "web"

# Model output is rendered as sanitized Markdown; this policy is the second wall behind the
# sanitizer: no inline or remote script, no remote images, fonts or styles, no plugins, no
# framing, no form posts, and the page only talks to its own origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class UIFiles(StaticFiles):
    """StaticFiles adding the security headers; revalidated on each load, so updates show."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def mount_ui(app: FastAPI, web_dir: Path = WEB_DIR) -> None:
    """Serve the UI at / when it is present (the API routes are matched first)."""
    if (web_dir / "index.html").is_file():
        app.mount("/", UIFiles(directory=web_dir, html=True), name="web")
