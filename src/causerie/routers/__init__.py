"""Thin HTTP routers: resolve a service, call it, map the result to JSON or SSE."""

from __future__ import annotations

from fastapi import Request

from causerie.wiring import Services


def services(request: Request) -> Services:
    """The services of the application serving this request."""
    return request.app.state.services
