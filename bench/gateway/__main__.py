"""Gateway benchmark: a fake upstream streaming numbered tokens, measured directly, through
Causerie, through a minimal FastAPI+httpx byte relay and through LiteLLM's proxy, in one run.

    .venv/bin/python -m bench.gateway [--seconds 10] [--concurrency 1,16,64] [--soak-seconds 60]
        [--accounts] [--soak-users 10]

--accounts measures Causerie as a multi-user server: an admin account, requests sent with an
API key, rate limits and token quotas set on both the user and the key (never reached).
With --soak-users N, the soak runs with accounts: N users, and each client its own API key.

LiteLLM is looked for in a separate venv (--litellm, default ~/.cache/litellm-venv/bin/litellm);
create it with `python3 -m venv ~/.cache/litellm-venv && ~/.cache/litellm-venv/bin/pip install
'litellm[proxy]'`. Without it, the run says so and measures the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench.gateway.accounts import create_admin, create_keys, login
from bench.gateway.fake_upstream import FakeUpstream, free_port
from bench.gateway.load import Run, run_load
from bench.gateway.procs import Proc, cpu_seconds, python_module, rss_bytes
from bench.postgres import postgresql

MB = 1024 * 1024
BENCH_ADMIN = "bench"  # the admin whose key the measured requests carry (--accounts)
DEFAULT_LITELLM = Path.home() / ".cache" / "litellm-venv" / "bin" / "litellm"


def causerie(
    upstream: str, work: Path, pace_ms: int, accounts: bool, database_url: str | None = None
) -> Proc:
    """`causerie serve` with one remote model for the bench and one paced for the soak."""
    port = free_port()
    work.mkdir(exist_ok=True)
    config = work / "causerie.toml"
    database = f'database_url = "{database_url}"\n' if database_url else ""
    config.write_text(
        f"""log_level = "warning"
{database}
[[models]]
name = "bench"
provider = "openai-compatible"
base_url = "{upstream}/v1"
upstream_model = "ok"

[[models]]
name = "soak"
provider = "openai-compatible"
base_url = "{upstream}/v1"
upstream_model = "pace:{pace_ms}"
"""
    )
    if accounts:
        create_admin(config, work / "data", BENCH_ADMIN)
    cmd = python_module("causerie", "serve", "--config", str(config), "--port", str(port))
    cmd += ["--data-dir", str(work / "data")]
    name = "causerie-pg" if database_url else "causerie"
    return Proc(name, cmd, f"http://127.0.0.1:{port}", "/ready", log=work / "causerie.log")


def bench_key(proc: Proc) -> str:
    """An API key of a user with limits on user and key (generous: nothing is refused), so
    that every request goes through key lookup, rate leases and token-quota checks."""
    with httpx.Client(base_url=proc.url, timeout=30) as c:
        c.headers.update(login(c, BENCH_ADMIN))
        limits = {"requests_per_minute": 1_000_000, "tokens_per_day": 10**12}
        me = c.get("/api/me").json()
        c.patch(f"/api/admin/users/{me['id']}", json=limits).raise_for_status()
        made = c.post("/api/keys", json={"name": "bench", **limits})
        made.raise_for_status()
        return made.json()["key"]


def relay(upstream: str, work: Path) -> Proc:
    port = free_port()
    cmd = python_module("bench.gateway.relay", "--port", str(port), "--upstream", upstream)
    return Proc("relay", cmd, f"http://127.0.0.1:{port}", "/docs", log=work / "relay.log")


def litellm(binary: Path, upstream: str, work: Path) -> Proc:
    """LiteLLM's proxy, one worker, no database, the same upstream as an OpenAI model."""
    port = free_port()
    config = work / "litellm.yaml"
    config.write_text(
        f"""model_list:
  - model_name: bench
    litellm_params:
      model: openai/ok
      api_base: {upstream}/v1
      api_key: unused
"""
    )
    env = {
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "true",
    }
    cmd = [str(binary), "--config", str(config), "--port", str(port), "--num_workers", "1"]
    return Proc(
        "litellm",
        cmd,
        f"http://127.0.0.1:{port}",
        "/health/liveliness",
        env=env,
        log=work / "litellm.log",
    )


async def measure(
    name: str,
    url: str,
    model: str,
    proc: Proc | None,
    conc: int,
    args: argparse.Namespace,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One (gateway, concurrency) cell: throughput, latency, and the gateway's CPU and RSS."""
    marks: dict[bool, float] = {}

    def window(start: bool) -> None:
        if proc is not None:
            marks[start] = cpu_seconds(proc.pid)

    body = {
        "model": model,
        "messages": [{"role": "user", "content": "count"}],
        "stream": True,
        "max_tokens": args.tokens,
    }
    run: Run = await run_load(
        f"{url}/v1/chat/completions",
        body,
        conc,
        args.seconds,
        args.warmup,
        args.tokens,
        window,
        min_requests=conc,  # slow gateways get a longer window, not an empty one
        headers=headers,
    )
    out = {"gateway": name, "concurrency": conc, **run.summary()}
    if proc is not None and run.samples:
        out["cpu_ms_per_request"] = (marks[False] - marks[True]) * 1000 / len(run.samples)
        out["cpu_share"] = (marks[False] - marks[True]) / args.seconds
        out["rss_mb"] = rss_bytes(proc.pid) / MB
    return out


async def soak(
    proc: Proc, work: Path, args: argparse.Namespace, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Many paced streams at once for a while: errors and memory over time."""
    url = proc.url
    keys: list[str] = []
    if args.soak_users:
        keys = await asyncio.to_thread(
            create_keys, url, work / "causerie.toml", work / "data", args.soak_users,
            args.soak_streams,
        )  # fmt: skip
    rss: list[tuple[float, float]] = []
    start = time.monotonic()

    async def sample() -> None:
        while time.monotonic() - start < args.soak_seconds + args.warmup:
            rss.append((time.monotonic() - start, rss_bytes(proc.pid) / MB))
            await asyncio.sleep(2)

    body = {"model": "soak", "messages": [{"role": "user", "content": "count"}], "stream": True}
    body["max_tokens"] = args.soak_tokens
    load = run_load(
        f"{url}/v1/chat/completions",
        body,
        args.soak_streams,
        args.soak_seconds,
        args.warmup,
        args.soak_tokens,
        headers=headers,
        keys=keys,
    )
    run, _ = await asyncio.gather(load, sample())
    # Proof that the keys were needed: with accounts, a call without one is refused.
    async with httpx.AsyncClient(timeout=30) as anonymous:
        refused = await anonymous.post(f"{url}/v1/chat/completions", json=body)
    settled = [m for t, m in rss if t >= args.warmup + 10] or [m for _, m in rss]
    return {
        "streams": args.soak_streams,
        "users": args.soak_users,  # 0: single-user mode, no credentials
        "api_keys": len(keys),
        "status_without_key": refused.status_code,
        "seconds": args.soak_seconds,
        "pace_ms": args.soak_pace_ms,
        "tokens_per_stream": args.soak_tokens,
        **run.summary(),
        "rss_mb_series": [round(m, 1) for _, m in rss],
        "rss_mb_after_10s": settled[0],
        "rss_mb_end": settled[-1],
        "rss_mb_max": max(m for _, m in rss),
    }


def median_cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every figure over rounds; errors are summed."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            out[key] = statistics.median(r[key] for r in runs if key in r)
    out["errors"] = sum(r["errors"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    return out


def report(cells: list[dict[str, Any]]) -> None:
    """The table, then the comparisons the issue asks for."""
    direct = {c["concurrency"]: c for c in cells if c["gateway"] == "direct"}
    print(
        f"{'gateway':<11} {'conc':>4} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'+p50':>7} "
        f"{'+p99':>7} {'ttft':>6} {'+ttft':>6} {'cpu ms/req':>10} {'rss MB':>7} {'err':>4}"
    )
    for c in cells:
        d = direct[c["concurrency"]]
        added = c["gateway"] != "direct"
        print(
            f"{c['gateway']:<11} {c['concurrency']:>4} {c['rps']:>7.1f} {c['p50_ms']:>8.1f} "
            f"{c['p99_ms']:>8.1f} "
            + (f"{c['p50_ms'] - d['p50_ms']:>7.1f} " if added else f"{'-':>7} ")
            + (f"{c['p99_ms'] - d['p99_ms']:>7.1f} " if added else f"{'-':>7} ")
            + f"{c['ttft_p50_ms']:>6.1f} "
            + (f"{c['ttft_p50_ms'] - d['ttft_p50_ms']:>6.1f} " if added else f"{'-':>6} ")
            + f"{c.get('cpu_ms_per_request', float('nan')):>10.2f} "
            + f"{c.get('rss_mb', float('nan')):>7.1f} {c['errors']:>4}"
        )
    print("\nComparison (same run):")
    by = {(c["gateway"], c["concurrency"]): c for c in cells}
    for conc in sorted(direct):
        cz, rl, ll = by.get(("causerie", conc)), by.get(("relay", conc)), by.get(("litellm", conc))
        cpu = {k: v.get("cpu_ms_per_request") for k, v in (("cz", cz), ("rl", rl), ("ll", ll)) if v}
        if cpu.get("cz") and cpu.get("rl"):
            print(
                f"  c={conc}: Causerie CPU/stream = {cpu['cz'] / cpu['rl']:.2f}x the minimal "
                f"relay's (target <= 1.5x); req/s {cz['rps'] / rl['rps']:.2f}x relay"
            )
        if cpu.get("cz") and cpu.get("ll"):
            print(
                f"  c={conc}: LiteLLM CPU/stream = {cpu['ll'] / cpu['cz']:.1f}x Causerie's; "
                f"Causerie req/s = {cz['rps'] / ll['rps']:.1f}x LiteLLM's"
            )
        pg = by.get(("causerie-pg", conc))
        if cpu.get("cz") and pg and pg.get("cpu_ms_per_request"):
            print(
                f"  c={conc}: Causerie on PostgreSQL CPU/request = "
                f"{pg['cpu_ms_per_request'] / cpu['cz']:.2f}x on SQLite (target <= 1.2x); "
                f"req/s {pg['rps'] / cz['rps']:.2f}x"
            )
    if (c1 := by.get(("causerie", 1))) and 1 in direct:
        print(
            f"  c=1: Causerie adds {c1['p50_ms'] - direct[1]['p50_ms']:.1f} ms p50 end to end "
            "(target <= 10 ms)"
        )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if not args.postgresql:
        return await _run(args, None)
    with postgresql(args.postgresql) as url:
        return await _run(args, url)


async def _run(args: argparse.Namespace, database_url: str | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="causerie-gw-bench-"))
    upstream = FakeUpstream().start()
    procs: dict[str, Proc] = {}
    try:
        procs["causerie"] = causerie(upstream.url, work, args.soak_pace_ms, args.accounts).start()
        auth: dict[str, dict[str, str]] = {}
        if database_url:  # the same server on PostgreSQL, measured in the same rounds
            pg = causerie(upstream.url, work / "pg", args.soak_pace_ms, args.accounts, database_url)
            procs["causerie-pg"] = pg.start()
        for name in ("causerie", "causerie-pg"):
            if args.accounts and name in procs:
                auth[name] = {"Authorization": f"Bearer {bench_key(procs[name])}"}
        procs["relay"] = relay(upstream.url, work).start()
        if args.litellm.exists():
            procs["litellm"] = litellm(args.litellm, upstream.url, work).start()
        else:
            print(f"LiteLLM not found at {args.litellm}: not measured (see the module docstring)")
        targets: list[tuple[str, str, str, Proc | None]] = [
            ("direct", upstream.url, "ok", None),
            ("relay", procs["relay"].url, "ok", procs["relay"]),
            ("causerie", procs["causerie"].url, "bench", procs["causerie"]),
        ]
        if "causerie-pg" in procs:
            targets.append(("causerie-pg", procs["causerie-pg"].url, "bench", procs["causerie-pg"]))
        if "litellm" in procs:
            targets.append(("litellm", procs["litellm"].url, "bench", procs["litellm"]))
        # Rounds interleave the gateways, so that a busy moment of the machine hits them all;
        # each figure is the median over rounds.
        rounds: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in range(args.rounds):
            for conc in args.concurrency:
                for name, url, model, proc in targets:
                    headers = auth.get(name)
                    cell = await measure(name, url, model, proc, conc, args, headers)
                    print(
                        f"  round {r + 1} {name} c={conc}: {cell['rps']:.1f} req/s, "
                        f"{cell.get('cpu_ms_per_request', float('nan')):.2f} CPU ms/req, "
                        f"{cell['errors']} errors",
                        flush=True,
                    )
                    rounds.setdefault((name, conc), []).append(cell)
        cells = [median_cell(runs) for runs in rounds.values()]
        report(cells)
        result: dict[str, Any] = {
            "cells": cells,
            "rounds": {f"{n}@{c}": runs for (n, c), runs in rounds.items()},
            "tokens": args.tokens,
            "seconds": args.seconds,
            "accounts": args.accounts,
            "postgresql": bool(database_url),
        }
        if args.soak_seconds > 0:
            result["soak"] = s = await soak(procs["causerie"], work, args, auth.get("causerie", {}))
            who = (
                f", {s['users']} users with an API key per stream"
                if s["users"]
                else (", one API key" if args.accounts else " (single-user mode)")
            )
            print(
                f"\nSoak: {s['streams']} concurrent streams x {s['seconds']} s through Causerie"
                f"{who} "
                f"({s['tokens_per_stream']} tokens, one per {s['pace_ms']} ms): "
                f"{s['requests']} streams completed, {s['errors']} errors; RSS "
                f"{s['rss_mb_after_10s']:.1f} MB after 10 s -> {s['rss_mb_end']:.1f} MB at the end "
                f"(max {s['rss_mb_max']:.1f} MB)"
            )
        return result
    finally:
        for proc in procs.values():
            proc.stop()
        upstream.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="measured time per cell")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64]
    )
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="figures are medians over rounds")
    parser.add_argument("--litellm", type=Path, default=DEFAULT_LITELLM)
    parser.add_argument("--soak-seconds", type=float, default=60, help="0 skips the soak")
    parser.add_argument("--soak-streams", type=int, default=200)
    parser.add_argument("--soak-pace-ms", type=int, default=50)
    parser.add_argument("--soak-tokens", type=int, default=100)
    parser.add_argument(
        "--accounts",
        action="store_true",
        help="run Causerie with an admin account and send an API key whose user and key have "
        "(generous) rate limits and token quotas, instead of single-user mode",
    )
    parser.add_argument(
        "--soak-users", type=int, default=0, help="soak with accounts: N users, a key per stream"
    )
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        help="also measure Causerie on this empty PostgreSQL database, in the same rounds "
        "('pgserver': a temporary one from the pgserver package)",
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    result = uvloop.run(main_async(args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
