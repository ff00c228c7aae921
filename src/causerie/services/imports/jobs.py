"""Import jobs: an uploaded export spooled to disk, imported on a worker thread, polled."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from causerie.errors import CauserieError, InvalidRequest, NotFound
from causerie.services.imports import ImportService, Summary
from causerie.store.models import new_id

KINDS = ("chatgpt", "causerie", "openwebui")


@dataclass
class ImportJob:
    id: str
    owner: str
    kind: str
    name: str
    status: str = "queued"  # queued | running | succeeded | failed
    progress: float = 0.0
    summary: Summary | None = None
    error: str | None = None
    path: Path = field(default=Path())

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "object": "import.job",
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "progress": round(self.progress, 3),
            "summary": self.summary.as_dict() if self.summary else None,
            "error": self.error,
        }


class ImportJobs:
    """Jobs in memory (a restart forgets them; the imported data stays and re-imports skip it)."""

    def __init__(self, imports: ImportService, spool: Path):
        self.imports = imports
        self.spool = spool
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def submit(self, owner: str, kind: str, filename: str, stream: BinaryIO) -> dict:
        """Copy the upload to disk and start importing it."""
        if kind not in KINDS:
            raise InvalidRequest(f"Unknown export kind '{kind}'.", param="kind")
        job = ImportJob(new_id(), owner, kind, Path(filename or "export").name)
        self.spool.mkdir(parents=True, exist_ok=True)
        job.path = self.spool / f"{job.id}.upload"
        with job.path.open("wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        with self._lock:
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job,), daemon=True, name="import").start()
        return job.as_dict()

    def get(self, owner: str, job_id: str) -> dict:
        job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise NotFound(f"No import job with id '{job_id}'.")
        return job.as_dict()

    def _run(self, job: ImportJob) -> None:
        job.status = "running"

        def progress(done: int, total: int) -> None:
            job.progress = min(done / total, 1.0) if total else 0.0

        try:
            if job.kind == "chatgpt":
                job.summary = self.imports.import_chatgpt(job.path, job.owner, progress)
            elif job.kind == "causerie":
                job.summary = self.imports.import_causerie(job.path, job.owner)
            else:
                job.summary = self.imports.import_openwebui(job.path, job.owner)
            job.progress, job.status = 1.0, "succeeded"
        except CauserieError as exc:
            job.status, job.error = "failed", exc.message
        except Exception as exc:  # a job reports its failure; the server stays up
            job.status, job.error = "failed", f"import failed: {exc}"
        finally:
            job.path.unlink(missing_ok=True)
