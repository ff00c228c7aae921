"""Imports of other products' exports (jobs with progress) and the user's own export."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from causerie.routers import services
from causerie.routers.auth import owner
from causerie.services.imports.causerie_format import export_user

router = APIRouter(prefix="/api", tags=["imports"])
UPLOAD_PATH = re.compile(r"/api/imports")
MAX_IMPORT_BYTES = 8 * 1024**3  # a ChatGPT export of several GB, streamed to disk


def import_body_limit() -> tuple[str, re.Pattern[str], int]:
    return "POST", UPLOAD_PATH, MAX_IMPORT_BYTES


@router.post("/imports", status_code=202)
async def start_import(
    request: Request, file: Annotated[UploadFile, File()], kind: Annotated[str, Form()]
) -> dict:
    """Import an uploaded export (kind: chatgpt, causerie or openwebui) as a job."""
    jobs = services(request).imports
    return await anyio.to_thread.run_sync(
        jobs.submit, owner(request), kind, file.filename or "export", file.file
    )


@router.get("/imports/{job_id}")
def import_job(job_id: str, request: Request) -> dict:
    return services(request).imports.get(owner(request), job_id)


@router.get("/export")
async def export(request: Request) -> FileResponse:
    """The user's conversations as a Causerie export ZIP (docs/export-format.md)."""
    tmp = Path(tempfile.mkstemp(suffix=".zip")[1])
    await anyio.to_thread.run_sync(export_user, services(request).db, owner(request), tmp)
    return FileResponse(
        tmp,
        media_type="application/zip",
        filename="causerie-export.zip",
        background=BackgroundTask(tmp.unlink, missing_ok=True),
    )
