"""Time to first token of grounded answers, through the HTTP API of an in-process app."""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from bench.inference.workload import StreamTimer
from bench.knowledge.corpus import faq_files
from causerie.app import create_app
from causerie.knowledge.evaluation import load_faq
from causerie.knowledge.extract import extract
from causerie.knowledge.grounding import SYSTEM
from causerie.settings import ModelConfig, Settings
from causerie.store.models import LOCAL_USER_ID

BUILTINS = {"smollm2": "smollm2-135m", "smollm2-135m": "smollm2-135m"}
CHAPTERS = 3  # a small collection: the FAQ's first chapters
WHOLE_CHUNKS = 3


async def _first_token(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[float, int]:
    """Seconds to the first content delta, and the prompt's token count."""
    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    timer = StreamTimer(start=time.perf_counter())
    async with client.stream("POST", "/v1/chat/completions", json=body) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {await r.aread()!r}")
        async for line in r.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                timer.feed(json.loads(line[6:]), time.perf_counter())
    sample = timer.sample()  # raises if the stream failed or carried no content
    return sample.ttft_s, sample.prompt_tokens


async def _run(model: str, runs: int, data_dir: Path) -> dict[str, Any]:
    builtin = BUILTINS.get(model, model)
    settings = Settings(data_dir=data_dir, models=[ModelConfig(name=model, builtin=builtin)])
    app = create_app(settings)
    services = app.state.services
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=600
        ) as client:
            while (await client.get("/ready")).status_code != 200:
                await asyncio.sleep(0.2)
            knowledge = services.knowledge.service
            col = await anyio.to_thread.run_sync(_ingest, knowledge)
            # The FAQ's first questions are about its first chapters, the ones indexed.
            questions = [q.question for q in load_faq("en")][: runs + 1]
            common = {"model": model, "max_tokens": 4, "temperature": 0, "cache_prompt": False}
            results: dict[str, list[tuple[float, int]]] = {
                "grounded": [],
                "whole_chunks": [],
                "no_context": [],
            }
            for i, q in enumerate(questions):
                user = {"role": "user", "content": q}
                grounded = {**common, "messages": [user], "collections": [col]}
                whole = {**common, "messages": await _whole_chunks(knowledge, col, q)}
                plain = {**common, "messages": [user]}
                for label, body in (
                    ("grounded", grounded),
                    ("whole_chunks", whole),
                    ("no_context", plain),
                ):
                    sample = await _first_token(client, body)
                    if i > 0:  # the first round warms the engine up
                        results[label].append(sample)
    return {
        label: {
            "ttft_s": round(statistics.median(s[0] for s in samples), 3),
            "prompt_tokens": int(statistics.median(s[1] for s in samples)),
            "runs": len(samples),
        }
        for label, samples in results.items()
    }


def _ingest(service: Any) -> str:
    col = service.create_collection(LOCAL_USER_ID, "bench")["id"]
    for path in faq_files(CHAPTERS):
        data = path.read_bytes()
        service.index(
            LOCAL_USER_ID, col, name=path.name, source=str(path),
            sha256=hashlib.sha256(data).hexdigest(), size=len(data),
            extracted=extract(data, path.name, "text/html"),
        )  # fmt: skip
    return col


async def _whole_chunks(service: Any, col: str, question: str) -> list[dict[str, str]]:
    """The prompt a naive RAG would send: the top chunks, whole."""
    hits = await anyio.to_thread.run_sync(
        lambda: service.search(LOCAL_USER_ID, question, [col], k=WHOLE_CHUNKS)
    )
    lines = "\n".join(f"[{n}] {' '.join(h.text.split())}" for n, h in enumerate(hits, 1))
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Sources:\n{lines}\n\nQuestion: {question}"},
    ]


def grounded_ttft(model: str, runs: int, data_dir: Path) -> dict[str, Any]:
    """Median TTFT of grounded, whole-chunk and context-free prompts on one model."""
    return asyncio.run(_run(model, runs, data_dir))
