"""Accounts: users with argon2 passwords, API keys, web sessions; who is asking.

API keys are checked on every /v1 call, so a key's principal (user, role and limits) is
kept in memory for `AUTH_CACHE_SECONDS` after it was read from the database. Revoking a key,
or changing or disabling its user, empties this process's cache at once; another process
sharing the database sees the change within `AUTH_CACHE_SECONDS`. Whether any account exists
(single-user mode or not) is cached the same way until the first account is seen, after
which it stays true (accounts are disabled, never deleted).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from causerie.errors import AuthenticationError, CauserieError, InvalidRequest, NotFound
from causerie.services.claim import claim_local
from causerie.store.accounts import ApiKey, WebSession
from causerie.store.db import Database
from causerie.store.models import LOCAL_USER_ID, User, utcnow

KEY_PREFIX = "csk-"
ROLES = ("admin", "user")
MIN_PASSWORD = 8
# A key's last_used_at is written at most this often: one write per request would
# serialise every API call on the database's single writer.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# How long another process's revocation, disabling or limit change may take to apply here.
AUTH_CACHE_SECONDS = 2.0
# Beyond this many cached keys the cache starts over (bounds memory, not correctness).
MAX_CACHED_KEYS = 10_000


class PermissionDenied(CauserieError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


@dataclass(frozen=True)
class Limits:
    """Requests per minute and tokens per day of a user or key (None: unlimited)."""

    requests_per_minute: int | None = None
    tokens_per_day: int | None = None


UNLIMITED = Limits()


@dataclass(frozen=True)
class Principal:
    """The user a request acts for, how it proved it, and the limits it is under."""

    user_id: str
    name: str
    role: str
    via: str  # local | key | session
    key_id: str | None = None
    csrf_token: str | None = None  # the session's, for cookie-authenticated requests
    user_limits: Limits = UNLIMITED
    key_limits: Limits = UNLIMITED

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


LOCAL = Principal(LOCAL_USER_ID, "local", "admin", "local")


def sha256(text: str) -> str:
    """Hex SHA-256 of a high-entropy secret (keys, session tokens)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    # SQLite hands datetimes back naive; they were written in UTC.
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _has_admin(s: Any) -> bool:
    admins = select(User.id).where(User.role == "admin", User.id != LOCAL_USER_ID)
    return s.scalar(admins.limit(1)) is not None


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}.", param="role")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(
            f"The password needs at least {MIN_PASSWORD} characters.",
            param="password",
            code="password_too_short",
        )


def _limits(row: User | ApiKey) -> Limits:
    return Limits(row.requests_per_minute, row.tokens_per_day)


def user_json(u: User) -> dict[str, Any]:
    """The public view of a user (never the password hash)."""
    return {
        "id": u.id,
        "object": "user",
        "name": u.name,
        "email": u.email,
        "role": u.role,
        "disabled": u.disabled,
        "requests_per_minute": u.requests_per_minute,
        "tokens_per_day": u.tokens_per_day,
        "web_searches_per_day": u.web_searches_per_day,
        "created_at": _aware(u.created_at).isoformat(),
    }


def key_json(k: ApiKey) -> dict[str, Any]:
    """The public view of an API key (its prefix, never the key)."""
    return {
        "id": k.id,
        "object": "api_key",
        "name": k.name,
        "prefix": k.prefix,
        "created_at": _aware(k.created_at).isoformat(),
        "last_used_at": _aware(k.last_used_at).isoformat() if k.last_used_at else None,
        "revoked_at": _aware(k.revoked_at).isoformat() if k.revoked_at else None,
        "requests_per_minute": k.requests_per_minute,
        "tokens_per_day": k.tokens_per_day,
        "web_searches_per_day": k.web_searches_per_day,
    }


class AuthService:
    """Users, API keys and web sessions, all in the database (shared by every process)."""

    def __init__(self, db: Database, session_hours: int = 24 * 14):
        self.db = db
        self.session_lifetime = timedelta(hours=session_hours)
        self._hasher = PasswordHasher()
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, Principal]] = {}  # key sha256 -> (expiry, principal)
        self._generation = 0  # bumped by every change that empties the cache
        self._accounts_exist = False
        self._accounts_checked = float("-inf")

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """Verified against when the user is unknown, so timing does not reveal who exists.

        Made on first use, not at start-up: one argon2 hash takes 0.12 s here (0.3 s on a
        loaded machine) and `serve` and every `causerie users` command build this service.
        Only the process's first unknown-name login pays it (hash + verify, once).
        """
        return self._hasher.hash(secrets.token_urlsafe(16))

    # -- users ---------------------------------------------------------------------------

    def accounts_exist(self) -> bool:
        """True once any real user exists: from then on every API call needs credentials."""
        if self._accounts_exist:
            return True
        now = time.monotonic()
        if now - self._accounts_checked < AUTH_CACHE_SECONDS:
            return False
        with self.db.session() as s:
            found = s.scalar(select(User.id).where(User.id != LOCAL_USER_ID).limit(1)) is not None
        self._accounts_exist, self._accounts_checked = found, now
        return found

    def _forget(self) -> None:
        """Drop cached principals: a key, a user's role, state or limits changed."""
        with self._lock:
            self._keys.clear()
            self._generation += 1

    def create_user(
        self,
        name: str,
        password: str,
        *,
        role: str = "user",
        email: str | None = None,
        requests_per_minute: int | None = None,
        tokens_per_day: int | None = None,
        web_searches_per_day: int | None = None,
        claim_local_data: bool = False,
    ) -> dict[str, Any]:
        """A new user with an argon2-hashed password.

        The first administrator (or any user created with claim_local_data) takes over what
        was made in single-user mode; "claimed" says how much.
        """
        name = name.strip()
        if not name or len(name) > 200 or name == LOCAL_USER_ID:
            raise InvalidRequest("Invalid user name.", param="name")
        _check_role(role)
        _check_password(password)
        user = User(
            name=name,
            email=email.strip().lower() if email else None,
            password_hash=self._hasher.hash(password),
            role=role,
            requests_per_minute=requests_per_minute,
            tokens_per_day=tokens_per_day,
            web_searches_per_day=web_searches_per_day,
        )
        claimed: dict[str, int] = {}
        try:
            with self.db.session() as s:
                first_admin = role == "admin" and not _has_admin(s)
                s.add(user)
                s.flush()
                if first_admin or claim_local_data:
                    claimed = claim_local(s, user.id)
        except IntegrityError:
            raise InvalidRequest(
                "A user with this name or email already exists.", param="name"
            ) from None
        self._accounts_exist = True
        return {**user_json(user), "claimed": claimed}

    def claim_local(self, user_id: str) -> dict[str, int]:
        """Give an existing user what the local user still owns."""
        with self.db.session() as s:
            self._user(s, user_id)
            return claim_local(s, user_id)

    def list_users(self) -> list[dict[str, Any]]:
        """Every real user, oldest first."""
        with self.db.session() as s:
            users = s.scalars(
                select(User).where(User.id != LOCAL_USER_ID).order_by(User.created_at, User.name)
            )
            return [user_json(u) for u in users]

    def get_user(self, user_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            return user_json(self._user(s, user_id))

    def find_user(self, name: str) -> dict[str, Any]:
        """A user by name (CLI)."""
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None or user.id == LOCAL_USER_ID:
                raise NotFound(f"No user named '{name}'.")
            return user_json(user)

    def update_user(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change role, disabled, limits or password.

        Disabling and a new password end the user's sessions: a reset is what an admin
        does when a password may be known to someone else, who may be signed in.
        """
        with self.db.session() as s:
            user = self._user(s, user_id)
            limits = ("requests_per_minute", "tokens_per_day", "web_searches_per_day")
            for field in ("role", "disabled", *limits, "email"):
                if field in changes:
                    setattr(user, field, changes[field])
            _check_role(user.role)
            if changes.get("password") is not None:
                _check_password(changes["password"])
                user.password_hash = self._hasher.hash(changes["password"])
            if user.disabled or changes.get("password") is not None:
                for session in s.scalars(select(WebSession).where(WebSession.user_id == user.id)):
                    s.delete(session)
            result = user_json(user)
        self._forget()  # after the commit, so that no reload can see the old row
        return result

    def change_password(self, user_id: str, current: str, new: str, keep: str | None) -> None:
        """A user's own password change, proven by the current one.

        Every other session of the user ends (one may be an intruder's); `keep`, the
        session token that asked, stays signed in.
        """
        _check_password(new)
        with self.db.session() as s:
            user = self._user(s, user_id)
            try:
                self._hasher.verify(user.password_hash or self._dummy_hash, current or "-")
            except (VerificationError, InvalidHashError):
                # Not 401: the session is fine, only the proof is wrong.
                raise InvalidRequest(
                    "The current password is wrong.",
                    param="current_password",
                    code="wrong_password",
                ) from None
            user.password_hash = self._hasher.hash(new)
            kept = sha256(keep) if keep else None
            for session in s.scalars(select(WebSession).where(WebSession.user_id == user.id)):
                if session.token_hash != kept:
                    s.delete(session)

    @staticmethod
    def _user(s: Any, user_id: str) -> User:
        user = s.get(User, user_id)
        if user is None or user.id == LOCAL_USER_ID:
            raise NotFound(f"No user with id '{user_id}'.")
        return user

    # -- sessions ------------------------------------------------------------------------

    def login_subject(self, name: str) -> str:
        """Who a sign-in name means, for counting failures: the user's id if it names one.

        The name and the email of one account must share one budget of guesses.
        """
        wanted = name.strip()
        with self.db.session() as s:
            user_id = s.scalar(
                # Case-folded like the count always was: "Bob" spends bob's guesses.
                select(User.id).where(
                    (func.lower(User.name) == wanted.lower()) | (User.email == wanted.lower())
                )
            )
        return f"user:{user_id}" if user_id else wanted.lower()

    def login(self, name: str, password: str) -> tuple[str, str, dict[str, Any]]:
        """(session token, CSRF token, user) for a right name and password."""
        with self.db.session() as s:
            user = s.scalar(
                select(User).where(
                    (User.name == name.strip()) | (User.email == name.strip().lower())
                )
            )
            ok = user is not None and user.password_hash is not None and not user.disabled
            try:
                self._hasher.verify(
                    user.password_hash if ok and user else self._dummy_hash, password or "-"
                )
            except (VerificationError, InvalidHashError):
                ok = False
            if not ok or user is None:
                raise AuthenticationError("Wrong user name or password.", code="invalid_login")
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            s.add(
                WebSession(
                    token_hash=sha256(token),
                    user_id=user.id,
                    csrf_token=csrf,
                    expires_at=utcnow() + self.session_lifetime,
                )
            )
            return token, csrf, user_json(user)

    def logout(self, token: str) -> None:
        with self.db.session() as s:
            session = s.get(WebSession, sha256(token))
            if session is not None:
                s.delete(session)

    def from_session(self, token: str) -> Principal:
        """The principal of a session cookie, or 401."""
        with self.db.session() as s:
            session = s.get(WebSession, sha256(token))
            if session is None or _aware(session.expires_at) < utcnow():
                raise AuthenticationError("Your session has expired; log in again.")
            user = s.get(User, session.user_id)
            if user is None or user.disabled:
                raise AuthenticationError("This account is disabled.")
            return Principal(
                user.id,
                user.name,
                user.role,
                "session",
                None,
                session.csrf_token,
                user_limits=_limits(user),
            )

    # -- API keys ------------------------------------------------------------------------

    def create_key(
        self,
        user_id: str,
        name: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_day: int | None = None,
        web_searches_per_day: int | None = None,
    ) -> dict[str, Any]:
        """A new key; the returned `key` is the only time it is ever shown."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            user_id=user_id,
            name=name.strip() or "key",
            prefix=key[:12],
            key_hash=sha256(key),
            requests_per_minute=requests_per_minute,
            tokens_per_day=tokens_per_day,
            web_searches_per_day=web_searches_per_day,
        )
        with self.db.session() as s:
            s.add(row)
        return {**key_json(row), "key": key}

    def list_keys(self, user_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            keys = s.scalars(
                select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at)
            )
            return [key_json(k) for k in keys]

    def revoke_key(self, user_id: str, key_id: str) -> dict[str, Any]:
        """Revoke one of this user's keys; someone else's key is 404, like a missing one."""
        with self.db.session() as s:
            key = s.get(ApiKey, key_id)
            if key is None or key.user_id != user_id:
                raise NotFound(f"No API key with id '{key_id}'.")
            key.revoked_at = key.revoked_at or utcnow()
            result = key_json(key)
        self._forget()
        return result

    def from_key(self, key: str) -> Principal:
        """The principal of a Bearer key, or 401 (the message never echoes the key)."""
        if not key.startswith(KEY_PREFIX):
            # Not one of ours (e.g. the dummy key of an SDK in single-user mode): no lookup.
            raise AuthenticationError("Incorrect or revoked API key provided.")
        digest = sha256(key)
        with self._lock:
            expiry, principal = self._keys.get(digest, (0.0, None))
            generation = self._generation
        if principal is not None and time.monotonic() < expiry:
            return principal
        principal = self._load_key(digest)
        with self._lock:
            # A revocation committed while we read must not be undone by a stale entry.
            if generation == self._generation:
                if len(self._keys) >= MAX_CACHED_KEYS:
                    self._keys.clear()
                self._keys[digest] = (time.monotonic() + AUTH_CACHE_SECONDS, principal)
        return principal

    def _load_key(self, digest: str) -> Principal:
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            if row is None or row.revoked_at is not None:
                raise AuthenticationError("Incorrect or revoked API key provided.")
            user = s.get(User, row.user_id)
            if user is None or user.disabled:
                raise AuthenticationError("The account of this API key is disabled.")
            now = utcnow()
            if row.last_used_at is None or now - _aware(row.last_used_at) > LAST_USED_RESOLUTION:
                row.last_used_at = now
            return Principal(
                user.id,
                user.name,
                user.role,
                "key",
                row.id,
                user_limits=_limits(user),
                key_limits=_limits(row),
            )


def csrf_ok(principal: Principal, header: str | None) -> bool:
    """The double-submitted CSRF header matches the session's token."""
    expected = principal.csrf_token or ""
    return bool(header) and hmac.compare_digest(expected.encode(), (header or "").encode())
