"""Deterministic, realistic chat text for the UI benchmark: prose, lists, code, tables, math."""

from __future__ import annotations

import random

TEXT = (
    "the model keeps a cache of recent prompts so that a second question about the same "
    "document answers faster while the index stores vectors next to the text and a query "
    "walks both before ranking passages by score then the answer cites each source it used "
    "with a short quote because people want to check claims quickly and move on"
)
WORDS = TEXT.split(" ")

CODE = '''def top_passages(index, query, k=5):
    """Rank passages by a blend of full-text and vector scores."""
    text_hits = index.search_text(query, limit=50)
    vector_hits = index.search_vectors(embed(query), limit=50)
    scores = {}
    for rank, hit in enumerate(text_hits):
        scores[hit.id] = scores.get(hit.id, 0) + 1 / (60 + rank)
    for rank, hit in enumerate(vector_hits):
        scores[hit.id] = scores.get(hit.id, 0) + 1 / (60 + rank)
    best = sorted(scores, key=scores.get, reverse=True)[:k]
    return [index.passage(pid) for pid in best]
'''


def _sentence(rng: random.Random, lo: int = 8, hi: int = 22) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        i = rng.randrange(len(words))
        words[i] = f"**{words[i]}**"
    if rng.random() < 0.3:
        i = rng.randrange(len(words))
        words[i] = f"`{words[i]}()`"
    return " ".join(words) + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))


def assistant_answer(rng: random.Random) -> str:
    """One answer of a few paragraphs with, sometimes, a list, code, a table or math."""
    parts = [_paragraph(rng)]
    if rng.random() < 0.5:
        parts.append("\n".join(f"{i}. {_sentence(rng, 4, 10)}" for i in range(1, 5)))
    if rng.random() < 0.35:
        parts.append(f"```python\n{CODE}```")
    if rng.random() < 0.2:
        rows = "\n".join(
            f"| {rng.choice(WORDS)} | {rng.randint(1, 999)} | {rng.random():.2f} |"
            for _ in range(4)
        )
        parts.append(f"| name | count | score |\n|---|---:|---:|\n{rows}")
    if rng.random() < 0.15:
        parts.append("The blended score is $s = \\sum_i \\frac{1}{60 + r_i}$.")
    parts.append(_paragraph(rng))
    return "\n\n".join(parts)


def user_question(rng: random.Random) -> str:
    return _sentence(rng, 6, 16).rstrip(".") + "?"


def conversation(turns: int, seed: int = 0) -> list[tuple[str, str]]:
    """turns question/answer pairs (2 * turns messages)."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for _ in range(turns):
        out += [("user", user_question(rng)), ("assistant", assistant_answer(rng))]
    return out


def streamed_answer(seed: int = 1) -> str:
    """A long answer (about 700 tokens) with every kind of block, to stream."""
    rng = random.Random(seed)
    return "\n\n".join(
        [
            "## How retrieval works here",
            _paragraph(rng),
            "\n".join(f"- {_sentence(rng, 5, 12)}" for _ in range(5)),
            f"```python\n{CODE}```",
            _paragraph(rng),
            "| step | cost | note |\n|---|---:|---|\n"
            + "\n".join(
                f"| {w} | {rng.randint(1, 99)} ms | {_sentence(rng, 3, 6)} |"
                for w in ("parse", "embed", "search", "rank")
            ),
            "The blended score is $s = \\sum_i \\frac{1}{60 + r_i}$, and overall\n\n"
            "$$T(n) = O(n \\log n)$$",
            _paragraph(rng),
            _paragraph(rng),
        ]
    )
