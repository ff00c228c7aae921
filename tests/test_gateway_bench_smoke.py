"""The gateway benchmark runs end to end with tiny sizes (figures unchecked, errors not)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# --accounts: Causerie with an admin account, every request sent with a metered API key;
# --soak-users: the soak's clients each with their own key, spread over several users.
ACCOUNTS = ["--accounts", "--soak-users", "3"]


@pytest.mark.parametrize("mode", [[], ACCOUNTS], ids=["single-user", "accounts"])
def test_gateway_bench_measures_every_path(
    tmp_path: Path, mode: list[str], request: pytest.FixtureRequest
) -> None:
    out = tmp_path / "gateway.json"
    if mode:  # with accounts, Causerie on PostgreSQL is measured too (a real server)
        mode = [*mode, "--postgresql", request.getfixturevalue("postgres").fresh()]
    cmd = [sys.executable, "-m", "bench.gateway", "--seconds", "1", "--warmup", "0.5", *mode]
    cmd += ["--rounds", "1", "--concurrency", "2", "--tokens", "50"]
    cmd += ["--soak-seconds", "2", "--soak-streams", "4", "--soak-pace-ms", "5"]
    cmd += ["--soak-tokens", "20", "--litellm", str(tmp_path / "no-litellm"), "--json", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LiteLLM not found" in done.stdout and "Comparison (same run):" in done.stdout

    figures = json.loads(out.read_text())
    assert figures["accounts"] is bool(mode)
    cells = {c["gateway"]: c for c in figures["cells"]}
    assert set(cells) == {"direct", "relay", "causerie"} | ({"causerie-pg"} if mode else set())
    assert figures["postgresql"] is bool(mode)
    if mode:
        assert "Causerie on PostgreSQL CPU/request" in done.stdout
    for cell in cells.values():
        assert cell["requests"] > 0 and cell["errors"] == 0, cell
    assert cells["causerie"]["cpu_ms_per_request"] > 0 and cells["causerie"]["rss_mb"] > 0
    soak = figures["soak"]
    assert soak["requests"] > 0 and soak["errors"] == 0
    if mode:  # 3 users, a key per stream, and no way in without one
        assert soak["users"] == 3 and soak["api_keys"] == 4
        assert soak["status_without_key"] == 401
    else:
        assert soak["users"] == 0 and soak["status_without_key"] == 200
