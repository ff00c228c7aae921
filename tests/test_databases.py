"""Both supported databases: the same migrations reach head and match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import causerie.knowledge.tables
import causerie.store.accounts  # noqa: F401  (registers the account tables)
from causerie.store.db import _MIGRATIONS, Database, make_engine
from causerie.store.models import Base
from causerie.store.search_objects import include_object


def _head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_a_fresh_database_migrates_to_head_without_drift(database_url: str) -> None:
    db = Database(make_engine(database_url))
    db.prepare()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert ctx.get_current_revision() == _head()
        assert compare_metadata(ctx, Base.metadata) == []
    db.engine.dispose()


def test_postgresql_has_its_search_structures(postgres) -> None:  # type: ignore[no-untyped-def]
    db = Database(make_engine(postgres.fresh()))
    db.prepare()
    columns = {c["name"] for c in inspect(db.engine).get_columns("knowledge_chunks")}
    assert {"search_vector", "embedding_vector"} <= columns
    with db.engine.connect() as conn:
        folded = conn.execute(text("SELECT causerie_fold('Élève ÇA Où')")).scalar()
        kinds = dict(
            conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE tablename = 'knowledge_chunks'"
                )
            ).all()
        )
    assert folded == "eleve ca ou"
    assert "hnsw" in kinds["knowledge_chunks_embedding_hnsw"]
    assert "gin" in kinds["knowledge_chunks_search_vector"]
    db.engine.dispose()


@pytest.mark.parametrize("times", [2])
def test_migrating_again_is_a_no_op(database_url: str, times: int) -> None:
    db = Database(make_engine(database_url))
    for _ in range(times):
        db.prepare()
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == _head()
    db.engine.dispose()


def test_a_replica_starting_leaves_the_live_replies_of_others_alone(postgres) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL, start-up marks only long-silent 'streaming' replies as interrupted."""
    from datetime import timedelta

    from causerie.store.models import LOCAL_USER_ID, Conversation, Message, utcnow

    db = Database(make_engine(postgres.fresh()))
    db.prepare()
    with db.session() as s:
        s.add(Conversation(id="c1", owner_id=LOCAL_USER_ID))
        s.flush()
        old = utcnow() - timedelta(hours=1)
        for mid, at in (("live", utcnow()), ("orphan", old)):
            s.add(
                Message(
                    id=mid, conversation_id="c1", owner_id=LOCAL_USER_ID, role="assistant",
                    status="streaming", updated_at=at,
                )
            )  # fmt: skip
    db.prepare()  # another replica starting
    with db.session() as s:
        assert s.get(Message, "live").status == "streaming"
        assert s.get(Message, "orphan").status == "interrupted"
    db.engine.dispose()
