"""`causerie eval answers` on a user's own collection and QA file, as a user runs it.

A smoke test on SmolLM2 (the full run on the default model is a benchmark): the report
must be produced, its counts must add up, and it must agree with the answers it lists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from causerie.knowledge.answer_eval import has_keyword
from tests.support import smol_model, write_config

QA = [
    {"id": "a1", "question": "When was the Ar-Men light automated?", "keywords": ["1990"]},
    {
        "id": "f1",
        "history": ["Who built the Ar-Men lighthouse?"],
        "question": "In which years?",
        "keywords": ["1867", "1881"],
    },
    {"id": "n1", "question": "Who won the football World Cup in 1998?", "keywords": []},
]
NOTES = """# Lighthouses

The lighthouse of Ar-Men stands on a rock off the island of Sein.
Ar-Men was built between 1867 and 1881 by the lighthouse service.
The Ar-Men light was automated in 1990.
"""


def _causerie(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causerie", *args], capture_output=True, text=True, timeout=600
    )


def test_eval_answers_on_own_collection(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", [smol_model()], 'default_model = "smollm2"')
    (tmp_path / "notes.md").write_text(NOTES)
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(row) + "\n" for row in QA))
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    done = _causerie("ingest", str(tmp_path / "notes.md"), "-c", "notes", *common)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "report.json"
    args = ["eval", "answers", "--collection", "notes", "--qa", str(qa), "--json", str(out)]
    # One variant keeps the smoke test short (under a minute loaded); the comparison of
    # variants is the benchmark's job (bench/README.md).
    run = _causerie(*args, "--variant", "pipeline", *common)
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert set(report["summary"]) == {"pipeline"}
    assert "pipeline  all" in run.stdout
    for variant, results in report["results"].items():
        assert [r["id"] for r in results] == ["a1", "f1", "n1"]
        total = report["summary"][variant]["all"]
        kinds = {k: s for k, s in report["summary"][variant].items() if k != "all"}
        assert set(kinds) == {"en", "follow-up", "unanswerable"}
        counts = ("questions", "answerable", "correct", "cited", "abstained", "bare")
        for key in (*counts, "right_claims", "flagged_right", "wrong_claims", "passed_wrong"):
            assert total[key] == sum(s[key] for s in kinds.values()), key
        assert (total["answerable"], total["unanswerable"]) == (2, 1)
        for r, item in zip(results, QA, strict=True):  # the verdicts follow the answers
            assert r["correct"] == (
                bool(item["keywords"]) and has_keyword(r["answer"], tuple(item["keywords"]))
            )
            assert r["cited"] <= r["correct"]
            assert r["flagged_right"] <= r["right_claims"]
            assert r["passed_wrong"] <= r["wrong_claims"]
            # Wrong is judged on the model's own text: the checker may have caught it.
            wrong = bool(item["keywords"]) and not has_keyword(r["raw"], tuple(item["keywords"]))
            assert r["wrong_claims"] == 0 or wrong
        assert total["correct"] == sum(r["correct"] for r in results)
        assert total["ttft_median"] <= total["ttft_p90"]
    assert report["summary"]["pipeline"]["all"]["bare"] == 0  # never an empty reply
    assert report["results"]["pipeline"][2]["abstained"]  # nothing found: said so

    run = _causerie(*args, "--evidence-only", *common)  # no model: the evidence alone
    assert run.returncode == 0, run.stderr
    evidence = json.loads(out.read_text())["evidence"]
    assert set(evidence) == {"naive", "evidence", "pipeline"}
    for variant in evidence.values():
        assert variant["all"]["answerable"] == 2
        assert variant["en"]["in_evidence"] == 1  # "automated in 1990" is found by all
        for row in variant.values():  # every miss says the stage that lost it
            assert sum(row["lost_at"].values()) == row["answerable"] - row["in_evidence"]
            assert set(row["lost_at"]) <= {"search", "relevance", "chunks", "sentences"}
    # The pipeline searches a follow-up with the turn before it ("In which years?").
    assert evidence["pipeline"]["follow-up"]["in_evidence"] == 1


def test_eval_answers_rejects_a_bad_qa_file(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "ok?", "keywords": ["x"]}\n{"question": "", "keywords": []}\n')
    run = _causerie("eval", "answers", "--qa", str(qa), "--data-dir", str(tmp_path))
    assert run.returncode != 0
    assert "line 2: 'question' must be a non-empty string" in run.stderr
