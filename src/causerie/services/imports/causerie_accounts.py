"""Accounts in a Causerie export: the user's own settings, or every account of an instance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from causerie.knowledge.service import iso
from causerie.store.accounts import ApiKey
from causerie.store.db import Database
from causerie.store.models import User

# The account's settings an administrator sets; the password stays a hash.
LIMITS = ("requests_per_minute", "tokens_per_day", "web_searches_per_day")
USER_FIELDS = ("name", "email", "role", "disabled", *LIMITS)
KEY_FIELDS = ("name", "prefix", "key_hash", *LIMITS)
KEY_TIMES = ("created_at", "last_used_at", "revoked_at")


def account_json(db: Database, owner: str) -> dict[str, Any]:
    """The user's account settings, without secrets (a user export)."""
    with db.session() as s:
        user = s.get_one(User, owner)
        return {f: getattr(user, f) for f in USER_FIELDS}


def users(db: Database) -> Iterator[dict[str, Any]]:
    """Every account with its password hash and API keys (an instance export)."""
    with db.session() as s:
        rows = s.scalars(select(User).order_by(User.created_at, User.id)).all()
        for user in rows:
            keys = s.scalars(select(ApiKey).where(ApiKey.user_id == user.id)).all()
            yield {
                "id": user.id,
                **{f: getattr(user, f) for f in USER_FIELDS},
                "password_hash": user.password_hash,
                "created_at": _iso(user.created_at),
                "api_keys": [
                    {
                        **{f: getattr(k, f) for f in KEY_FIELDS},
                        **{f: _iso(getattr(k, f)) for f in KEY_TIMES},
                    }
                    for k in keys
                ],
            }


def restore_user(db: Database, d: dict[str, Any]) -> tuple[str, bool]:
    """The local id of the exported account d, created (with its keys) if its name is new.

    An account that already exists keeps its own settings and password: a restore adds,
    it never overwrites. Returns (user id, created).
    """
    with db.session() as s:
        known = s.scalar(select(User.id).where(User.name == d["name"]))
        if known is not None:
            return known, False
        fields = {f: d.get(f) for f in USER_FIELDS}
        if s.get(User, d["id"]) is None:  # else a new id: another account has this one
            fields["id"] = d["id"]
        user = User(
            **fields,
            password_hash=d.get("password_hash"),
            created_at=datetime.fromisoformat(d["created_at"]),
        )
        s.add(user)
        s.flush()
        for k in d.get("api_keys") or []:
            if s.scalar(select(ApiKey.id).where(ApiKey.key_hash == k["key_hash"])) is None:
                s.add(ApiKey(user_id=user.id, **_key_fields(k)))
        return user.id, True


def _key_fields(k: dict[str, Any]) -> dict[str, Any]:
    times = {f: datetime.fromisoformat(k[f]) if k.get(f) else None for f in KEY_TIMES}
    return {**{f: k.get(f) for f in KEY_FIELDS}, **times}


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso(at)
