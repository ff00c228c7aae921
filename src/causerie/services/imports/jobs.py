"""Import jobs: an uploaded export spooled under the data dir, imported in the background.

A job is a row of the leased job table that ingestion uses (knowledge/jobs.py, kind
"import"): its progress, summary and status are in the database, so any process of the
instance reads them, and the same heartbeat keeps the lease of the process running it.
Imports are idempotent, so a job the server stopped in the middle (a restart, a crash)
is resumed when this data dir's server starts again: it skips what was already written.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from causerie.errors import CauserieError, InvalidRequest
from causerie.knowledge.jobs import ACTIVE, STOPPED, IngestionJobs, newest_jobs, owned_job
from causerie.knowledge.service import Cancelled, iso
from causerie.knowledge.spool import Upload
from causerie.knowledge.tables import Job
from causerie.services.imports import ImportService, Summary

log = logging.getLogger(__name__)
KINDS = ("chatgpt", "causerie", "openwebui")  # what any user imports into their own data
INSTANCE = "instance"  # an administrator's restore of a whole-instance export
PROGRESS_SECONDS = 0.5  # how often a running import writes its progress


def import_json(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "object": "import.job",
        "kind": j.source,
        "name": j.name,
        "status": j.status,
        "progress": round(j.done / j.total, 3) if j.total else 0.0,
        "summary": j.report,
        "error": j.error,
        "created_at": iso(j.created_at),
        "updated_at": iso(j.updated_at),
    }


class ImportJobs:
    """Queues imports on one background thread, as leased rows of the job table."""

    def __init__(self, imports: ImportService, queue: IngestionJobs, spool: Path):
        self.imports = imports
        self.queue = queue  # its leases, heartbeat and claim
        self.db = imports.db
        self.spool = spool
        self._pool: ThreadPoolExecutor | None = None
        self._cancel: dict[str, threading.Event] = {}
        self._closing = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Resume the imports a stopped server left unfinished, if their upload is here.

        A server that died holds its jobs until its lease expires and a heartbeat marks
        them stopped (knowledge/jobs.py): those are looked at again after that.
        """
        with self.db.session() as s:
            jobs = s.execute(
                select(Job.id, Job.status, Job.error).where(
                    Job.kind == "import",
                    Job.lease_owner.is_distinct_from(self.queue.worker_id),
                    or_(Job.status.in_(ACTIVE), Job.error == STOPPED),
                )
            ).all()
        later = False
        for job_id, status, error in jobs:
            if not self._path(job_id).exists():
                continue
            if status in ACTIVE:
                later = True
            elif error == STOPPED and self._requeue(job_id):
                self._enqueue(job_id)
        if later:
            with self._lock:
                if not self._closing:
                    delay = self.queue.lease.total_seconds() * 1.5
                    self._timer = threading.Timer(delay, self.start)
                    self._timer.daemon = True
                    self._timer.start()

    def _requeue(self, job_id: str) -> bool:
        # Conditional: of several servers starting on one database, one takes it.
        with self.db.session() as s:
            taken = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "failed", Job.error == STOPPED)
                .values(status="queued", stage="queued", error=None, **self.queue.new_lease())
            )
            return taken.rowcount == 1

    def close(self) -> None:
        """Stop the running import between two transactions; the next start resumes it."""
        with self._lock:
            self._closing = True
            if self._timer is not None:
                self._timer.cancel()
            pool, self._pool = self._pool, None
            for event in self._cancel.values():
                event.set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, owner: str, kind: str, upload: Upload, kinds: tuple = KINDS) -> dict:
        """Copy the upload under the data dir and queue its import."""
        if kind not in kinds:
            raise InvalidRequest(f"Unknown export kind '{kind}'.", param="kind")
        with self.db.session() as s:
            job = Job(
                owner_id=owner,
                kind="import",
                source=kind,
                name=Path(upload.name or "export").name[:500],
                **self.queue.new_lease(),
            )
            s.add(job)
            s.flush()
            job_id = job.id
        path = self._path(job_id)
        try:
            self.spool.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                shutil.copyfileobj(upload.stream, out, 1 << 20)
        except BaseException:
            path.unlink(missing_ok=True)
            self.queue.finish(job_id, "failed", error="the upload did not arrive whole")
            raise
        self._enqueue(job_id)
        return self.get(owner, job_id)

    def get(self, owner: str, job_id: str) -> dict:
        """One import job with its progress and, once finished, its summary."""
        with self.db.session() as s:
            return import_json(owned_job(s, owner, job_id, "import"))

    def list(self, owner: str, limit: int = 20) -> dict:
        """The owner's newest import jobs."""
        with self.db.session() as s:
            jobs = newest_jobs(s, limit, Job.owner_id == owner, Job.kind == "import")
            return {"object": "list", "data": [import_json(j) for j in jobs]}

    def cancel(self, owner: str, job_id: str) -> dict:
        """Stop a queued or running import; what it already wrote stays."""
        job = self.get(owner, job_id)
        if job["status"] not in ACTIVE:
            return job
        with self._lock:
            event = self._cancel.get(job_id)
        if event is not None:
            event.set()
        if job["status"] == "queued" or event is None:  # not running here: end it now
            self.queue.finish(job_id, "cancelled", error="cancelled by the user", any_owner=True)
            self._path(job_id).unlink(missing_ok=True)
        return self._when_stopped(owner, job_id)

    def _when_stopped(self, owner: str, job_id: str, timeout: float = 10.0) -> dict:
        # The worker stops at its next conversation: a moment, not a batch of embeddings.
        deadline = time.monotonic() + timeout
        while (job := self.get(owner, job_id))["status"] in ACTIVE:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return job

    def _path(self, job_id: str) -> Path:
        return self.spool / f"{job_id}.upload"

    def _enqueue(self, job_id: str) -> None:
        with self._lock:
            if self._pool is None:
                self._closing = False
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="causerie-import")
            event = self._cancel[job_id] = threading.Event()
            self._pool.submit(self._run, job_id, event)

    def _run(self, job_id: str, cancel: threading.Event) -> None:
        keep = False  # the upload, for a resume
        try:
            if cancel.is_set() or not self.queue.claim(job_id, cancel):
                keep = self._closing
                return
            summary = self._import(job_id, cancel)
            self.queue.finish(job_id, "succeeded", report=summary.as_dict())
        except Cancelled:
            keep = self._closing
            if keep:
                self.queue.finish(job_id, "failed", error=STOPPED)
            else:
                self.queue.finish(job_id, "cancelled", error="cancelled by the user")
        except CauserieError as exc:
            self.queue.finish(job_id, "failed", error=exc.message)
        except Exception as exc:  # a job reports its failure; the server stays up
            log.exception("import job %s failed", job_id)
            self.queue.finish(job_id, "failed", error=f"import failed: {exc}")
        finally:
            with self._lock:
                self._cancel.pop(job_id, None)
            if not keep:
                self._path(job_id).unlink(missing_ok=True)

    def _import(self, job_id: str, cancel: threading.Event) -> Summary:
        with self.db.session() as s:
            job = s.get_one(Job, job_id)
            owner, kind = job.owner_id, job.source
        path, imports = self._path(job_id), self.imports
        last = [0.0]
        # A cancel sent to another server process ends the row: the queue's heartbeat
        # reads it and sets cancel (see IngestionJobs.claim).
        stop = cancel.is_set

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_SECONDS or done >= total:
                last[0] = now
                self.queue.progress(job_id, done=done, total=total)

        if kind == "chatgpt":
            summary = imports.import_chatgpt(path, owner, progress, stop)
        elif kind == "causerie":
            summary = imports.import_causerie(path, owner, stop)
        elif kind == "openwebui":
            summary = imports.import_openwebui(path, owner, stop)
        else:
            summary = imports.import_instance(path, stop)
        size = path.stat().st_size
        self.queue.progress(job_id, done=size, total=size)
        return summary
