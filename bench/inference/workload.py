"""What both sides are asked to do, and how a streamed answer is timed (identically on both)."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from typing import Any

# Open-ended prompts so that the model writes until max_tokens; distinct openings so that
# each request processes its prompt instead of reusing the previous one from the cache.
_TOPICS = (
    "a lighthouse keeper who finds a message in a bottle",
    "a robot learning to bake bread in a small village",
    "two rival chess players stranded in a snowed-in train",
    "a cartographer mapping an island that keeps changing shape",
    "a violin repair shop that only opens at midnight",
    "a beekeeper who can understand what the bees are saying",
)


def story_prompts(count: int) -> list[str]:
    """`count` distinct user prompts that ask for a long answer."""
    return [
        f"Story {i + 1}: write a long, detailed story about {_TOPICS[i % len(_TOPICS)]}. "
        "Describe the places, the people and what happens in many paragraphs."
        for i in range(count)
    ]


def chat_body(prompt: str, max_tokens: int) -> dict[str, Any]:
    """The engine body Causerie builds for a plain streamed chat request (greedy, seeded)."""
    return {
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": 42,
    }


_SERVERS = ("atlas", "borealis", "cobalt", "dune", "ember", "fjord", "granite", "harbor")
_EVENTS = (
    "restarted after a kernel update",
    "ran out of disk space on the log volume",
    "failed two health checks in a row",
    "was migrated to the new rack",
    "had its TLS certificate renewed",
    "showed high memory use during the nightly backup",
)
_TEAMS = ("platform", "storage", "networking", "security", "data")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
# Roughly how many tokens one note costs (measured on Qwen2.5 and SmolLM2 tokenizers: ~30).
_TOKENS_PER_NOTE = 30


def _note(rng: random.Random) -> str:
    return (
        f"On {rng.choice(_DAYS)} at {rng.randrange(24):02d}:{rng.randrange(60):02d}, "
        f"server {rng.choice(_SERVERS)} {rng.choice(_EVENTS)}; the {rng.choice(_TEAMS)} "
        f"team handled it and wrote {rng.randrange(3, 90)} lines in the incident log."
    )


def history(tokens: int, parts: int = 4) -> list[dict[str, str]]:
    """A deterministic multi-turn conversation of about `tokens` tokens (operations notes)."""
    rng = random.Random(7)
    notes = [_note(rng) for _ in range(max(parts, tokens // _TOKENS_PER_NOTE))]
    messages = [{"role": "system", "content": "You are a concise operations assistant."}]
    size = -(-len(notes) // parts)
    for i in range(0, len(notes), size):
        text = "More notes from this week:\n" + "\n".join(notes[i : i + size])
        messages.append({"role": "user", "content": text})
        messages.append({"role": "assistant", "content": "Noted."})
    return messages


TURN1_QUESTION = "Which server restarted most recently? Answer in one sentence."
TURN2_QUESTION = "Which team handled that, and how many log lines did they write?"


@dataclass
class Sample:
    """One streamed answer, timed from the request to its first and last content token."""

    ttft_s: float
    decode_tps: float | None
    completion_tokens: int
    prompt_tokens: int
    cached_tokens: int
    text: str


@dataclass
class StreamTimer:
    """Folds streamed OpenAI chunks into a Sample; fed the same way by both sides."""

    start: float
    first: float | None = None
    last: float | None = None
    usage: dict[str, Any] | None = None
    error: Any = None
    parts: list[str] = field(default_factory=list)

    def feed(self, chunk: dict[str, Any], now: float) -> None:
        """Record one chunk received at `now` (perf_counter seconds)."""
        if "error" in chunk:
            self.error = chunk["error"]
            return
        choices = chunk.get("choices") or ()
        if choices and (text := (choices[0].get("delta") or {}).get("content")):
            if self.first is None:
                self.first = now
            self.last = now
            self.parts.append(text)
        if chunk.get("usage"):
            self.usage = chunk["usage"]

    def sample(self) -> Sample:
        """The finished measurement; raises if the stream failed or carried no content."""
        if self.error is not None:
            raise RuntimeError(f"stream failed: {self.error}")
        if self.first is None or self.last is None or self.usage is None:
            raise RuntimeError("stream ended without content or usage")
        n = int(self.usage.get("completion_tokens", 0))
        span = self.last - self.first
        details = self.usage.get("prompt_tokens_details") or {}
        return Sample(
            ttft_s=self.first - self.start,
            # n tokens arrive over n-1 decode steps after the first one.
            decode_tps=(n - 1) / span if n > 1 and span > 0 else None,
            completion_tokens=n,
            prompt_tokens=int(self.usage.get("prompt_tokens", 0)),
            cached_tokens=int(details.get("cached_tokens") or 0),
            text="".join(self.parts),
        )


def median(values: list[float | None]) -> float | None:
    """Median of the known values, or None when there are none."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None
