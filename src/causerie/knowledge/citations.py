"""Citation checking: the system, not the model, decides which sentence a source supports.

Each sentence of the answer is compared with every source, by shared words and by
embedding similarity. A supported sentence gets the marker [n] of its best source
(whatever marker the model wrote); an unsupported claim is flagged, not hidden.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from causerie.knowledge.chunking import sentence_spans
from causerie.knowledge.embeddings import Embedder
from causerie.knowledge.textmatch import coverage, stems

if TYPE_CHECKING:
    from causerie.knowledge.grounding import Source

_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
MIN_CLAIM_WORDS = 3  # shorter sentences ("Yes.", "Sure!") make no checkable claim
# A sentence is supported by a source when most of its words are there, or some are and
# the meaning matches, or the meaning matches almost exactly (a translation, say).
# Embedding similarity alone is generous to sentences on the same topic, hence the words.
WORDS_ALONE = 0.6
WORDS_WITH_MEANING = 0.3
MEANING_ALONE = 0.93


def check_answer(answer: str, sources: Sequence[Source], embedder: Embedder) -> dict[str, Any]:
    """The answer with verified markers, and one verdict per sentence.

    Returns {"content": str, "citations": [{"sentence", "start", "end", "status",
    "source", "score"}]} where status is "supported", "unsupported" or "neutral";
    start/end index `content` and span the sentence with its marker.
    """
    spans = sentence_spans(answer)
    plain = [_MARKER.sub("", answer[s:e]).strip() for s, e in spans]
    claims = [i for i, t in enumerate(plain) if len(t.split()) >= MIN_CLAIM_WORDS]
    verdicts: dict[int, tuple[str, int | None, float]] = {}
    if claims and sources:
        vectors = embedder.passages([plain[i] for i in claims] + [s.text for s in sources])
        claim_vecs, source_vecs = vectors[: len(claims)], vectors[len(claims) :]
        cosines = claim_vecs @ source_vecs.T
        source_words = [stems(s.text) for s in sources]
        for row, i in enumerate(claims):
            verdicts[i] = _verdict(plain[i], cosines[row], source_words, sources, embedder)
    elif claims:
        verdicts = {i: ("unsupported", None, 0.0) for i in claims}
    gaps = [answer[spans[i - 1][1] : spans[i][0]] if i else "" for i in range(len(spans))]
    return _render(plain, gaps, verdicts)


def _verdict(
    sentence: str,
    cosines: Any,
    source_words: list[set[str]],
    sources: Sequence[Source],
    embedder: Embedder,
) -> tuple[str, int | None, float]:
    words = stems(sentence)
    best: tuple[float, int] | None = None
    for j, source in enumerate(sources):
        cos = float(cosines[j])
        share = coverage(words, source_words[j])
        supported = (
            share >= WORDS_ALONE
            or (share >= WORDS_WITH_MEANING and cos >= embedder.support_cosine)
            or cos >= max(MEANING_ALONE, embedder.support_cosine)
        )
        if supported and (best is None or cos + share > best[0]):
            best = (cos + share, source.n)
    if best is None:
        top = max(float(c) for c in cosines)
        return "unsupported", None, round(top, 4)
    return "supported", best[1], round(best[0], 4)


def _render(
    plain: list[str], gaps: list[str], verdicts: dict[int, tuple[str, int | None, float]]
) -> dict:
    """Rebuild the answer, keeping its line breaks, with the verified markers."""
    content, citations = "", []
    for i, sentence in enumerate(plain):
        if not sentence:
            continue
        if content:
            gap = gaps[i] if gaps[i].strip() == "" else " "
            content += gap or " "
        status, n, score = verdicts.get(i, ("neutral", None, 0.0))
        start = len(content)
        content += sentence
        if n is not None:
            content = _with_marker(content, n)
        end = len(content)  # the span includes the sentence's marker
        citations.append(
            {
                "sentence": sentence,
                "start": start,
                "end": end,
                "status": status,
                "source": n,
                "score": score,
            }
        )
    return {"content": content, "citations": citations}


def _with_marker(content: str, n: int) -> str:
    """Put [n] before the sentence's final punctuation, as people write it."""
    if content and content[-1] in ".!?…:;":
        return f"{content[:-1]} [{n}]{content[-1]}"
    return f"{content} [{n}]"
