"""Rate limits, daily token quotas and usage accounting, kept in the shared database.

Counters live in the database rather than in memory so that several server processes on
one database agree: each admission is one transaction whose upsert the database
serialises, so two processes can never both take the last request of a minute.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from causerie.errors import Busy
from causerie.services.auth import Principal
from causerie.store.accounts import ApiKey, RateWindow, Usage
from causerie.store.db import Database
from causerie.store.models import User

log = logging.getLogger(__name__)


class RateLimited(Busy):
    """A user or key is over its requests per minute or tokens per day."""

    code = "rate_limit_exceeded"


def _upsert(session: Session, table: Any) -> Any:
    name = session.get_bind().dialect.name
    dialect = postgresql if name == "postgresql" else sqlite
    return dialect.insert(table)


def _today(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def _seconds_to_midnight(now: float) -> float:
    at = datetime.fromtimestamp(now, UTC)
    midnight = (at + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - at).total_seconds()


class QuotaService:
    """Admits metered requests (model calls) and records what they consumed."""

    def __init__(self, db: Database):
        self.db = db

    def admit(self, principal: Principal, now: float | None = None) -> None:
        """Count one request against its user and key; RateLimited (429) when over a limit."""
        now = time.time() if now is None else now
        with self.db.session() as s:
            user = s.get(User, principal.user_id)
            key = s.get(ApiKey, principal.key_id) if principal.key_id else None
            self._check_tokens(s, principal, user, key, now)
            minute = int(now // 60)
            limits = [(f"user:{principal.user_id}", user.requests_per_minute if user else None)]
            if key is not None:
                limits.append((f"key:{key.id}", key.requests_per_minute))
            for subject, limit in limits:
                if limit is None:
                    continue
                count = self._count(s, subject, minute)
                if count > limit:
                    # Raising rolls the transaction back: a refused request is not counted.
                    raise RateLimited(
                        f"Rate limit reached: {limit} requests per minute "
                        f"({subject.split(':')[0]}). Try again shortly.",
                        retry_after=60 - now % 60,
                    )

    @staticmethod
    def _count(s: Session, subject: str, minute: int) -> int:
        s.execute(
            delete(RateWindow).where(RateWindow.subject == subject, RateWindow.minute < minute)
        )
        stmt = _upsert(s, RateWindow).values(subject=subject, minute=minute, count=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["subject", "minute"], set_={"count": RateWindow.count + 1}
        ).returning(RateWindow.count)
        return int(s.execute(stmt).scalar_one())

    @staticmethod
    def _check_tokens(
        s: Session, principal: Principal, user: User | None, key: ApiKey | None, now: float
    ) -> None:
        day = _today(now)
        total = func.coalesce(func.sum(Usage.prompt_tokens + Usage.completion_tokens), 0)
        checks = []
        if user is not None and user.tokens_per_day is not None:
            checks.append(("user", user.tokens_per_day, Usage.user_id == principal.user_id))
        if key is not None and key.tokens_per_day is not None:
            checks.append(("key", key.tokens_per_day, Usage.key_id == key.id))
        for who, limit, where in checks:
            used = s.scalar(select(total).where(where, Usage.day == day)) or 0
            if used >= limit:
                raise RateLimited(
                    f"Daily token quota reached: {used} of {limit} tokens used today ({who}).",
                    retry_after=_seconds_to_midnight(now),
                )

    def record(self, user_id: str, key_id: str | None, model: str, usage: dict[str, Any]) -> None:
        """Add one finished request's tokens to today's row for its user, key and model."""
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        with self.db.session() as s:
            stmt = _upsert(s, Usage).values(
                user_id=user_id,
                key_id=key_id or "",
                model=model,
                day=_today(time.time()),
                requests=1,
                prompt_tokens=prompt,
                completion_tokens=completion,
            )
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["user_id", "key_id", "model", "day"],
                    set_={
                        "requests": Usage.requests + 1,
                        "prompt_tokens": Usage.prompt_tokens + prompt,
                        "completion_tokens": Usage.completion_tokens + completion,
                    },
                )
            )

    def report(self, user_id: str | None, days: int = 30) -> dict[str, Any]:
        """Usage per day and model (and user, for the admin's view of everyone)."""
        since = _today(time.time() - days * 86400)
        cols = [
            Usage.day,
            Usage.model,
            func.sum(Usage.requests),
            func.sum(Usage.prompt_tokens),
            func.sum(Usage.completion_tokens),
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
            day, model, requests, prompt, completion = values
            item.update(
                day=day,
                model=model,
                requests=int(requests),
                prompt_tokens=int(prompt),
                completion_tokens=int(completion),
                total_tokens=int(prompt) + int(completion),
            )
            data.append(item)
        return {"object": "list", "data": data}
