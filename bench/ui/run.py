"""Rendering benchmark of the web UI in headless Chromium (Debian's, through Playwright).

Measures, against a real `causerie serve`:
- opening a 1,000-message conversation (and a 10-message one, for scale), and what
  rendering all 1,000 messages as Markdown up front would cost instead (same page, same
  renderer), since the UI renders only what is near the viewport;
- scrolling through the 1,000 messages (frames while lazily rendered Markdown appears);
- a reply streamed at 50 tokens/s by a paced OpenAI-compatible upstream on 127.0.0.1,
  in a short and in the 1,000-message conversation: frame intervals, dropped frames, and
  the same for an idle page as the baseline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.browser import chromium, seed_conversation
from tests.support import LiveServer

from bench.ui.content import conversation, streamed_answer
from bench.ui.upstream import ScriptedUpstream, remote_model_toml, tokens

FRAME_MS = 1000 / 60
SCROLL_STEP_PX = 150  # per frame: 9,000 px/s, a fast flick
RECORD_FRAMES = """() => {
    window.__frames = [];
    window.__recording = true;
    const loop = (t) => {
        window.__frames.push(t);
        if (window.__recording) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
}"""
STOP_FRAMES = "() => { window.__recording = false; return window.__frames; }"
SHOWN = """async () => {
    while (!performance.getEntriesByName('causerie:conversation-shown').length) {
        await new Promise((r) => setTimeout(r, 5));
    }
    // Two frames later the content has been laid out and painted.
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const id = location.hash.split('/').pop();
    const data = performance.getEntriesByType('resource')
        .find((e) => e.name.endsWith(`/api/conversations/${id}`));
    return {
        data: data.responseEnd,
        shown: performance.getEntriesByName('causerie:conversation-shown')[0].startTime,
        painted: performance.now(),
        messages: document.querySelectorAll('.msg').length,
        rendered: document.querySelectorAll('.msg .markdown:not(.lazy)').length,
    };
}"""
EAGER = """async () => {
    const { renderMarkdown } = await import('/js/markdown.js');
    const conv = window.causerie.conv;
    const box = document.createElement('div');
    box.className = 'messages';
    const t0 = performance.now();
    for (const m of conv.messages) {
        const el = document.createElement('article');
        el.className = 'msg ' + m.role;
        const body = document.createElement('div');
        body.className = 'markdown';
        body.append(renderMarkdown(m.content));
        el.append(body);
        box.append(el);
    }
    document.body.append(box);
    box.offsetHeight;  // force layout
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const ms = performance.now() - t0;
    box.remove();
    return ms;
}"""
SCROLL = """async ([steps, step]) => {
    const thread = document.getElementById('thread');
    const frames = [];
    for (let i = 0; i < steps; i += 1) {
        thread.scrollTop = Math.max(0, thread.scrollTop - step);
        frames.push(await new Promise((r) => requestAnimationFrame(r)));
        if (thread.scrollTop === 0) break;
    }
    return { frames, top: thread.scrollTop === 0,
             rendered: document.querySelectorAll('.msg .markdown:not(.lazy)').length };
}"""


def frame_stats(stamps: list[float]) -> dict[str, float]:
    """Frame intervals: median, p95, max, and frames dropped against a 60 Hz display."""
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    if not gaps:
        return {"frames": 0}
    ordered = sorted(gaps)
    dropped = sum(max(0, round(g / FRAME_MS) - 1) for g in gaps)
    expected = (stamps[-1] - stamps[0]) / FRAME_MS
    return {
        "frames": len(gaps),
        "seconds": round((stamps[-1] - stamps[0]) / 1000, 2),
        "median_ms": round(statistics.median(gaps), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
        "dropped": dropped,
        "dropped_pct": round(100 * dropped / expected, 2) if expected else 0.0,
        "long_frames_50ms": sum(g > 50 for g in gaps),
    }


def open_conversation(browser: Any, url: str, runs: int) -> dict[str, Any]:
    """Median time from navigation to the conversation painted, over fresh pages."""
    results = []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.goto(url)
        results.append(page.evaluate(SHOWN))
        context.close()
    return {
        "painted_ms": round(statistics.median(r["painted"] for r in results), 1),
        "shown_ms": round(statistics.median(r["shown"] for r in results), 1),
        # From the conversation's JSON arriving to its messages painted: the UI's own work.
        "render_ms": round(statistics.median(r["painted"] - r["data"] for r in results), 1),
        "runs_ms": [round(r["painted"], 1) for r in results],
        "messages": results[0]["messages"],
        "markdown_rendered_at_open": results[0]["rendered"],
    }


def stream_once(browser: Any, url: str, prompt: str) -> dict[str, Any]:
    """Send prompt on the paced model and record frames until the reply is complete."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    page.click("#model-btn")
    page.click("#model-menu [data-model=paced]")
    before = page.locator(".msg.assistant").count()
    page.fill("#input", prompt)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('.msg.assistant[data-status=streaming]').length"
        " && document.querySelector('.msg.assistant[data-status=streaming] .markdown')"
        ".textContent.length > 0",
        arg=before,
    )
    page.evaluate(RECORD_FRAMES)
    started = time.monotonic()
    page.wait_for_function(
        "n => { const a = document.querySelectorAll('.msg.assistant');"
        " return a.length === n + 1 && a[n].dataset.status === 'complete'; }",
        arg=before,
        timeout=120_000,
    )
    seconds = time.monotonic() - started
    stats = frame_stats(page.evaluate(STOP_FRAMES))
    context.close()
    return {**stats, "stream_seconds": round(seconds, 2)}


def idle(browser: Any, url: str, seconds: float) -> dict[str, Any]:
    """Frames of the same page doing nothing: the baseline for dropped frames."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    page.wait_for_timeout(500)
    page.evaluate(RECORD_FRAMES)
    page.wait_for_timeout(seconds * 1000)
    stats = frame_stats(page.evaluate(STOP_FRAMES))
    context.close()
    return stats


def scroll_and_eager(browser: Any, url: str) -> dict[str, Any]:
    # Eager rendering in a page of its own: cold caches, like the lazy page it is compared to.
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(url)
    page.evaluate(SHOWN)
    eager_ms = page.evaluate(EAGER)
    context.close()
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(url)
    page.evaluate(SHOWN)
    scrolled = page.evaluate(SCROLL, [4000, SCROLL_STEP_PX])
    # The same trip again, every message now rendered: what scrolling costs by itself.
    page.evaluate("document.getElementById('thread').scrollTop = 1e9")
    page.wait_for_timeout(300)
    page.evaluate("document.getElementById('thread').scrollTop = 1e9")
    again = page.evaluate(SCROLL, [4000, SCROLL_STEP_PX])
    context.close()
    return {
        "scroll": {
            **frame_stats(scrolled["frames"]),
            "reached_top": scrolled["top"],
            "markdown_rendered_after": scrolled["rendered"],
        },
        "scroll_again": frame_stats(again["frames"]),
        "eager_render_all_ms": round(eager_ms, 1),
    }


def run(runs: int, idle_seconds: float) -> dict[str, Any]:
    answer = streamed_answer()
    with tempfile.TemporaryDirectory(prefix="causerie-bench-ui-") as tmp, ScriptedUpstream(
        {"answer": answer}, tokens_per_second=50
    ) as upstream:  # fmt: skip
        base = Path(tmp)
        (base / "causerie.toml").write_text(remote_model_toml("paced", upstream, "answer"))
        server = LiveServer(base / "causerie.toml", base / "data")
        server.start()
        try:
            big = seed_conversation(server.data_dir, conversation(500), title="1,000 messages")
            small = seed_conversation(server.data_dir, conversation(5), title="10 messages")
            with chromium() as browser:
                out: dict[str, Any] = {
                    "chromium": browser.version,
                    "load_before": round(os.getloadavg()[0], 2),
                    "streamed_tokens": len(tokens(answer)),
                    "open_10": open_conversation(browser, f"{server.url}/#/c/{small}", runs),
                    "open_1000": open_conversation(browser, f"{server.url}/#/c/{big}", runs),
                }
                out.update(scroll_and_eager(browser, f"{server.url}/#/c/{big}"))
                out["idle"] = idle(browser, f"{server.url}/#/c/{small}", idle_seconds)
                out["stream_new_chat"] = stream_once(browser, f"{server.url}/", "Explain.")
                out["stream_in_1000"] = stream_once(
                    browser, f"{server.url}/#/c/{big}", "Explain retrieval."
                )
        finally:
            server.stop()
    # Other work on the machine slows every figure here: say how busy it was.
    out["load_after"] = round(os.getloadavg()[0], 2)
    return out


def report(r: dict[str, Any]) -> str:
    """The figures and their same-run comparisons, as text."""
    o10, o1k = r["open_10"], r["open_1000"]
    s_new, s_big, quiet = r["stream_new_chat"], r["stream_in_1000"], r["idle"]
    lines = [
        f"Chromium {r['chromium']}, headless, 1280x860; load average {r['load_before']} before,"
        f" {r['load_after']} after ({os.cpu_count()} cores)",
        "",
        "Opening a conversation (median of runs): navigation -> painted, and the UI's own part",
        "(its JSON received -> painted)",
        f"  10 messages     {o10['painted_ms']:8.1f} ms   render {o10['render_ms']:7.1f} ms",
        f"  1,000 messages  {o1k['painted_ms']:8.1f} ms   render {o1k['render_ms']:7.1f} ms   "
        f"({o1k['render_ms'] / o10['render_ms']:.1f}x the 10-message render; "
        f"{o1k['markdown_rendered_at_open']} of {o1k['messages']} rendered as Markdown at open)",
        f"  rendering all 1,000 as Markdown up front instead: {r['eager_render_all_ms']:.1f} ms"
        f"  ({r['eager_render_all_ms'] / o1k['render_ms']:.1f}x the lazy render)",
        "",
        f"Scrolling the 1,000 messages to the top ({SCROLL_STEP_PX} px per frame, Markdown "
        "rendered on the way)",
        f"  {r['scroll']['frames']} frames, median {r['scroll']['median_ms']} ms, "
        f"p95 {r['scroll']['p95_ms']} ms, max {r['scroll']['max_ms']} ms, "
        f"frames > 50 ms: {r['scroll']['long_frames_50ms']}",
        f"  again, all rendered: {r['scroll_again']['frames']} frames, median "
        f"{r['scroll_again']['median_ms']} ms, p95 {r['scroll_again']['p95_ms']} ms; first trip "
        f"/ second trip median: {r['scroll']['median_ms'] / r['scroll_again']['median_ms']:.2f}x",
        "",
        f"Streaming {r['streamed_tokens']} tokens at 50 tokens/s "
        "(frame intervals; dropped = frames missed at 60 Hz)",
    ]
    for name, s in (("idle page", quiet), ("new chat", s_new), ("in 1,000 msgs", s_big)):
        lines.append(
            f"  {name:14} {s['seconds']:6.1f} s  median {s['median_ms']:5.1f} ms  "
            f"p95 {s['p95_ms']:5.1f} ms  max {s['max_ms']:6.1f} ms  "
            f"dropped {s['dropped']:4d} ({s['dropped_pct']:.2f}%)  >50 ms: {s['long_frames_50ms']}"
        )
    for name, s in (("new chat", s_new), ("in 1,000 msgs", s_big)):
        ratio = s["p95_ms"] / quiet["p95_ms"] if quiet.get("p95_ms") else float("nan")
        lines.append(f"  p95 frame, {name} / idle: {ratio:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Web UI rendering benchmark (headless Chromium).")
    parser.add_argument("--runs", type=int, default=5, help="page loads per conversation")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    results = run(args.runs, args.idle_seconds)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.stdout.flush()
