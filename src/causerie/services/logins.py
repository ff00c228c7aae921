"""Login lockout: too many failed sign-ins for an account, or from an address, mean 429.

Failures are rows in the shared database, not counters in memory, so that several server
processes (or a restarted one) agree: a guesser cannot spread attempts over processes.
Two concurrent attempts may both pass the check before either failure is written; that
lets at most one extra guess per process through, which does not change the picture.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from causerie.errors import AuthenticationError, Busy
from causerie.services.auth import sha256
from causerie.store.accounts import LoginFailure
from causerie.store.db import Database

T = TypeVar("T")


class LoginLocked(Busy):
    """An account or address is locked out after too many failed sign-ins."""

    code = "too_many_login_attempts"

    def body(self) -> dict:
        """Extension: the wait in seconds, for the UI's own wording."""
        out = super().body()
        out["error"]["retry_after"] = math.ceil(self.retry_after)
        return out


def unlock(db: Database, subjects: list[str]) -> int:
    """Forget the failed sign-ins counted under these subjects (one account's); how many."""
    keys = [sha256("account:" + n.strip().lower()) for n in subjects if n]
    with db.session() as s:
        return s.execute(delete(LoginFailure).where(LoginFailure.subject.in_(keys))).rowcount


class LoginThrottle:
    """Counts failed sign-ins per account and per address over a sliding window."""

    def __init__(
        self, db: Database, per_account: int, per_address: int, window_seconds: float
    ) -> None:
        self.db = db
        self.per_account = per_account
        self.per_address = per_address
        self.window = window_seconds

    def guard(self, name: str, address: str, attempt: Callable[[], T]) -> T:
        """Run `attempt` (a password check) unless locked out; count it if it fails.

        A locked-out sign-in is refused even with the right password (otherwise the lock
        would still tell a guesser when they got it right), and without checking it.
        """
        # Hashed: a name field sometimes receives a password typed in the wrong box.
        account = sha256("account:" + name.strip().lower())
        place = sha256("address:" + address)
        now = time.time()
        with self.db.session() as s:
            self._refuse_if_locked(s, account, self.per_account, now, "for this account")
            self._refuse_if_locked(s, place, self.per_address, now, "from this address")
        try:
            result = attempt()
        except AuthenticationError:
            self._record(account, place, now)
            raise
        # The owner got in: earlier typos must not count towards a later lockout. The
        # address keeps its count, or one known account would reset a guesser's budget.
        with self.db.session() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.subject == account))
        return result

    def _refuse_if_locked(
        self, s: Session, subject: str, limit: int, now: float, what: str
    ) -> None:
        recent = (LoginFailure.subject == subject) & (LoginFailure.at > now - self.window)
        if s.scalar(select(func.count()).select_from(LoginFailure).where(recent)) < limit:
            return
        # Unlocked again once the limit-th most recent failure leaves the window.
        newest_first = select(LoginFailure.at).where(recent).order_by(LoginFailure.at.desc())
        pivot = s.scalar(newest_first.offset(limit - 1).limit(1))
        wait = max(1.0, (pivot or now) + self.window - now)
        raise LoginLocked(
            f"Too many failed sign-ins {what}. Try again in {_duration(wait)}.",
            retry_after=wait,
        )

    def _record(self, account: str, place: str, now: float) -> None:
        with self.db.session() as s:
            # Old failures no longer count: prune them here, where the table grows.
            s.execute(delete(LoginFailure).where(LoginFailure.at <= now - self.window))
            s.add_all([LoginFailure(subject=account, at=now), LoginFailure(subject=place, at=now)])


def _duration(seconds: float) -> str:
    if seconds < 90:
        n = math.ceil(seconds)
        return f"{n} second{'s' if n != 1 else ''}"
    n = math.ceil(seconds / 60)
    return f"{n} minutes"
