"""Imports of other products' exports (jobs with progress) and the user's own export."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from causerie.routers import received, services
from causerie.routers.auth import owner, require_admin
from causerie.services.imports.causerie_format import export_instance, export_user
from causerie.services.imports.jobs import INSTANCE

router = APIRouter(prefix="/api", tags=["imports"])
admin_router = APIRouter(
    prefix="/api/admin", tags=["imports"], dependencies=[Depends(require_admin)]
)
UPLOAD_PATH = re.compile(r"/api/(admin/)?imports")
MAX_IMPORT_BYTES = 8 * 1024**3  # a ChatGPT export of several GB, streamed to disk


def import_body_limit() -> tuple[str, re.Pattern[str], int]:
    return "POST", UPLOAD_PATH, MAX_IMPORT_BYTES


@router.post("/imports", status_code=202)
async def start_import(
    request: Request, file: Annotated[UploadFile, File()], kind: Annotated[str, Form()]
) -> dict:
    """Import an uploaded export (kind: chatgpt, causerie or openwebui) as a job."""
    submit = services(request).imports.submit
    return await anyio.to_thread.run_sync(submit, owner(request), kind, received(file, "export"))


@router.get("/imports")
def import_jobs(request: Request) -> dict:
    return services(request).imports.list(owner(request))


@router.get("/imports/{job_id}")
def import_job(job_id: str, request: Request) -> dict:
    return services(request).imports.get(owner(request), job_id)


@router.post("/imports/{job_id}/cancel")
def cancel_import(job_id: str, request: Request) -> dict:
    """Stop an import; what it already imported stays (importing the file again adds the rest)."""
    return services(request).imports.cancel(owner(request), job_id)


@router.get("/export")
async def export(request: Request) -> FileResponse:
    """The user's data as a Causerie export ZIP (docs/export-format.md)."""
    return await _zip(export_user, services(request).db, owner(request))


@admin_router.get("/export")
async def export_all(request: Request) -> FileResponse:
    """Every account and its data, for a backup or a move (an administrator)."""
    return await _zip(export_instance, services(request).db)


@admin_router.post("/imports", status_code=202)
async def restore_all(request: Request, file: Annotated[UploadFile, File()]) -> dict:
    """Restore a whole-instance export as a job: missing accounts are created, data added."""
    submit = partial(services(request).imports.submit, kinds=(INSTANCE,))
    return await anyio.to_thread.run_sync(
        submit, owner(request), INSTANCE, received(file, "export")
    )


async def _zip(write: Callable[..., object], *args: object) -> FileResponse:
    tmp = Path(tempfile.mkstemp(suffix=".zip")[1])
    await anyio.to_thread.run_sync(write, *args, tmp)
    return FileResponse(
        tmp,
        media_type="application/zip",
        filename="causerie-export.zip",
        background=BackgroundTask(tmp.unlink, missing_ok=True),
    )
