"""Rate limits, daily token quotas and usage accounting, shared through the database.

Several server processes may share one database, and limits must hold across all of them;
yet a database transaction per request cost more CPU than the whole streaming path. So the
database stays the single source of truth, but is asked in batches:

- **Requests per minute: leases.** A process claims a small block of a subject's
  (`user:<id>` or `key:<id>`) budget for the current minute in one conditional upsert
  (`count = count + n` only if the result stays within the limit), then admits from memory
  until the block is used up. The database never hands out more than the limit, so the
  processes together never admit more than the limit. A block is `limit // 16` requests
  (1 to 50); when less than a block is left, requests are claimed one at a time, so the last
  requests of a minute go to whichever process asks first. The price: a block claimed by
  one process and not used by the end of the minute is lost to the others, so with P
  processes a subject may be refused up to P x (block - 1) requests early; with one process,
  or a limit under 32, the limit is exact. A refusal is cached until the minute ends (or the
  limit changes), so a client hammering at 429 costs no database work.
- **Tokens per day: usage in memory, flushed every second.** Finished requests add their
  tokens to an in-memory batch, written by a background thread every `flush_seconds` (one
  transaction of upserts) and at shutdown. A quota check adds this process's unflushed
  tokens to the database's total for the day, which is re-read at most every
  `USED_TTL_SECONDS`. So in one process a quota is exact; another process's tokens count
  here within about two seconds. (A daily token quota is soft anyway: a request admitted
  under it runs to its end and its tokens then count.)
- **What a crash loses.** A clean shutdown (SIGTERM, Ctrl-C) flushes everything. A kill -9
  loses at most the last `flush_seconds` of usage (tokens not yet written) and the unused
  part of the process's leases (under-admission for the rest of that minute, never
  over-admission). A failed flush (database locked for longer than the busy timeout) keeps
  the batch in memory for the next attempt.

The hot path is SQLAlchemy Core on `Table` objects, never the ORM.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from causerie.errors import Busy
from causerie.services.auth import Principal
from causerie.store.accounts import ApiKey, RateWindow, Usage
from causerie.store.db import Database
from causerie.store.models import User

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
USED_TTL_SECONDS = 1.0  # how stale the database's token total for a day may be here
LEASE_DIVISOR = 16
MAX_LEASE = 50
MAX_LEASES = 10_000

RATES = RateWindow.__table__
USAGE = Usage.__table__
UsageKey = tuple[str, str, str, str]  # user id, key id ('' for none), model, day


class RateLimited(Busy):
    """A user or key is over its requests per minute or tokens per day."""

    code = "rate_limit_exceeded"


def _today(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def _seconds_to_midnight(now: float) -> float:
    at = datetime.fromtimestamp(now, UTC)
    midnight = (at + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - at).total_seconds()


def lease_size(limit: int) -> int:
    """Requests claimed from the database at once for a per-minute limit."""
    return max(1, min(MAX_LEASE, limit // LEASE_DIVISOR))


@dataclass
class _Lease:
    """What this process may still admit for one subject in one minute."""

    minute: int
    limit: int
    left: int
    exhausted: bool = False  # the database refused: nothing more this minute


class QuotaService:
    """Admits metered requests (model calls) and records what they consumed."""

    def __init__(self, db: Database, flush_seconds: float = FLUSH_SECONDS):
        self.db = db
        self.flush_seconds = flush_seconds
        # Held across a lease claim (database I/O), so never taken on the event loop.
        self._lease_lock = threading.Lock()
        # Pending usage and the used-tokens cache; held for microseconds only, because
        # record() runs on the event loop.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time; fresh reads wait for it
        self._leases: dict[str, _Lease] = {}
        self._pending: dict[UsageKey, list[int]] = {}  # -> [requests, prompt, completion, web]
        self._used: dict[tuple[str, str, str], tuple[float, int]] = {}  # (kind, id, day)
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Write usage in the background every `flush_seconds`."""
        if self._flusher is None:
            self._stop.clear()
            self._flusher = threading.Thread(
                target=self._flush_loop, name="causerie-usage-flush", daemon=True
            )
            self._flusher.start()

    def close(self) -> None:
        """Stop the background writer and write what is left (clean shutdown loses nothing)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None
        self.flush()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the batch stays pending; try again next time
                log.exception("could not write usage; will retry")

    # -- admission -----------------------------------------------------------------------

    def admit(self, principal: Principal, now: float | None = None) -> None:
        """Count one request against its user and key; RateLimited (429) when over a limit."""
        now = time.time() if now is None else now
        self._check_tokens(principal, now)
        subjects = [(f"user:{principal.user_id}", principal.user_limits.requests_per_minute)]
        if principal.key_id is not None:
            subjects.append((f"key:{principal.key_id}", principal.key_limits.requests_per_minute))
        limited = [(subject, limit) for subject, limit in subjects if limit is not None]
        if not limited:
            return
        minute = int(now // 60)
        # Claims happen under the lock: rare (one per lease), and two threads of this process
        # must not both claim for one subject.
        with self._lease_lock:
            leases = [self._lease(subject, limit, minute) for subject, limit in limited]
            for (subject, limit), lease in zip(limited, leases, strict=True):
                if lease.left < 1:
                    # Nothing is taken from the other subject: a refused request is not counted.
                    raise RateLimited(
                        f"Rate limit reached: {limit} requests per minute "
                        f"({subject.split(':')[0]}). Try again shortly.",
                        retry_after=60 - now % 60,
                    )
            for lease in leases:
                lease.left -= 1

    def _lease(self, subject: str, limit: int, minute: int) -> _Lease:
        """This process's lease for subject, claiming more from the database when empty."""
        lease = self._leases.get(subject)
        if lease is None or lease.minute != minute or lease.limit != limit:
            if len(self._leases) >= MAX_LEASES:  # forget the subjects of past minutes
                self._leases = {k: v for k, v in self._leases.items() if v.minute == minute}
            lease = self._leases[subject] = _Lease(minute, limit, 0)
        if lease.left < 1 and not lease.exhausted:
            granted = self._claim(subject, limit, minute)
            lease.left += granted
            lease.exhausted = granted == 0
        return lease

    def _claim(self, subject: str, limit: int, minute: int) -> int:
        """Take up to a lease of this minute's budget from the database; how many were given."""
        wants = [lease_size(limit)]
        if wants[0] > 1:
            wants.append(1)  # less than a lease left: the rest go one at a time
        with self.db.engine.begin() as conn:
            conn.execute(delete(RATES).where(RATES.c.subject == subject, RATES.c.minute < minute))
            for want in wants:
                stmt = self._insert(conn, RATES).values(subject=subject, minute=minute, count=want)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["subject", "minute"],
                    set_={"count": RATES.c.count + want},
                    where=RATES.c.count + want <= limit,
                ).returning(RATES.c.count)
                if conn.execute(stmt).first() is not None:
                    return want
        return 0

    def _check_tokens(self, principal: Principal, now: float) -> None:
        day = _today(now)
        checks = [("user", principal.user_id, principal.user_limits.tokens_per_day)]
        if principal.key_id is not None:
            checks.append(("key", principal.key_id, principal.key_limits.tokens_per_day))
        for kind, ident, limit in checks:
            if limit is None:
                continue
            used = self._used_tokens(kind, ident, day)
            if used >= limit:
                raise RateLimited(
                    f"Daily token quota reached: {used} of {limit} tokens used today ({kind}).",
                    retry_after=_seconds_to_midnight(now),
                )

    def _used_tokens(self, kind: str, ident: str, day: str) -> int:
        """Tokens of a user or key today: the database's total plus what is not written yet."""
        slot = (kind, ident, day)
        with self._lock:
            fetched, stored = self._used.get(slot, (float("-inf"), 0))
            if time.monotonic() - fetched < USED_TTL_SECONDS:
                return stored + self._pending_tokens(kind, ident, day)
        # Not during a flush: a batch must be counted either as pending or as stored, once.
        with self._flush_lock:
            stored = self._stored_tokens(kind, ident, day)
            with self._lock:
                self._used[slot] = (time.monotonic(), stored)
                return stored + self._pending_tokens(kind, ident, day)

    def _pending_tokens(self, kind: str, ident: str, day: str) -> int:
        at = 0 if kind == "user" else 1
        return sum(v[1] + v[2] for k, v in self._pending.items() if k[at] == ident and k[3] == day)

    def _stored_tokens(self, kind: str, ident: str, day: str) -> int:
        column = USAGE.c.user_id if kind == "user" else USAGE.c.key_id
        total = func.coalesce(func.sum(USAGE.c.prompt_tokens + USAGE.c.completion_tokens), 0)
        with self.db.engine.connect() as conn:
            query = select(total).where(column == ident, USAGE.c.day == day)
            return int(conn.execute(query).scalar_one())

    def admit_web_search(
        self, user_id: str, key_id: str | None = None, now: float | None = None
    ) -> None:
        """RateLimited (429) when the user, or the key, has used up today's web searches.

        Checked per web search (rare, and seconds long), so the limits are read from the
        database each time; the counts are today's written and pending searches.
        """
        now = time.time() if now is None else now
        subjects: list[tuple[str, Any, str]] = [("user", User, user_id)]
        if key_id is not None:
            subjects.append(("key", ApiKey, key_id))
        checks = []
        with self.db.engine.connect() as conn:
            for kind, table, ident in subjects:
                query = select(table.web_searches_per_day).where(table.id == ident)
                checks.append((kind, ident, conn.execute(query).scalar()))
        day = _today(now)
        for kind, ident, limit in checks:
            if limit is None:
                continue
            used = self._web_searches(kind, ident, day)
            if used >= limit:
                raise RateLimited(
                    f"Daily web search limit reached: {used} of {limit} searches used "
                    f"today ({kind}).",
                    retry_after=_seconds_to_midnight(now),
                )

    def _web_searches(self, kind: str, ident: str, day: str) -> int:
        """Web searches of a user or key today, written and pending."""
        column = USAGE.c.user_id if kind == "user" else USAGE.c.key_id
        at = 0 if kind == "user" else 1
        # Not during a flush: a batch must be counted either as pending or as stored, once.
        with self._flush_lock:
            with self.db.engine.connect() as conn:
                query = select(func.coalesce(func.sum(USAGE.c.web_searches), 0)).where(
                    column == ident, USAGE.c.day == day
                )
                used = int(conn.execute(query).scalar_one())
            with self._lock:
                pending = self._pending.items()
                used += sum(v[3] for k, v in pending if k[at] == ident and k[3] == day)
        return used

    # -- usage ---------------------------------------------------------------------------

    def record(self, user_id: str, key_id: str | None, model: str, usage: dict[str, Any]) -> None:
        """Add one finished request's tokens to today's batch (written within a second)."""
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        searches = int(usage.get("web_searches") or 0)
        key = (user_id, key_id or "", model, _today(time.time()))
        with self._lock:
            row = self._pending.setdefault(key, [0, 0, 0, 0])
            row[0] += 1
            row[1] += prompt
            row[2] += completion
            row[3] += searches

    def flush(self) -> None:
        """Write the pending usage in one transaction (kept pending if that fails)."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                with self.db.engine.begin() as conn:
                    for key, values in batch.items():
                        conn.execute(self._usage_upsert(conn, key, values))
            except Exception:
                with self._lock:
                    for key, values in batch.items():
                        row = self._pending.setdefault(key, [0, 0, 0, 0])
                        for i, v in enumerate(values):
                            row[i] += v
                raise
            with self._lock:
                self._used.clear()  # the written tokens are in the database now, not pending

    def _usage_upsert(self, conn: Connection, key: UsageKey, values: list[int]) -> Any:
        user_id, key_id, model, day = key
        requests, prompt, completion, searches = values
        stmt = self._insert(conn, USAGE).values(
            user_id=user_id,
            key_id=key_id,
            model=model,
            day=day,
            requests=requests,
            prompt_tokens=prompt,
            completion_tokens=completion,
            web_searches=searches,
        )
        return stmt.on_conflict_do_update(
            index_elements=["user_id", "key_id", "model", "day"],
            set_={
                "requests": USAGE.c.requests + requests,
                "prompt_tokens": USAGE.c.prompt_tokens + prompt,
                "completion_tokens": USAGE.c.completion_tokens + completion,
                "web_searches": USAGE.c.web_searches + searches,
            },
        )

    @staticmethod
    def _insert(conn: Connection, table: Any) -> Any:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def report(self, user_id: str | None, days: int = 30) -> dict[str, Any]:
        """Usage per day and model (and user, for the admin's view of everyone)."""
        try:
            self.flush()  # this process's latest requests show at once
        except Exception:  # still pending, written later; the report is a moment behind
            log.exception("could not write usage before a report")
        since = _today(time.time() - days * 86400)
        cols = [
            Usage.day,
            Usage.model,
            func.sum(Usage.requests),
            func.sum(Usage.prompt_tokens),
            func.sum(Usage.completion_tokens),
            func.sum(Usage.web_searches),
        ]
        group = [Usage.day, Usage.model]
        if user_id is None:
            cols.insert(0, User.name)
            cols.insert(0, Usage.user_id)
            group = [Usage.user_id, User.name, *group]
        with self.db.session() as s:
            query = select(*cols).where(Usage.day >= since).group_by(*group)
            if user_id is None:
                query = query.join(User, User.id == Usage.user_id)
            else:
                query = query.where(Usage.user_id == user_id)
            rows = s.execute(query.order_by(*group)).all()
        data = []
        for row in rows:
            values = list(row)
            item: dict[str, Any] = {}
            if user_id is None:
                item["user_id"], item["user"] = values.pop(0), values.pop(0)
            day, model, requests, prompt, completion, searches = values
            item.update(
                day=day,
                model=model,
                requests=int(requests),
                prompt_tokens=int(prompt),
                completion_tokens=int(completion),
                total_tokens=int(prompt) + int(completion),
                web_searches=int(searches),
            )
            data.append(item)
        return {"object": "list", "data": data}
