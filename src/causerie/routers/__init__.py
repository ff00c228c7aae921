"""Thin HTTP routers: resolve a service, call it, map the result to JSON or SSE."""

from __future__ import annotations

from fastapi import Request, UploadFile

from causerie.knowledge.spool import Upload
from causerie.wiring import Services


def services(request: Request) -> Services:
    """The services of the application serving this request."""
    return request.app.state.services


def received(file: UploadFile, default_name: str) -> Upload:
    """An uploaded part as the jobs take it: Starlette spooled it to disk; the job's submit
    copies it into its own spool (refusing it past its size limit), in a thread."""
    return Upload(file.filename or default_name, file.content_type, file.file)
