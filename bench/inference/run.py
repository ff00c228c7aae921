"""Inference benchmark: Causerie's HTTP API vs the raw engine, prompt caching, start-up, footprint.

    .venv/bin/python -m bench.inference                    # default 1.5B model (a few minutes)
    .venv/bin/python -m bench.inference --model smollm2    # quick run on SmolLM2-135M

Every figure is printed beside its comparison measured in the same run. The raw engine runs
in a worker process beside Causerie's server; requests alternate between the two (never at
the same time), so each HTTP sample has a raw sample taken seconds before or after it;
medians are reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.inference import footprint, raw
from bench.inference.live import ServerProcess, stream_chat, write_config
from bench.inference.report import format_report
from bench.inference.workload import (
    TURN1_QUESTION,
    TURN2_QUESTION,
    Sample,
    chat_body,
    history,
    story_prompts,
)
from causerie.modelfiles import resolve_model_path
from causerie.settings import ModelConfig

REPO = Path(__file__).resolve().parents[2]
MODELS = {"qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b", "smollm2": "smollm2-135m"}
IDLE_SETTLE_S = 1.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = ModelConfig(name="defaults", builtin="smollm2-135m")
    p = argparse.ArgumentParser(prog="python -m bench.inference", description=__doc__)
    p.add_argument("--model", choices=sorted(MODELS), default="qwen2.5-coder-1.5b")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path.home() / ".cache" / "causerie-bench",
        help="server data dir, kept between runs so the default model is joined only once",
    )
    p.add_argument("--rounds", type=int, default=3, help="alternations raw/Causerie")
    p.add_argument("--requests", type=int, default=3, help="timed requests per side and round")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--history-tokens", type=int, default=1000, help="prompt-caching history")
    p.add_argument("--cache-reps", type=int, default=3, help="turn-2 pairs cached/uncached")
    p.add_argument("--n-ctx", type=int, default=defaults.n_ctx)
    p.add_argument("--n-parallel", type=int, default=defaults.n_parallel)
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--skip-env", action="store_true", help="skip the fresh-venv size check")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    return p.parse_args(argv)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _model_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "name": args.model,
        "builtin": MODELS[args.model],
        "n_ctx": args.n_ctx,
        "n_parallel": args.n_parallel,
        "threads": args.threads,
    }


def _samples(samples: list[Sample]) -> list[dict[str, Any]]:
    return [{k: v for k, v in dataclasses.asdict(s).items() if k != "text"} for s in samples]


def bench_streaming(args: argparse.Namespace, spec: raw.EngineSpec, work: Path) -> dict[str, Any]:
    """Tokens/s and TTFT: raw engine vs HTTP, paired request by request.

    Each round starts Causerie's server (timed to /ready), then a raw engine in a worker
    process; both hold the model while the same prompts go to one side then the other, the
    order alternating from prompt to prompt. Paired samples taken seconds apart see the same
    machine: on a shared, noisy machine, side-by-side blocks of requests drifted apart by
    more than the difference being measured. The first prompt of each round warms both up.
    """
    prompts = story_prompts(args.requests + 1)
    config = write_config(work / "model.toml", _model_fields(args))
    out: dict[str, list[Any]] = {"raw": [], "http": [], "ready_s": [], "rss_ready": []}
    out.update({"rss_idle": [], "raw_load_s": []})
    for r in range(args.rounds):
        _log(f"round {r + 1}/{args.rounds}")
        with ServerProcess(config, args.data_dir, work / "server.log") as server:
            out["ready_s"].append(server.start())
            out["rss_ready"].append(server.rss_bytes())
            # A fresh worker per round: its model is freed entirely when the round ends.
            spawn = multiprocessing.get_context("spawn")
            with (
                ProcessPoolExecutor(1, mp_context=spawn) as pool,
                httpx.Client(timeout=900) as client,
            ):
                out["raw_load_s"].append(pool.submit(raw.load, spec).result())
                for i, prompt in enumerate(prompts):
                    body = chat_body(prompt, args.max_tokens)
                    pair: dict[str, Sample] = {}
                    for side in ("raw", "http") if (r + i) % 2 == 0 else ("http", "raw"):
                        if side == "raw":
                            pair[side] = pool.submit(raw.stream_prompt, spec, body).result()
                        else:
                            request = {"model": args.model, **body}
                            pair[side] = stream_chat(client, server.url, request)
                    tokens = {side: sample.prompt_tokens for side, sample in pair.items()}
                    if tokens["raw"] != tokens["http"]:  # same prompt, same template
                        raise RuntimeError(f"the two sides saw different prompts: {tokens}")
                    if i > 0:  # the first prompt warms both sides up
                        out["raw"].append(pair["raw"])
                        out["http"].append(pair["http"])
            time.sleep(IDLE_SETTLE_S)  # the raw worker has exited: only the server is left
            out["rss_idle"].append(server.rss_bytes())
    return out


def _turn(messages: list[dict[str, str]], model: str, max_tokens: int) -> dict[str, Any]:
    body = chat_body("", max_tokens)
    body.update(model=model, messages=messages)
    return body


def bench_caching(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """TTFT of a second turn on a long history, with the KV cache reused and without."""
    base = history(args.history_tokens)
    turn1 = [*base, {"role": "user", "content": TURN1_QUESTION}]
    config = write_config(work / "model.toml", _model_fields(args))
    cached: list[Sample] = []
    uncached: list[Sample] = []
    reply: str | None = None
    with ServerProcess(config, args.data_dir, work / "server.log") as server:
        ready_s = server.start()
        with httpx.Client(timeout=900) as client:
            for rep in range(args.cache_reps):
                for use_cache in (True, False) if rep % 2 == 0 else (False, True):
                    _log(f"caching {rep + 1}/{args.cache_reps}: cache_prompt={use_cache}")
                    # Turn 1 runs before every turn 2, as in a real conversation; its first
                    # reply is kept so that every turn 2 sends exactly the same prompt (greedy
                    # decoding still varies by a token now and then with the cache state).
                    first = stream_chat(client, server.url, _turn(turn1, args.model, 24))
                    reply = reply if reply is not None else first.text
                    turn2 = [*turn1, {"role": "assistant", "content": reply}]
                    turn2.append({"role": "user", "content": TURN2_QUESTION})
                    body = _turn(turn2, args.model, 8)
                    if not use_cache:
                        body["cache_prompt"] = False  # llama.cpp extension, passed through
                    second = stream_chat(client, server.url, body)
                    (cached if use_cache else uncached).append(second)
        time.sleep(IDLE_SETTLE_S)
        rss_idle = server.rss_bytes()
    if any(s.cached_tokens for s in uncached):
        raise RuntimeError("the engine reused its cache despite cache_prompt=false")
    return {"ready_s": ready_s, "rss_idle": rss_idle, "cached": cached, "uncached": uncached}


def bench_no_model(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """A server with `models = []`: start-up time, no chat model listed, idle RSS."""
    config = write_config(work / "empty.toml", None)
    ready, rss = [], []
    for _ in range(args.rounds):
        with ServerProcess(config, args.data_dir / "no-model", work / "server.log") as server:
            ready.append(server.start())
            listed = httpx.get(f"{server.url}/v1/models", timeout=10).json()
            chat = [m for m in listed.get("data", []) if m.get("type") != "embedding"]
            if chat:
                raise RuntimeError(f"/v1/models should list no chat model: {listed}")
            time.sleep(IDLE_SETTLE_S)
            rss.append(server.rss_bytes())
    return {"ready_s": ready, "rss_idle": rss}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and isinstance(value[0], Sample):
            return _samples(value)
        return [_jsonable(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, print the report, optionally write JSON."""
    args = parse_args(argv)
    args.data_dir = args.data_dir.expanduser().resolve()
    work = args.data_dir / "bench-work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "server.log").write_text("")
    started = dt.datetime.now().astimezone()
    load_before = os.getloadavg()
    model = ModelConfig(**_model_fields(args))
    _log(f"preparing {args.model} in {args.data_dir / 'models'}")
    path = resolve_model_path(model, args.data_dir / "models")
    spec = raw.EngineSpec(str(path), args.n_ctx, args.n_parallel, args.threads)
    results: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.inference", *sys.argv[1:]]),
        "model": args.model,
        "model_file": str(path),
        "params": {k: v for k, v in vars(args).items() if k not in ("data_dir", "json")},
        "cpus": os.cpu_count(),
    }
    _log("no-model server")
    results["no_model"] = bench_no_model(args, work)
    results["streaming"] = bench_streaming(args, spec, work)
    results["caching"] = bench_caching(args, work)
    if not args.skip_env:
        _log("fresh environment (pip install, no extras)")
        results["env"] = footprint.measure_env(REPO)
    results["loadavg"] = {"before": load_before, "after": os.getloadavg()}
    print(format_report(results))
    if args.json:
        args.json.write_text(json.dumps(_jsonable(results), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
