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
from tests.knowledge_support import term_counts


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


def test_postgresql_term_counts_follow_every_write(postgres) -> None:  # type: ignore[no-untyped-def]
    """knowledge_terms (full-text statistics) matches the chunks after inserts, a COPY,
    a document deleted and a collection deleted (cascade): the triggers of 0020."""
    from causerie.knowledge.tables import Collection, Document
    from causerie.store.models import LOCAL_USER_ID

    db = Database(make_engine(postgres.fresh()))
    db.prepare()
    recount = text(
        "SELECT c.collection_id, u.lexeme, count(*) FROM knowledge_chunks c, "
        "unnest(c.search_vector) AS u GROUP BY 1, 2"
    )
    stored = text("SELECT collection_id, term, chunks FROM knowledge_terms")

    def check(expected_terms: int) -> None:
        with db.engine.connect() as conn:
            counts = {(c, t): n for c, t, n in conn.execute(stored)}
            assert counts == {(c, t): n for c, t, n in conn.execute(recount)}
            assert len(counts) == expected_terms

    _add_chunks(
        db,
        {
            "d1": ("a", ["Les paquets Debian", "paquets et sources"]),
            "d2": ("b", ["Debian GNU Linux"]),
        },
    )
    # a: les, paquets (2), debian, et, sources; b: debian, gnu, linux
    check(8)
    with db.engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(
            "COPY knowledge_chunks (document_id, collection_id, owner_id, ordinal, text, "
            'start, "end", embedding) FROM STDIN'
        ) as cp:
            cp.write_row(("d2", "b", LOCAL_USER_ID, 1, "Linux et Hurd", 0, 1, b""))
    check(10)  # b gains et, hurd; linux counts 2
    with db.session() as s:
        s.delete(s.get(Document, "d1"))
    check(5)
    with db.session() as s:
        s.delete(s.get(Collection, "b"))
    check(0)
    db.engine.dispose()


def _sqlite_counts(engine) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """(knowledge_terms, the same counted from FTS5's index)."""
    return term_counts(str(engine.url))


def _add_chunks(db: Database, texts: dict[str, tuple[str, list[str]]]) -> None:
    from causerie.knowledge.tables import ChunkRow, Collection, Document
    from causerie.store.models import LOCAL_USER_ID

    with db.session() as s:
        for col in sorted({col for col, _ in texts.values()}):
            if s.get(Collection, col) is None:
                s.add(Collection(id=col, owner_id=LOCAL_USER_ID, name=col))
        s.flush()
        for doc, (col, chunks) in texts.items():
            s.add(
                Document(
                    id=doc, owner_id=LOCAL_USER_ID, collection_id=col, name=doc, source=doc,
                    format="text", sha256=doc, size=1, text="", embedder="x",
                    chunk_count=len(chunks),
                )
            )  # fmt: skip
            s.flush()
            for i, t in enumerate(chunks):
                s.add(
                    ChunkRow(
                        document_id=doc, collection_id=col, owner_id=LOCAL_USER_ID, ordinal=i,
                        text=t, start=0, end=len(t), embedding=b"",
                    )
                )  # fmt: skip


def test_sqlite_term_counts_follow_every_write(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """knowledge_terms matches FTS5's index after inserts, a text update, a document
    deleted and a collection deleted (cascade): the triggers of 0023."""
    from causerie.knowledge.tables import ChunkRow, Collection, Document

    db = Database(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    db.prepare()

    def check(expected_terms: int) -> None:
        stored, recounted = _sqlite_counts(db.engine)
        assert stored == recounted
        assert len(stored) == expected_terms

    _add_chunks(
        db,
        {
            "d1": ("a", ["Les paquets Debian", "paquets et sources, les PAQUETS"]),
            "d2": ("b", ["Debian GNU Linux"]),
        },
    )
    check(8)  # a: les (2), paquets (2), debian, et, sources; b: debian, gnu, linux
    with db.session() as s:  # re-written in place: élève is folded as FTS5 folds it
        chunk = s.query(ChunkRow).filter_by(document_id="d2").one()
        chunk.text = "Élève Linux et Hurd"
    check(9)  # b: eleve, linux, et, hurd (debian, gnu gone)
    with db.session() as s:
        s.delete(s.get(Document, "d1"))
    check(4)
    with db.session() as s:
        s.delete(s.get(Collection, "b"))
    check(0)
    db.engine.dispose()


def test_sqlite_term_counts_are_back_filled_by_the_migration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Chunks indexed before 0023 are counted by its upgrade, as its triggers count."""
    from alembic import command

    from causerie.store.db import _alembic_config
    from causerie.store.models import LOCAL_USER_ID, User

    db = Database(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    cfg = _alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0022_term_counts")
    with db.session() as s:
        s.add(User(id=LOCAL_USER_ID, name="local"))
    _add_chunks(db, {"d1": ("a", ["un deux", "deux trois"]), "d2": ("b", ["deux"])})
    db.prepare()
    stored, recounted = _sqlite_counts(db.engine)
    expected = {("a", "un"): 1, ("a", "deux"): 2, ("a", "trois"): 1, ("b", "deux"): 1}
    assert stored == recounted == expected
    db.engine.dispose()


# Latin with accents, combining marks, Greek, Cyrillic, Arabic, Devanagari, Thai, CJK,
# ligatures and full-width forms, private use, emoji, mathematical letters.
_BLOCKS = [(0x20, 0x250), (0x300, 0x370), (0x370, 0x530), (0x600, 0x700), (0x900, 0x980),
           (0xE00, 0xE80), (0x1E00, 0x1F00), (0x3000, 0x3100), (0x4E00, 0x4E80),
           (0xE000, 0xE010), (0xFB00, 0xFB10), (0xFF00, 0xFF70), (0x1D400, 0x1D480),
           (0x1F600, 0x1F610)]  # fmt: skip


def test_sqlite_term_counts_tokenize_as_fts5_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The triggers tokenize a chunk again (FTS3's tokenizer table): on random text from
    many scripts they find exactly the terms FTS5 indexed."""
    import random

    rng = random.Random(12)
    texts = [
        "".join(chr(rng.randrange(*rng.choice(_BLOCKS))) for _ in range(rng.randint(1, 80)))
        for _ in range(400)
    ]
    db = Database(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    db.prepare()
    _add_chunks(db, {"d1": ("a", texts[:200]), "d2": ("b", texts[200:])})
    stored, recounted = _sqlite_counts(db.engine)
    assert stored == recounted and len(stored) > 1000
    db.engine.dispose()
