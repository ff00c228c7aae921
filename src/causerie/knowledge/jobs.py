"""Ingestion jobs: fetch or take a file, extract, chunk, embed, index, in the background.

One worker thread: embedding is CPU-bound and the machine has few cores, so jobs run
one after the other while the server keeps answering. Each job's row in the database
is its progress report; cancelling sets a flag the worker checks between batches.

A job belongs to the process that created it: the row carries a lease (owner id and
expiry) that a heartbeat thread renews. Another server on the same database, starting
or running, recovers (marks failed) only jobs whose lease has expired, i.e. whose process
died; every write a worker makes is conditional on still holding the lease, so a
recovered job is never relabelled afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import unquote

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from causerie.errors import CauserieError, NotFound, PayloadTooLarge
from causerie.knowledge.extract import extract
from causerie.knowledge.fetch import Fetcher
from causerie.knowledge.service import Cancelled, KnowledgeService, iso, owned_collection
from causerie.knowledge.tables import Job
from causerie.store.models import utcnow

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")
STOPPED = "the server stopped during this job"  # an import job's own process resumes it
COPY_CHUNK = 1024 * 1024


def job_json(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "object": "ingestion_job",
        "collection_id": j.collection_id,
        "document_id": j.document_id,
        "name": j.name,
        "source": j.source,
        "status": j.status,
        "stage": j.stage,
        "result": j.result,
        "progress": {"done": j.done, "total": j.total},
        "error": j.error,
        "error_detail": j.error_detail,  # the failure's code and figures (file name...)
        "created_at": iso(j.created_at),
        "updated_at": iso(j.updated_at),
    }


class IngestionJobs:
    """Queues ingestion jobs and runs them on one background thread."""

    def __init__(
        self,
        knowledge: KnowledgeService,
        *,
        max_bytes: int,
        fetcher: Fetcher,
        lease_seconds: float = 30.0,
    ):
        self.knowledge = knowledge
        self.worker_id = uuid.uuid4().hex  # this process, as lease owner
        self.lease = timedelta(seconds=lease_seconds)
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.db = knowledge.db
        self.max_bytes = max_bytes
        self.fetcher = fetcher
        self._pool: ThreadPoolExecutor | None = None
        self._cancel: dict[str, threading.Event] = {}
        self._futures: dict[str, Future[None]] = {}
        self._spooled: dict[str, Path] = {}  # uploads waiting on disk for their job
        self._lock = threading.Lock()

    def start(self) -> None:
        """Recover jobs whose process died, then keep this process's leases alive."""
        self._recover_expired()
        with self._lock:
            self._ensure_heartbeat()

    def _ensure_heartbeat(self) -> None:
        # Also started by the first job, for the CLI, which never calls start().
        if self._heartbeat is None:
            self._stop.clear()
            self._heartbeat = threading.Thread(
                target=self._beat, name="causerie-job-lease", daemon=True
            )
            self._heartbeat.start()

    def _beat(self) -> None:
        # Three renewals per lease: one missed beat (a slow disk) does not lose the job.
        while not self._stop.wait(self.lease.total_seconds() / 3):
            try:
                self._renew()
                self._recover_expired()
            except Exception:  # a locked database now and then: the next beat retries
                log.exception("job lease heartbeat failed")

    def _renew(self) -> None:
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.lease_owner == self.worker_id, Job.status.in_(ACTIVE))
                .values(lease_expires=utcnow() + self.lease)
            )

    def _release_unfinished(self) -> None:
        """Jobs of this process that will not run now it stops (queued behind a cancel)."""
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.lease_owner == self.worker_id, Job.status.in_(ACTIVE))
                .values(
                    status="failed",
                    stage="done",
                    error=STOPPED,
                    lease_owner=None,
                    updated_at=utcnow(),
                )
            )

    def _recover_expired(self) -> None:
        """Fail active jobs no live process holds (expired or pre-lease rows)."""
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(
                    Job.status.in_(ACTIVE),
                    or_(Job.lease_expires.is_(None), Job.lease_expires < utcnow()),
                )
                .values(
                    status="failed",
                    stage="done",
                    error=STOPPED,
                    lease_owner=None,
                    updated_at=utcnow(),
                )
            )

    def close(self) -> None:
        """Cancel what is queued or running and wait for the worker to stop."""
        with self._lock:
            pool, self._pool = self._pool, None
            for event in self._cancel.values():
                event.set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._stop.set()  # after the worker: a long last job keeps its lease to the end
        with self._lock:
            beat, self._heartbeat = self._heartbeat, None
        if beat is not None:
            beat.join()
        self._release_unfinished()
        with self._lock:
            spooled, self._spooled = list(self._spooled.values()), {}
        for path in spooled:  # jobs that never ran
            path.unlink(missing_ok=True)

    # -- submitting ------------------------------------------------------------------

    def submit_upload(
        self,
        owner: str,
        collection_id: str,
        filename: str,
        media_type: str | None,
        stream: BinaryIO,
    ) -> dict:
        """Queue the ingestion of a file read from stream; it waits on disk, not in memory."""
        name = base_name(filename)
        path = self._spool(stream, name)
        try:
            job = self._create(owner, collection_id, name, name)
            with self._lock:
                self._spooled[job["id"]] = path
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self._enqueue(job, lambda: (path.read_bytes(), media_type))

    def _spool(self, stream: BinaryIO, name: str) -> Path:
        """Copy stream to a temporary file, refusing it once it passes the size limit."""
        with tempfile.NamedTemporaryFile(prefix="causerie-upload-", delete=False) as out:
            path = Path(out.name)
            try:
                size = 0
                while chunk := stream.read(COPY_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise PayloadTooLarge(
                            f"'{name}' is larger than the limit of {self.max_bytes} bytes."
                        )
                    out.write(chunk)
            except BaseException:
                out.close()
                path.unlink(missing_ok=True)
                raise
        return path

    def submit_url(self, owner: str, collection_id: str, url: str) -> dict:
        """Queue the ingestion of a web page or file by URL; returns the job.

        A refused address fails here (400) and again, re-resolved, when the job fetches.
        """
        with self.db.session() as s:
            # Someone else's collection is "not found" before anything is said of the URL.
            owned_collection(s, owner, collection_id)
        parsed = self.fetcher.check(url).url
        name = unquote(PurePosixPath(parsed.path).name) or parsed.host
        job = self._create(owner, collection_id, name, url)
        return self._enqueue(job, lambda: self._fetch(job["id"], url))

    def _create(self, owner: str, collection_id: str, name: str, source: str) -> dict:
        with self.db.session() as s:
            owned_collection(s, owner, collection_id)
            job = Job(
                owner_id=owner,
                collection_id=collection_id,
                name=name[:500],
                source=source[:2000],
                lease_owner=self.worker_id,
                lease_expires=utcnow() + self.lease,
            )
            s.add(job)
            s.flush()
            return job_json(job)

    def _enqueue(self, job: dict, load: Any) -> dict:
        with self._lock:
            self._ensure_heartbeat()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="causerie-ingest")
            event = threading.Event()
            self._cancel[job["id"]] = event
            self._futures[job["id"]] = self._pool.submit(self._run, job, load, event)
        return job

    # -- the same leases for other kinds of job (imports) ------------------------------

    def new_lease(self) -> dict[str, Any]:
        """The lease columns of a new job row this process runs: its heartbeat renews it."""
        with self._lock:
            self._ensure_heartbeat()
        return {"lease_owner": self.worker_id, "lease_expires": utcnow() + self.lease}

    def claim(self, job_id: str) -> bool:
        """Take a queued job of this process (see claim_job)."""
        with self.db.session() as s:
            return claim_job(s, job_id, self.worker_id, utcnow() + self.lease)

    def progress(self, job_id: str, **values: Any) -> None:
        """Write an active job's columns while this process holds its lease."""
        self._update(job_id, **values)

    def finish(self, job_id: str, status: str, **values: Any) -> None:
        """End a job of this process with a status."""
        self._finish(job_id, status, **values)

    # -- reading jobs ----------------------------------------------------------------

    def get(self, owner: str, job_id: str) -> dict:
        """One job with its progress."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.owner_id != owner or job.kind != "ingest":
                raise NotFound(f"No ingestion job with id '{job_id}'.")
            return job_json(job)

    def list(self, owner: str, collection_id: str, limit: int = 50) -> dict:
        """The newest jobs of a collection."""
        with self.db.session() as s:
            owned_collection(s, owner, collection_id)
            jobs = newest_jobs(s, limit, Job.collection_id == collection_id)
            return {"object": "list", "data": [job_json(j) for j in jobs]}

    def cancel(self, owner: str, job_id: str) -> dict:
        """Ask a queued or running job to stop; a finished job is returned unchanged."""
        job = self.get(owner, job_id)
        if job["status"] in ACTIVE:
            with self._lock:
                event = self._cancel.get(job_id)
            if event is not None:
                event.set()
            if job["status"] == "queued" or event is None:
                self._finish(job_id, "cancelled", error="cancelled by the user", any_owner=True)
            return self.get(owner, job_id)
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until a job submitted by this process has finished (CLI, tests)."""
        future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout)

    # -- running ---------------------------------------------------------------------

    def _run(self, job: dict, load: Any, cancel: threading.Event) -> None:
        job_id = job["id"]
        try:
            if cancel.is_set():
                raise Cancelled
            if not self.claim(job_id):
                return  # cancelled or recovered meanwhile: its row already says so
            data, media_type = load()
            sha = hashlib.sha256(data).hexdigest()
            owner, collection_id = self._owner_of(job_id)
            duplicate = self.knowledge.find_duplicate(owner, collection_id, sha)
            if duplicate is not None:
                self._finish(job_id, "succeeded", result="duplicate", document_id=duplicate)
                return
            self._update(job_id, stage="extracting")
            extracted = extract(data, job["name"], media_type)
            self._update(job_id, stage="embedding")
            doc_id, result = self.knowledge.index(
                owner,
                collection_id,
                name=job["name"],
                source=job["source"],
                sha256=sha,
                size=len(data),
                extracted=extracted,
                progress=lambda done, total: self._update(job_id, done=done, total=total),
                cancelled=cancel.is_set,
            )
            self._finish(job_id, "succeeded", result=result, document_id=doc_id)
        except Cancelled:
            self._finish(job_id, "cancelled", error="cancelled by the user")
        except CauserieError as exc:
            detail = {"code": exc.code, **getattr(exc, "figures", {})}  # for the UI's wording
            self._finish(job_id, "failed", error=exc.message, error_detail=detail)
        except Exception as exc:  # a job must end with a status, whatever went wrong
            log.exception("ingestion job %s failed", job_id)
            self._finish(job_id, "failed", error=f"internal error: {type(exc).__name__}")
        finally:
            with self._lock:
                self._cancel.pop(job_id, None)
                spooled = self._spooled.pop(job_id, None)
            if spooled is not None:
                spooled.unlink(missing_ok=True)

    def _fetch(self, job_id: str, url: str) -> tuple[bytes, str | None]:
        self._update(job_id, stage="fetching")
        with self._lock:
            cancel = self._cancel.get(job_id)
        return self.fetcher.fetch(url, cancel)

    def _owner_of(self, job_id: str) -> tuple[str, str]:
        with self.db.session() as s:
            job = s.get_one(Job, job_id)
            return job.owner_id, job.collection_id

    def _update(self, job_id: str, *, any_owner: bool = False, **values: Any) -> None:
        """Write a job's progress, only while this process still holds its lease."""
        where = [Job.id == job_id, Job.status.in_(ACTIVE)]
        if not any_owner:
            where.append(Job.lease_owner == self.worker_id)
        with self.db.session() as s:
            s.execute(update(Job).where(*where).values(updated_at=utcnow(), **values))

    def _finish(self, job_id: str, status: str, **values: Any) -> None:
        values.setdefault("error", None)
        self._update(job_id, status=status, stage="done", lease_owner=None, **values)


def claim_job(s: Session, job_id: str, worker: str, until: Any) -> bool:
    """Take a queued job for worker until the given time; False if it is not claimable.

    The one place a job changes hands: a conditional UPDATE, atomic on SQLite (one
    writer) and on PostgreSQL. A queued job is claimable by the process holding its lease
    (the one that has its spooled upload) or by anyone once that lease has expired; a
    PostgreSQL queue can pick the row with SELECT ... FOR UPDATE SKIP LOCKED first and
    run this same statement on it.
    """
    taken = s.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == "queued",
            or_(Job.lease_owner == worker, Job.lease_expires < utcnow()),
        )
        .values(
            status="running",
            stage="reading",
            lease_owner=worker,
            lease_expires=until,
            updated_at=utcnow(),
        )
    )
    return taken.rowcount == 1


def newest_jobs(s: Session, limit: int, *where: Any) -> list[Job]:
    """The newest jobs that match where, newest first."""
    stmt = select(Job).where(*where).order_by(Job.created_at.desc()).limit(limit)
    return list(s.scalars(stmt).all())


def base_name(filename: str) -> str:
    """The file name without any directory a client put in it."""
    return PurePosixPath(filename.replace("\\", "/")).name or "document"
