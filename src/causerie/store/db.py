"""Database engine, SQLite pragmas and migrations, created at start-up."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from causerie.store.folding import sqlite_translate
from causerie.store.models import LOCAL_USER_ID, Message, User, utcnow

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed 64-bit key: replicas starting together take turns migrating on it.
MIGRATION_LOCK = 0x6361757365726965  # "causerie"
# A live reply is written at least this often (it waits at most read_timeout, 120 s by
# default, for its model); one silent for longer lost its process.
ORPHANED_AFTER_SECONDS = 600


def make_engine(url: str) -> Engine:
    """An engine; for SQLite, WAL mode, foreign keys and a busy timeout on every connection."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    _switch_to_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
    # PostgreSQL's translate(), which accent-insensitive search uses (store/folding.py).
    dbapi_conn.create_function("translate", 3, sqlite_translate, deterministic=True)
    # SQLite's own lower() folds ASCII only; search must fold "É" and "Д" as Python does.
    dbapi_conn.create_function("lower", 1, _lower, deterministic=True)


def _switch_to_wal(cur) -> None:  # type: ignore[no-untyped-def]
    # Turning a fresh file to WAL while another process does the same can fail at once
    # with "database is locked": SQLite does not call the busy handler there. The first
    # to succeed makes the file WAL for good, so a retry soon finds it done.
    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _lower(text: str | None) -> str | None:
    return text.lower() if isinstance(text, str) else text


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def migration_scripts() -> ScriptDirectory:
    """The Alembic revisions this code knows."""
    return ScriptDirectory.from_config(_alembic_config())


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Held to the end of this transaction: a replica waits for the one migrating,
            # then finds the schema at head and does nothing.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        else:
            # pysqlite runs DDL outside any transaction, so two processes migrating one
            # file both created alembic_version (the second failed). The write lock taken
            # now is held to the commit: the other waits (busy timeout), then finds head.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def revision(engine: Engine) -> str | None:
    """The schema's current Alembic revision; None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _ensure_local_user(s: Session) -> None:
    """Insert the local user unless there: replicas starting together each try at once."""
    dialect = s.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    s.execute(
        insert(User)
        .values(id=LOCAL_USER_ID, name="local", created_at=utcnow())
        .on_conflict_do_nothing()  # on id or on the unique name: either is the same row
    )


class Database:
    """Sessions on one engine."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def prepare(self) -> None:
        """Migrate, ensure the local user exists, and mark replies a crash cut off."""
        migrate(self.engine)
        with self.session() as s:
            _ensure_local_user(s)
            # A reply still 'streaming' at start-up lost its writer: the process died.
            # On PostgreSQL other replicas may be streaming right now: only replies
            # silent for longer than any live stream can be are taken as orphaned.
            orphaned = Message.status == "streaming"
            if self.engine.dialect.name == "postgresql":
                stale = utcnow() - timedelta(seconds=ORPHANED_AFTER_SECONDS)
                orphaned = orphaned & (Message.updated_at < stale)
            s.execute(
                update(Message)
                .where(orphaned)
                .values(status="interrupted", error="the server stopped during this reply")
            )

    def ping(self) -> bool:
        """True when the database answers."""
        with self.session() as s:
            s.execute(select(1))
        return True
