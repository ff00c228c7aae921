"""Tables of accounts: API keys, web sessions, usage, rate-limit windows, failed logins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from causerie.store.models import Base, new_id, utcnow


class ApiKey(Base):
    """A Bearer key; only its SHA-256 is stored (the key is high-entropy, so no salt)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))  # shown in lists to recognise a key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    requests_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    tokens_per_day: Mapped[int | None] = mapped_column(BigInteger)
    web_searches_per_day: Mapped[int | None] = mapped_column(Integer)


class WebSession(Base):
    """A browser session: the cookie's SHA-256 and the CSRF token bound to it."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Usage(Base):
    """Tokens and requests per user, key ('' for a web session), model and UTC day."""

    __tablename__ = "usage"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    requests: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    web_searches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RateWindow(Base):
    """Requests of one subject ('user:<id>' or 'key:<id>') in one minute since the epoch."""

    __tablename__ = "rate_windows"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class LoginFailure(Base):
    """A failed sign-in, once for its account and once for its address (hashed subjects)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_subject_at", "subject", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch
