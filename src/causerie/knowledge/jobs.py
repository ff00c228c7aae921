"""Ingestion jobs: fetch or take a file, extract, chunk, embed, index, in the background.

The queue is the jobs table: any server on the database runs any job. Each server has
a few worker threads (knowledge.ingest_workers: embedding is CPU-bound and the machine has
few cores) that claim, on PostgreSQL with SELECT ... FOR UPDATE SKIP LOCKED so replicas
never wait on each other, the oldest queued job of a user with no job running anywhere,
users served least recently first: one user's slow fetch or many uploads never hold up
another's (see claim_job). An upload is received into this process's spool folder under
the data dir (spool.py), then waits for its job in the database, not on one server's disk.

A running job carries a lease (owner id and expiry) that a heartbeat renews. When a
server dies mid-job its lease expires and any live server queues the job again, up to
MAX_ATTEMPTS runs (a file that kills the process must not kill every replica in turn).
Every write a worker makes is conditional on still holding the lease, and the document
is stored in the same transaction that marks the job succeeded, so a job taken over or
cancelled elsewhere leaves neither a half-indexed document nor a duplicate. A cancel is
one write to the row, wherever it is made; the server running the job reads its row
every CHECK_SECONDS (between batches, and from the heartbeat during a fetch) and stops.

Import jobs (kind "import", services/imports/jobs.py) are rows of the same table with the
same leases, heartbeat and cancel, but their upload is on one server's disk: no worker
here claims them, and an expired one is marked STOPPED, for its own server to resume.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import unquote

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from causerie.errors import CauserieError, NotFound, PayloadTooLarge
from causerie.knowledge.extract import extract
from causerie.knowledge.fetch import Fetcher
from causerie.knowledge.service import Cancelled, KnowledgeService, iso, owned_collection
from causerie.knowledge.spool import SpoolDir, Upload
from causerie.knowledge.tables import Job, JobUpload
from causerie.store.models import utcnow

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")
MAX_ATTEMPTS = 3
STOPPED = "the server stopped during this job"
POLL_SECONDS = 1.0  # how soon an idle server sees a job another one queued
CHECK_SECONDS = 0.5  # how often a running job looks for a cancel made elsewhere
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
    """Queues ingestion jobs in the database and runs them on a few background threads."""

    def __init__(
        self,
        knowledge: KnowledgeService,
        *,
        max_bytes: int,
        fetcher: Fetcher,
        spool_dir: Path,
        lease_seconds: float = 30.0,
        workers: int = 2,
    ):
        self.knowledge = knowledge
        self.worker_id = uuid.uuid4().hex  # this process, as lease owner
        self.lease = timedelta(seconds=lease_seconds)
        self.db = knowledge.db
        self.max_bytes = max_bytes
        self.fetcher = fetcher
        self.spool = SpoolDir(spool_dir, self.worker_id)
        self.workers = workers
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, threading.Event] = {}  # job id -> its cancel flag
        self._checked: dict[str, float] = {}  # job id -> when its row was last read
        # A server serves the whole queue; the CLI (never start()ed) only its own jobs.
        self._serve_all = False
        self._mine: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Queue again the jobs of servers that died, sweep their spools, serve the queue."""
        self._requeue_expired()
        self.spool.sweep()
        with self._lock:
            self._serve_all = True
            self._ensure_threads()
        self._wake.set()

    def _ensure_threads(self) -> None:
        # Also started by the first job, for the CLI, which never calls start().
        if self._threads:
            return
        self._stop.clear()
        targets = [(self._work, f"ingest-{i}") for i in range(self.workers)]
        for target, name in [*targets, (self._beat, "job-lease")]:
            thread = threading.Thread(target=target, name=f"causerie-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _beat(self) -> None:
        # Three renewals per lease: one missed beat (a slow disk) does not lose the job.
        every = self.lease.total_seconds() / 3
        renew_at = time.monotonic() + every
        while not self._stop.wait(min(every, CHECK_SECONDS)):
            try:
                with self._lock:
                    running = list(self._running.items())
                for job_id, cancel in running:  # a fetch in progress cannot look itself
                    self._cancelled(job_id, cancel)
                if time.monotonic() >= renew_at:
                    self._renew()
                    self._requeue_expired()
                    renew_at = time.monotonic() + every
            except Exception:  # a locked database now and then: the next beat retries
                log.exception("job lease heartbeat failed")

    def _renew(self) -> None:
        with self.db.session() as s:  # a queued import is this process's too
            s.execute(
                update(Job)
                .where(Job.lease_owner == self.worker_id, Job.status.in_(ACTIVE))
                .values(lease_expires=utcnow() + self.lease)
            )

    def _requeue_expired(self) -> None:
        """Queue again running jobs no live process holds; fail those that ran too often.

        An import no live process holds, queued or running, is marked STOPPED instead.
        """
        lapsed = or_(Job.lease_expires.is_(None), Job.lease_expires < utcnow())
        self._fail_active(Job.kind == "import", lapsed, error=STOPPED)
        expired = (Job.kind == "ingest", Job.status == "running", lapsed)
        self._fail_active(
            *expired, Job.attempts >= MAX_ATTEMPTS, error=f"{STOPPED} {MAX_ATTEMPTS} times"
        )
        with self.db.session() as s:
            s.execute(update(Job).where(*expired).values(**_QUEUED, updated_at=utcnow()))

    def _fail_active(self, *where: Any, error: str) -> None:
        """Fail the active jobs that match where (the one write that gives jobs up)."""
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.status.in_(ACTIVE), *where)
                .values(
                    status="failed",
                    stage="done",
                    error=error,
                    lease_owner=None,
                    updated_at=utcnow(),
                )
            )

    def close(self) -> None:
        """Stop the worker; a job it was running goes back to the queue for another server."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            threads, self._threads = self._threads, []
            for event in self._running.values():
                event.set()
        for thread in threads:
            thread.join()
        mine = Job.lease_owner == self.worker_id
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(mine, Job.kind == "ingest", Job.status == "running")
                .values(**_QUEUED, updated_at=utcnow())
            )
        self._fail_active(mine, Job.kind == "import", error=STOPPED)  # resumed at next start
        self.spool.close()

    # -- submitting ------------------------------------------------------------------

    def submit_upload(self, owner: str, collection_id: str, upload: Upload) -> dict:
        """Queue the ingestion of an uploaded file; it waits in the database."""
        name = base_name(upload.name)
        path = self._spool(upload.stream, name)
        try:
            data = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
        return self._create(
            owner, collection_id, name, name, data=data, media_type=upload.media_type
        )

    def _spool(self, stream: BinaryIO, name: str) -> Path:
        """Copy stream to this process's spool folder, refusing it past the size limit."""
        with self.spool.new_file() as out:
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
        return self._create(owner, collection_id, name, url)

    def _create(
        self,
        owner: str,
        collection_id: str,
        name: str,
        source: str,
        *,
        data: bytes | None = None,
        media_type: str | None = None,
    ) -> dict:
        with self.db.session() as s:
            owned_collection(s, owner, collection_id)
            job = Job(
                owner_id=owner,
                collection_id=collection_id,
                name=name[:500],
                source=source[:2000],
                media_type=(media_type or "")[:200] or None,
            )
            s.add(job)
            s.flush()
            if data is not None:
                s.add(JobUpload(job_id=job.id, data=data))
            out = job_json(job)
        with self._lock:
            self._mine.add(out["id"])
            self._ensure_threads()
        self._wake.set()
        return out

    # -- the same leases for other kinds of job (imports) ------------------------------

    def new_lease(self) -> dict[str, Any]:
        """The lease columns of a new job row this process runs: its heartbeat renews it."""
        with self._lock:
            self._ensure_threads()
        return {"lease_owner": self.worker_id, "lease_expires": utcnow() + self.lease}

    def claim(self, job_id: str, cancel: threading.Event) -> bool:
        """Take a queued job of this process; until finish(), cancel is set when its row
        is cancelled from anywhere (the heartbeat reads it, as for ingestion jobs)."""
        with self.db.session() as s:
            if not take_job(s, job_id, self.worker_id, utcnow() + self.lease):
                return False
        with self._lock:
            self._running[job_id] = cancel
        return True

    def progress(self, job_id: str, **values: Any) -> None:
        """Write an active job's columns while this process holds its lease."""
        self._update(job_id, **values)

    def finish(self, job_id: str, status: str, **values: Any) -> None:
        """End a job of this process with a status."""
        try:
            self._finish(job_id, status, **values)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
                self._checked.pop(job_id, None)

    # -- reading jobs ----------------------------------------------------------------

    def get(self, owner: str, job_id: str) -> dict:
        """One job with its progress."""
        with self.db.session() as s:
            return job_json(owned_job(s, owner, job_id, "ingest"))

    def list(self, owner: str, collection_id: str, limit: int = 50) -> dict:
        """The newest jobs of a collection."""
        with self.db.session() as s:
            owned_collection(s, owner, collection_id)
            jobs = newest_jobs(s, limit, Job.collection_id == collection_id)
            return {"object": "list", "data": [job_json(j) for j in jobs]}

    def cancel(self, owner: str, job_id: str) -> dict:
        """Stop a queued or running job, whichever server runs it; a finished one is unchanged.

        The row says cancelled at once; the server running the job sees it within
        CHECK_SECONDS, and cannot store its document afterwards (see _store).
        """
        job = self.get(owner, job_id)
        if job["status"] in ACTIVE:
            self._finish(job_id, "cancelled", error="cancelled by the user", any_owner=True)
            with self._lock:
                event = self._running.get(job_id)
            if event is not None:
                event.set()
            return self.get(owner, job_id)
        return job

    # -- running ---------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._claim()
            except Exception:  # the database away for a moment: try again later
                log.exception("claiming an ingestion job failed")
                job_id = None
            if job_id is None:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                continue
            self._run(job_id)

    def _claim(self) -> str | None:
        with self._lock:
            only = None if self._serve_all else set(self._mine)
            event = threading.Event()
        if only is not None and not only:
            return None
        with self.db.engine.connect() as conn:
            if conn.execute(_ANY_QUEUED).first() is None:
                return None  # the usual case: idle servers poll, so polling must be cheap
        with self.db.session() as s:
            job_id = claim_job(s, self.worker_id, utcnow() + self.lease, only)
        if job_id is not None:
            with self._lock:
                self._running[job_id] = event
                if self._stop.is_set():
                    event.set()  # close() came between the claim and now
        return job_id

    def _run(self, job_id: str) -> None:
        cancel = self._running[job_id]
        try:
            job = self._load_row(job_id)
            data, media_type = self._load(job, cancel)
            sha = hashlib.sha256(data).hexdigest()
            duplicate = self.knowledge.find_duplicate(job.owner_id, job.collection_id, sha)
            if duplicate is not None:
                self._finish(job_id, "succeeded", result="duplicate", document_id=duplicate)
                return
            self._update(job_id, stage="extracting")
            extracted = extract(data, job.name, media_type)
            self._update(job_id, stage="embedding")
            self.knowledge.index(
                job.owner_id,
                job.collection_id,
                name=job.name,
                source=job.source,
                sha256=sha,
                size=len(data),
                extracted=extracted,
                progress=lambda done, total: self._update(job_id, done=done, total=total),
                cancelled=lambda: self._cancelled(job_id, cancel),
                in_transaction=lambda s, doc_id, result: self._store(s, job_id, doc_id, result),
            )
        except Cancelled:
            self._stopped(job_id)
        except CauserieError as exc:
            detail = {"code": exc.code, **getattr(exc, "figures", {})}  # for the UI's wording
            self._finish(job_id, "failed", error=exc.message, error_detail=detail)
        except Exception as exc:  # a job must end with a status, whatever went wrong
            log.exception("ingestion job %s failed", job_id)
            self._finish(job_id, "failed", error=f"internal error: {type(exc).__name__}")
        finally:
            with self._lock:
                self._running.pop(job_id, None)
                self._checked.pop(job_id, None)

    def _stopped(self, job_id: str) -> None:
        if self._stop.is_set():  # this server stops: another one runs the job again
            with self.db.session() as s:
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.lease_owner == self.worker_id)
                    .where(Job.status == "running")
                    .values(**_QUEUED, updated_at=utcnow())
                )
        else:  # usually already said by cancel(); a fetch cut short says it here
            self._finish(job_id, "cancelled", error="cancelled by the user")

    def _load_row(self, job_id: str) -> Job:
        with self.db.session() as s:
            return s.get_one(Job, job_id)

    def _load(self, job: Job, cancel: threading.Event) -> tuple[bytes, str | None]:
        """The job's bytes: its upload, from the database, or its URL, fetched."""
        with self.db.session() as s:
            data = s.scalar(select(JobUpload.data).where(JobUpload.job_id == job.id))
        if data is not None:
            return data, job.media_type
        if "://" not in job.source:  # an upload queued by a version that kept it on disk
            raise NotFound(f"The file of '{job.name}' was lost; upload it again.")
        self._update(job.id, stage="fetching")
        return self.fetcher.fetch(job.source, cancel)

    def _cancelled(self, job_id: str, cancel: threading.Event) -> bool:
        """True once cancelled here, or once the row says the job is no longer ours."""
        now = time.monotonic()
        if not cancel.is_set() and now - self._checked.get(job_id, 0.0) >= CHECK_SECONDS:
            self._checked[job_id] = now  # a look at the database at most this often
            with self.db.session() as s:
                row = s.execute(select(Job.status, Job.lease_owner).where(Job.id == job_id))
                if tuple(row.one_or_none() or ()) != ("running", self.worker_id):
                    cancel.set()
        return cancel.is_set()

    def _store(self, s: Session, job_id: str, doc_id: str, result: str) -> None:
        """In the document's transaction: mark the job succeeded, or undo all if not ours."""
        if not self._finish_in(
            s, job_id, "succeeded", any_owner=False, result=result, document_id=doc_id
        ):
            raise Cancelled  # cancelled or taken over meanwhile: the document is rolled back

    def _update(self, job_id: str, *, any_owner: bool = False, **values: Any) -> None:
        """Write a job's progress, only while this process still holds its lease."""
        with self.db.session() as s:
            self._write(s, job_id, any_owner, values)

    def _write(self, s: Session, job_id: str, any_owner: bool, values: dict) -> bool:
        where = [Job.id == job_id, Job.status.in_(ACTIVE)]
        if not any_owner:
            where.append(Job.lease_owner == self.worker_id)
        done = s.execute(update(Job).where(*where).values(updated_at=utcnow(), **values))
        return done.rowcount == 1

    def _finish(self, job_id: str, status: str, *, any_owner: bool = False, **values: Any) -> None:
        with self.db.session() as s:
            self._finish_in(s, job_id, status, any_owner=any_owner, **values)

    def _finish_in(
        self, s: Session, job_id: str, status: str, *, any_owner: bool, **values: Any
    ) -> bool:
        values.setdefault("error", None)
        values.update(status=status, stage="done", lease_owner=None)
        if not self._write(s, job_id, any_owner, values):
            return False
        s.execute(delete(JobUpload).where(JobUpload.job_id == job_id))  # no longer needed
        return True


# The values that put a job back in the queue, for any server to take.
_QUEUED: dict[str, Any] = {
    "status": "queued",
    "stage": "queued",
    "lease_owner": None,
    "lease_expires": None,
}


# Whether any ingestion job waits: one index read, where the claim's fairness query cost
# an idle server about 4 ms of CPU per poll and worker (measured: 7-9 ms per second of
# the 16 ms an idle server spent, which the gateway bench counts against its requests).
_ANY_QUEUED = select(Job.id).where(Job.status == "queued", Job.kind == "ingest").limit(1)


def claim_job(
    s: Session, worker: str, until: Any, only: Collection[str] | None = None
) -> str | None:
    """Take for worker, until the given time, the next queued job (of only, if given).

    The one place a job changes hands, and where fairness is decided, across replicas:
    the oldest queued job of a user who has no job running, users served least recently
    first (their latest claimed job's last change the oldest), so a user's jobs run one
    after the other and never hold up another user's. On PostgreSQL the row is picked with
    SELECT ... FOR UPDATE SKIP LOCKED, so replicas claiming at once take different jobs
    without waiting (two of one user's, in that instant: fairness is best effort, the
    claim itself exact); SQLite (one writer, no row locks) ignores that clause, and the
    conditional UPDATE then makes sure no two processes take the same job.
    """
    other = aliased(Job)
    ingest = (Job.kind == "ingest", other.kind == "ingest")  # imports run on their own
    busy = select(other.owner_id).where(other.status == "running", ingest[1])
    last_served = (
        select(func.max(other.updated_at))
        .where(other.owner_id == Job.owner_id, other.status != "queued", ingest[1])
        .scalar_subquery()
    )
    pick = select(Job.id).where(Job.status == "queued", ingest[0], Job.owner_id.not_in(busy))
    if only is not None:
        if not only:
            return None
        pick = pick.where(Job.id.in_(only))
    pick = (
        pick.order_by(last_served.asc().nulls_first(), Job.created_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Job)
    )
    job_id = s.scalar(pick)
    if job_id is None or not take_job(s, job_id, worker, until):
        return None
    return job_id


def take_job(s: Session, job_id: str, worker: str, until: Any) -> bool:
    """Mark a queued job running for worker until the given time; False if it was not."""
    taken = s.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            stage="reading",
            lease_owner=worker,
            lease_expires=until,
            attempts=Job.attempts + 1,
            updated_at=utcnow(),
        )
    )
    return taken.rowcount == 1


JOB_LABELS = {"ingest": "ingestion", "import": "import"}


def owned_job(s: Session, owner: str, job_id: str, kind: str) -> Job:
    """The owner's job of this kind; NotFound for any other (another user's included)."""
    job = s.get(Job, job_id)
    if job is None or job.owner_id != owner or job.kind != kind:
        raise NotFound(f"No {JOB_LABELS[kind]} job with id '{job_id}'.")
    return job


def newest_jobs(s: Session, limit: int, *where: Any) -> list[Job]:
    """The newest jobs that match where, newest first."""
    stmt = select(Job).where(*where).order_by(Job.created_at.desc()).limit(limit)
    return list(s.scalars(stmt).all())


def base_name(filename: str) -> str:
    """The file name without any directory a client put in it."""
    return PurePosixPath(filename.replace("\\", "/")).name or "document"
