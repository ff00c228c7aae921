"""Where the web step's seconds go before the first token, without the model.

`python -m bench.websearch --index FILE [--limit N] [--json FILE]`: the answer eval's web
setup (the Debian FAQs indexed into FILE once, served as pages by a SearXNG-compatible
engine on 127.0.0.1, knowledge/answer_web.py) and, for each answerable question of the
public QA set, the documents pipeline and the web pipeline grounded in turn (same run, same
process, so a loaded machine slows both alike). Printed: per-stage medians of the web step
(engine call, concurrent fetches, extraction, passages embedded, scoring), the grounding
time of each path (query embedding, gathering, sentence selection: all that runs before the
prompt reaches the model) and how often the answer is inside each path's evidence.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from causerie.knowledge.answer_eval import _opened, default_qa, has_keyword, load_qa, pick
from causerie.knowledge.evidence import Ask, EvidenceSource, Found
from causerie.settings import Settings
from causerie.store.models import LOCAL_USER_ID

STAGES = ("search", "fetch_max", "extract_sum", "read", "embed", "score", "embedded")


class Timed:
    """An evidence source whose gather is timed (the rest of grounding is the difference)."""

    def __init__(self, source: EvidenceSource):
        self.source = source
        self.name = source.name
        self.seconds = 0.0

    def gather(self, ask: Ask) -> Found:
        """The source's passages; how long they took is kept in `seconds`."""
        started = time.perf_counter()
        try:
            return self.source.gather(ask)
        finally:
            self.seconds = time.perf_counter() - started


def _ground(grounder: Any, source: EvidenceSource, body: dict) -> tuple[Any, float, float]:
    """The grounded request, its total seconds and the source's gather seconds."""
    timed = Timed(source)
    started = time.perf_counter()
    grounded = grounder.ground_from([timed], body, LOCAL_USER_ID)
    return grounded, time.perf_counter() - started, timed.seconds


def _webs(web: Any, budgets: list[int]) -> dict[str, Any]:
    """The web source as configured, and one per passage budget to compare with it."""
    from causerie.knowledge.webpages import WebSearch

    out = {"web": web}
    for n in budgets:
        config = web.config.model_copy(update={"embed_passages": n})
        out[f"web@{n}"] = WebSearch(web.engine, web.grounder, config, web.allow_private)
    return out


def measure(
    settings: Settings, index: Path, limit: int | None, budgets: list[int]
) -> dict[str, Any]:
    """Per question, every path's timings and whether the answer is in its evidence."""
    from causerie.knowledge.grounding import Documents

    items = [i for i in pick(load_qa(default_qa()), limit) if i.keywords]
    rows = []
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    with _opened(settings, None, index, say, web_mode=True) as (services, collections):
        grounder = services.knowledge.grounder
        webs = _webs(services.knowledge.web, budgets)
        grounder.service.embedder.queries(["warm up"])  # the model loads outside the figures
        for item in items:
            msgs = [{"role": "user", "content": q} for q in (*item.history, item.question)]
            row: dict[str, Any] = {"id": item.id}
            docs = Documents(grounder, [collections[item.documents]])
            for name, source in (("documents", docs), *webs.items()):
                g, total, gather = _ground(grounder, source, {"messages": msgs})
                row[name] = {
                    "total": total,
                    "gather": gather,
                    "rest": total - gather,
                    "in_evidence": any(has_keyword(s.text, item.keywords) for s in g.sources),
                    "stages": (g.web or {}).get("timings", {}),
                }
            paths = ", ".join(f"{n} {row[n]['total']:.2f} s" for n in row if n != "id")
            say(f"{item.id}: {paths}")
            rows.append(row)
    return {"questions": len(rows), "rows": rows, "summary": summarise(rows, list(webs))}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(rows: list[dict[str, Any]], webs: list[str]) -> dict[str, Any]:
    """Medians (p90 for totals) of every stage and path, and the evidence counts."""
    out: dict[str, Any] = {}
    for path in ("documents", *webs):
        for part in ("total", "gather", "rest"):
            values = [r[path][part] for r in rows]
            out[f"{path}.{part}.p50"] = round(statistics.median(values), 3)
        out[f"{path}.total.p90"] = round(_pct([r[path]["total"] for r in rows], 0.9), 3)
        out[f"{path}.in_evidence"] = sum(r[path]["in_evidence"] for r in rows)
        if path == "documents":
            continue
        for stage in STAGES:
            values = [r[path]["stages"].get(stage, 0.0) for r in rows]
            out[f"{path}.{stage}.p50"] = round(statistics.median(values), 3)
        diffs = [r[path]["total"] - r["documents"]["total"] for r in rows]
        out[f"{path}-documents.p50"] = round(statistics.median(diffs), 3)
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the bench and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="SQLite file of the FAQs.")
    parser.add_argument("--limit", type=int, help="Only the first N questions of each kind.")
    parser.add_argument("--json", type=Path, help="Also write every row as JSON.")
    parser.add_argument(
        "--embed-passages",
        type=int,
        action="append",
        default=[],
        help="Also the web step with this passage budget (web_search.embed_passages).",
    )
    args = parser.parse_args(argv)
    report = measure(Settings(), args.index, args.limit, args.embed_passages)
    for key, value in report["summary"].items():
        print(f"{key:<30} {value}")
    print(f"{'answerable questions':<30} {report['questions']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
