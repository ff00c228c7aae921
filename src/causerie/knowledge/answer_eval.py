"""`causerie eval answers`: are the grounded answers right, cited, and honest?

A QA file has one JSON object a line (see docs/answer-eval.md):
  {"id": "en-1", "question": "...", "keywords": ["Torvalds"],
   "history": ["an earlier question"], "documents": "en", "section": "1.3"}
`keywords` are accepted spellings of the answer (any one is enough); an empty list
means the documents cannot answer and the model should say so. `history` makes a
follow-up: those questions are asked first, in the same conversation, by the same
variant. `documents` ("en" or "fr") picks the Debian FAQ collection; with
`--collection` every question goes to the user's collection instead.

Each variant answers every question in the same run, on the same model:
  naive     the three best chunks, whole, in the prompt (main's wording);
  evidence  main's evidence sentences and prompt before issue 10 (sentences by shared
            words and their chunk's similarity);
  pipeline  what users get now (services/grounded.py), through CompletionService:
            sentences ranked by their own similarity, the answering prompt, the guard;
  web       (asked for by name) the same pipeline through web search only: the documents
            served as web pages by a local search engine (knowledge/answer_web.py).
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from causerie.errors import CauserieError
from causerie.knowledge.evaluation import load_faq
from causerie.knowledge.extract import Block, Extracted
from causerie.protocol import CreateChatCompletionRequest
from causerie.services.grounded import bare
from causerie.settings import Settings
from causerie.store.models import LOCAL_USER_ID

VARIANTS = ("naive", "evidence", "pipeline")  # the default; "web" is asked by name
MAX_TOKENS = 120
# How small models say "the sources do not say", in both languages.
_ABSTAIN = re.compile(
    r"(do not|don't|does not|doesn't|cannot|can't|could not) (know|say|answer|find|contain|"
    r"mention|provide|specify)|nothing relevant|no (answer|information|mention)|not "
    r"(mentioned|specified|stated|provided)|ne sais pas|rien trouvé|aucune (réponse|"
    r"information)|ne (disent|précisent|mentionnent|contiennent|donnent) pas|pas d'information|"
    r"n'indiquent pas|je ne peux pas",
    re.I,
)


class InvalidQA(CauserieError):
    """A QA file that cannot be read."""


@dataclass(frozen=True)
class Item:
    """One question, its accepted answer keywords, and the turns before it."""

    id: str
    question: str
    keywords: tuple[str, ...]
    history: tuple[str, ...] = ()
    documents: str = "en"
    section: str | None = None
    lang: str | None = None  # the question's language; guessed when not given

    @property
    def kind(self) -> str:
        """The row of the report it counts in."""
        if not self.keywords:
            return "unanswerable"
        if self.history:
            return "follow-up"
        lang = self.lang or ("fr" if _french(self.question) else "en")
        return lang if lang == self.documents else f"{lang}->{self.documents}"


@dataclass
class Result:
    """What one variant answered to one item, and how it scored."""

    id: str
    kind: str
    answer: str
    correct: bool
    cited: bool
    abstained: bool
    bare: bool
    in_evidence: bool
    ttft: float
    prompt_tokens: int
    # The checker checked (see _checker_errors): right claims it flagged, wrong it passed.
    right_claims: int = 0
    flagged_right: int = 0
    wrong_claims: int = 0
    passed_wrong: int = 0
    # What the checker worked on, so a failure can be looked at (and re-checked) later.
    raw: str = ""  # the model's text as streamed, before the checker
    citations: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Every result of a run, by variant."""

    model: str
    results: dict[str, list[Result]] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Counts and timings by variant and kind ('all' sums every kind)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for variant, results in self.results.items():
            kinds = sorted({r.kind for r in results})
            out[variant] = {k: _score([r for r in results if r.kind == k]) for k in kinds}
            out[variant]["all"] = _score(results)
        return out

    def json(self) -> dict[str, Any]:
        """The report as plain data: the summary, then every answer."""
        return {
            "model": self.model,
            "summary": self.summary(),
            "results": {v: [asdict(r) for r in rs] for v, rs in self.results.items()},
        }


def _score(results: list[Result]) -> dict[str, Any]:
    answerable = [r for r in results if r.kind != "unanswerable"]
    ttfts = sorted(r.ttft for r in results)
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "correct": sum(r.correct for r in answerable),
        "cited": sum(r.cited for r in answerable),
        "in_evidence": sum(r.in_evidence for r in answerable),
        "unanswerable": len(results) - len(answerable),
        "abstained": sum(r.abstained for r in results if r.kind == "unanswerable"),
        "wrongly_abstained": sum(r.abstained for r in answerable),
        "bare": sum(r.bare for r in results),
        **{
            key: sum(getattr(r, key) for r in results)
            for key in ("right_claims", "flagged_right", "wrong_claims", "passed_wrong")
        },
        "ttft_median": round(statistics.median(ttfts), 2) if ttfts else None,
        "ttft_p90": round(ttfts[min(len(ttfts) - 1, int(0.9 * len(ttfts)))], 2) if ttfts else None,
        "prompt_tokens_mean": round(statistics.mean(r.prompt_tokens for r in results), 1)
        if results
        else None,
    }


def default_qa() -> Path:
    """The public QA set over the Debian FAQ, shipped in the package."""
    return Path(str(resources.files("causerie.knowledge") / "data" / "debian_faq_qa.jsonl"))


def load_qa(path: Path) -> list[Item]:
    """Read and check a QA file; InvalidQA names the line of any problem."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidQA(f"cannot read the QA file {path}: {exc}") from None
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(_item(row, n))
        except json.JSONDecodeError as exc:
            raise InvalidQA(f"{path}:{n}: not JSON ({exc.msg})") from None
    if not items:
        raise InvalidQA(f"{path}: no questions")
    return items


def _item(row: Any, n: int) -> Item:
    if not isinstance(row, dict):
        raise InvalidQA(f"line {n}: expected a JSON object")
    question, keywords = row.get("question"), row.get("keywords", [])
    history = row.get("history", [])
    if not isinstance(question, str) or not question.strip():
        raise InvalidQA(f"line {n}: 'question' must be a non-empty string")
    for name, value in (("keywords", keywords), ("history", history)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InvalidQA(f"line {n}: '{name}' must be a list of non-empty strings")
    documents = row.get("documents", "en")
    if documents not in ("en", "fr"):
        raise InvalidQA(f"line {n}: 'documents' must be 'en' or 'fr'")
    if row.get("lang") not in (None, "en", "fr"):
        raise InvalidQA(f"line {n}: 'lang' must be 'en' or 'fr'")
    return Item(
        str(row.get("id", n)), question.strip(), tuple(keywords), tuple(history), documents,
        row.get("section"), row.get("lang"),
    )  # fmt: skip


def pick(items: list[Item], limit: int | None) -> list[Item]:
    """The first `limit` items of each kind (all when None), kinds taken in turn.

    Taking kinds in turn makes a run stopped early still cover every kind.
    """
    by_kind: dict[str, list[Item]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    queues = [group[:limit] if limit else group for group in by_kind.values()]
    out = []
    for i in range(max(len(q) for q in queues)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


def has_keyword(text: str, keywords: tuple[str, ...]) -> bool:
    """Whether text states one of the keywords (whole words at alphanumeric ends)."""
    for kw in keywords:
        left = r"(?<!\w)" if kw[0].isalnum() else ""
        right = r"(?!\w)" if kw[-1].isalnum() else ""
        if re.search(f"{left}{re.escape(kw)}{right}", text, re.I):
            return True
    return False


def _french(text: str) -> bool:
    from causerie.knowledge.textmatch import looks_french

    return looks_french(text)


# -- running -------------------------------------------------------------------------


@contextmanager
def _opened(
    settings: Settings,
    collection: str | None,
    index: Path | None,
    say: Callable[[str], None],
    web_mode: bool = False,
) -> Iterator[tuple[Any, dict[str, str]]]:
    """The services and the collection id by documents key, closed after the run.

    Without a collection the FAQs are indexed into `index` (kept, and reused by the next
    run: indexing both takes minutes on two cores) or else a throwaway database.
    """
    from causerie.knowledge.answer_web import CollectionWeb
    from causerie.wiring import build_services

    with (
        tempfile.TemporaryDirectory(prefix="causerie-answers-") as tmp,
        CollectionWeb() as web,
    ):
        if collection is None:
            db = index or Path(tmp) / "eval.db"
            settings = settings.model_copy(update={"database_url": f"sqlite:///{db}"})
        if web_mode:
            settings = _with_web(settings, web.url)
        services = build_services(settings)
        services.db.prepare()
        try:
            collections = _collections(services, collection, say)
            web.serve(services.knowledge.service, list(collections.values()))
            yield services, collections
        finally:
            services.knowledge.close()
            services.db.engine.dispose()


async def run(
    settings: Settings,
    items: list[Item],
    variants: tuple[str, ...],
    collection: str | None = None,
    say: Callable[[str], None] = lambda _: None,
    index: Path | None = None,
    partial: Callable[[Report], None] = lambda _: None,
) -> Report:
    """Answer every item with every variant on the default model.

    `partial` gets the report after each item: a long run stopped early keeps its results.
    """
    with _opened(settings, collection, index, say, "web" in variants) as (
        services,
        collections,
    ):
        try:
            model = settings.default_model or settings.models[0].name  # as the server does
            say(f"loading {model}")
            await _loaded(services.catalog)
            report = Report(model)
            runner = _Runner(services, model, collections)
            report.results = {v: [] for v in variants}
            # Item by item, every variant in turn: a loaded machine slows them alike.
            for i, item in enumerate(items, 1):
                for variant in variants:
                    result = await runner.answer(variant, item)
                    report.results[variant].append(result)
                    # right: the answer, or an abstention where the documents cannot answer
                    right = result.correct or (result.abstained and not item.keywords)
                    mark = "ok" if right else "--"
                    say(
                        f"{i}/{len(items)} {item.id} {variant} {mark} ttft={result.ttft:.1f} "
                        f"{result.answer[:70]!r}"
                    )
                partial(report)
            return report
        finally:
            await services.catalog.close()


def evidence(
    settings: Settings,
    items: list[Item],
    variants: tuple[str, ...],
    collection: str | None = None,
    say: Callable[[str], None] = lambda _: None,
    index: Path | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Without the model: how often a keyword is inside each variant's prompt evidence.

    The answer-bearing sentence must fit the budget before any model can state it; this
    runs over a whole QA set in minutes. Earlier turns are the history's questions only.
    Each miss says where retrieval lost the answer (`lost_at`, see `_lost_at`), so a
    change is aimed at the stage that loses most.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    web_mode = "web" in variants
    with _opened(settings, collection, index, say, web_mode) as (services, collections):
        grounder = services.knowledge.grounder
        for variant in variants:
            rows: dict[str, list[tuple[bool, int, str | None]]] = {}
            for item in (i for i in items if i.keywords):
                msgs = [{"role": "user", "content": q} for q in (*item.history, item.question)]
                body = {"messages": msgs}
                col = collections[item.documents]
                if variant == "web":  # the pipeline, its evidence from the local web only
                    g = grounder.ground_from([services.knowledge.web], body, LOCAL_USER_ID)
                else:
                    g = grounder.ground([col], body, LOCAL_USER_ID, variant)
                found = any(has_keyword(src.text, item.keywords) for src in g.sources)
                words = sum(len(src.text.split()) for src in g.sources)
                lost = None
                if not found:  # the web step's own stages: bench.websearch
                    web = variant == "web"
                    lost = "web" if web else _lost_at(grounder, col, g.query, item.keywords)
                if lost is not None:
                    say(f"{item.id} {variant} lost at {lost}")
                for kind in (item.kind, "all"):
                    rows.setdefault(kind, []).append((found, words, lost and lost.split()[0]))
            out[variant] = {kind: _evidence_row(r) for kind, r in rows.items()}
    return out


def _evidence_row(rows: list[tuple[bool, int, str | None]]) -> dict[str, Any]:
    lost: dict[str, int] = {}
    for _, _, stage in rows:
        if stage is not None:
            lost[stage] = lost.get(stage, 0) + 1
    return {
        "answerable": len(rows),
        "in_evidence": sum(f for f, _, _ in rows),
        "words_mean": round(statistics.mean(w for _, w, _ in rows), 1),
        "lost_at": lost,
    }


def _lost_at(grounder: Any, col: str, query: str, keywords: tuple[str, ...]) -> str:
    """The first stage whose output no longer holds a passage with the answer.

    search: not in the fused top_k (with its full-text, vector and fused ranks 40 deep);
    relevance: retrieved but under the cosine floor; chunks: past the chunks whose
    sentences are read; sentences: its sentence was not chosen for the budget.
    """
    from causerie.knowledge.evidence import Ask
    from causerie.knowledge.grounding import EVIDENCE_CHUNKS, TEXT_SEATS

    service = grounder.service
    qv = service.embedder.queries([query])[0]
    scored = grounder.search(Ask(query, query, qv, LOCAL_USER_ID, "en"), [col])
    ok = [hit.chunk_id for hit, _, good in scored if good]
    holding = [hit.chunk_id for hit, _, _ in scored if has_keyword(hit.text, keywords)]
    if holding:
        if not any(c in ok for c in holding):
            return "relevance"
        read = ok[:EVIDENCE_CHUNKS] + [
            h.chunk_id for h, _, _ in scored if h.text_rank and h.text_rank <= TEXT_SEATS
        ]
        if not any(c in read for c in holding):
            return "chunks"
        return "sentences"
    ranks = []
    for mode in ("text", "vector", "hybrid"):
        hits = service.search(LOCAL_USER_ID, query, [col], k=40, mode=mode, query_vector=qv)
        rank = next((n for n, h in enumerate(hits, 1) if has_keyword(h.text, keywords)), None)
        ranks.append(f"{mode} {rank or '-'}")
    return f"search ({', '.join(ranks)})"


def format_evidence(summary: dict[str, dict[str, dict[str, Any]]]) -> str:
    """A plain-text table of `evidence`: keyword inside the prompt's evidence, by kind."""
    lines = [f"{'variant':<9} {'kind':<13} {'in-ev':>9} {'words':>6}  lost at"]
    for variant, kinds in summary.items():
        for kind, s in kinds.items():
            share = f"{s['in_evidence']}/{s['answerable']}"
            lost = ", ".join(f"{k} {n}" for k, n in sorted(s["lost_at"].items()))
            lines.append(f"{variant:<9} {kind:<13} {share:>9} {s['words_mean']:>6}  {lost}")
    return "\n".join(lines)


def _with_web(settings: Settings, url: str) -> Settings:
    """The settings with the local engine as SearXNG, its loopback pages allowed."""
    from causerie.settings import WebSearchConfig

    knowledge = settings.knowledge.model_copy(update={"allow_private_urls": True})
    engine = WebSearchConfig(provider="searxng", base_url=url, cache_ttl=0)
    return settings.model_copy(update={"knowledge": knowledge, "web_search": engine})


async def _loaded(catalog: Any) -> None:
    """Wait for the models to load, as the server's /ready does."""
    import anyio

    catalog.start_loading()
    while not catalog.ready:
        if errors := catalog.load_errors():
            raise InvalidQA(f"the model did not load: {errors}")
        await anyio.sleep(0.2)


def _collections(services: Any, collection: str | None, say: Callable[[str], None]) -> dict:
    """Collection id by documents key: the user's one for all, or both FAQs indexed."""
    knowledge = services.knowledge.service
    if collection is not None:
        try:
            col = knowledge.collection_by_name(LOCAL_USER_ID, collection, create=False)
        except CauserieError:
            raise InvalidQA(f"no collection named '{collection}'") from None
        return {"en": col["id"], "fr": col["id"]}
    out = {}
    for lang in ("en", "fr"):
        questions = load_faq(lang)
        col = knowledge.collection_by_name(LOCAL_USER_ID, f"faq-{lang}", create=True)
        if col["document_count"] == len(questions):  # a kept index (--index)
            say(f"reusing the indexed FAQ ({lang})")
            out[lang] = col["id"]
            continue
        if col["document_count"]:
            raise InvalidQA(f"the index holds a partial FAQ ({lang}): delete it and rerun")
        say(f"indexing {len(questions)} FAQ answers ({lang})")
        col = col["id"]
        for q in questions:
            doc = Extracted("text", [Block(q.body)])
            knowledge.index(
                LOCAL_USER_ID, col, name=q.number, source=q.number, sha256=q.number,
                size=len(q.body), extracted=doc,
            )  # fmt: skip
        out[lang] = col
    return out


class _Runner:
    def __init__(self, services: Any, model: str, collections: dict[str, str]):
        self.completions = services.completions
        self.grounder = services.knowledge.grounder
        self.provider = services.catalog.get(model)
        self.model = model
        self.collections = collections

    async def answer(self, variant: str, item: Item) -> Result:
        messages: list[dict[str, str]] = []
        col = self.collections[item.documents]
        for earlier in item.history:  # the same variant answers the earlier turns
            messages.append({"role": "user", "content": earlier})
            reply = await self._turn(variant, col, messages)
            messages.append({"role": "assistant", "content": reply["content"]})
        messages.append({"role": "user", "content": item.question})
        reply = await self._turn(variant, col, messages)
        return _judge(item, reply)

    async def _turn(self, variant: str, col: str, messages: list[dict]) -> dict[str, Any]:
        body = {"model": self.model, "messages": list(messages), "max_tokens": MAX_TOKENS}
        body["temperature"] = 0
        if variant in ("pipeline", "web"):
            return await self._pipeline(body, col, web=variant == "web")
        import anyio

        engine = self.completions.prepare(CreateChatCompletionRequest.model_validate(body)).body
        grounded = await anyio.to_thread.run_sync(
            lambda: self.grounder.ground([col], engine, LOCAL_USER_ID, variant)
        )
        started, ttft, text, usage = time.perf_counter(), None, "", {}
        if grounded.relevant:
            async for chunk in self.provider.stream(grounded.body):
                for choice in chunk.get("choices") or ():
                    piece = (choice.get("delta") or {}).get("content")
                    if piece and ttft is None:
                        ttft = time.perf_counter() - started
                    text += piece or ""
                if not chunk.get("choices") and chunk.get("usage"):
                    usage = chunk["usage"]
            checked = await anyio.to_thread.run_sync(self.grounder.check, grounded, text)
        else:
            ttft = time.perf_counter() - started
            checked = {"content": grounded.nothing_found(), "citations": [], "sources": []}
        extra = {"ttft": ttft or 0.0, "prompt_tokens": usage.get("prompt_tokens", 0), "raw": text}
        return {**checked, **extra}

    async def _pipeline(self, body: dict[str, Any], col: str, web: bool) -> dict[str, Any]:
        from causerie.services.completions import Outcome

        extra = {"web_search_options": {}} if web else {"collections": [col]}
        req = CreateChatCompletionRequest.model_validate({**body, **extra})
        prep = self.completions.prepare(req)
        outcome, started, ttft = Outcome(), time.perf_counter(), None
        async for chunk in self.completions.stream(prep, outcome):
            for choice in chunk.get("choices") or ():
                if (choice.get("delta") or {}).get("content") and ttft is None:
                    ttft = time.perf_counter() - started
        checked = outcome.grounding or {"content": outcome.content, "citations": []}
        checked.setdefault("sources", [])
        usage = outcome.usage or {}
        extra = {"prompt_tokens": usage.get("prompt_tokens", 0), "raw": outcome.content}
        return {**checked, "ttft": ttft or 0.0, **extra}


def _judge(item: Item, reply: dict[str, Any]) -> Result:
    content = reply["content"]
    keywords = item.keywords
    sources = {s["index"]: s["snippet"] for s in reply.get("sources") or ()}
    cited = any(
        has_keyword(c["sentence"], keywords)
        and c.get("source") in sources
        and has_keyword(sources[c["source"]], keywords)
        for c in reply.get("citations") or ()
    )
    raw = str(reply.get("raw") or "")
    correct = bool(keywords) and has_keyword(content, keywords)
    abstained = _ABSTAIN.search(content) is not None or _is_statement(content)
    return Result(
        id=item.id,
        kind=item.kind,
        answer=content,
        correct=correct,
        cited=bool(keywords) and cited,
        abstained=abstained,
        bare=bare(content),
        in_evidence=bool(keywords) and any(has_keyword(t, keywords) for t in sources.values()),
        ttft=round(reply["ttft"], 3),
        prompt_tokens=int(reply["prompt_tokens"] or 0),
        **_checker_errors(item, reply, sources, wrong=wrong_reply(item.keywords, raw)),
        raw=raw,
        citations=list(reply.get("citations") or ()),
        sources=list(sources.values()),
    )


def answers(raw: str) -> bool:
    """Whether the model's own text says something other than "I do not know"."""
    return bool(raw) and not bare(raw) and not _ABSTAIN.search(raw)


def wrong_reply(keywords: tuple[str, ...], raw: str) -> bool:
    """Whether the model's own text answers something else.

    Judged before the checker: a wrong reply it flags reaches the client as "I could not
    verify this" (an abstention), and must still count as a wrong reply it caught.
    """
    return bool(keywords) and answers(raw) and not has_keyword(raw, keywords)


def _checker_errors(
    item: Item, reply: dict[str, Any], sources: dict[int, str], wrong: bool
) -> dict[str, int]:
    """How the citation checker did on this reply, judged by the answer keywords.

    A right claim states a keyword that some source holds: flagging it "unsupported" is
    the checker's error. In a reply that is wrong (no keyword, no abstention) every
    claim is wrong: marking one "supported" is the other error.
    """
    claims = [c for c in reply.get("citations") or () if c["status"] != "neutral"]
    backed = any(has_keyword(t, item.keywords) for t in sources.values())
    right = [c for c in claims if backed and has_keyword(c["sentence"], item.keywords)]
    bad = claims if wrong else []
    return {
        "right_claims": len(right),
        "flagged_right": sum(c["status"] == "unsupported" for c in right),
        "wrong_claims": len(bad),
        "passed_wrong": sum(c["status"] == "supported" for c in bad),
    }


def _is_statement(content: str) -> bool:
    """Our own honest statements (nothing found, no answer produced) are abstentions."""
    from causerie.knowledge.citations import UNVERIFIED
    from causerie.knowledge.grounding import NOTHING_FOUND, NOTHING_FOUND_WEB
    from causerie.services.grounded import NO_ANSWER

    said = (*NOTHING_FOUND.values(), *NOTHING_FOUND_WEB.values(), *NO_ANSWER.values())
    # A reply opened by the checker's "could not verify" does not vouch for its answer.
    return content in said or content.startswith(tuple(UNVERIFIED.values()))


def format_report(report: Report) -> str:
    """A plain-text table, one line per variant and kind."""
    head = (
        f"{'variant':<9} {'kind':<13} {'n':>3} {'correct':>8} {'cited':>6} {'in-ev':>6} "
        f"{'abst':>5} {'bare':>5} {'ttft50':>7} {'ttft90':>7} {'prompt':>7} "
        f"{'flag-ok':>7} {'pass-bad':>8}"
    )
    lines = [f"model: {report.model}", head]
    for variant, kinds in report.summary().items():
        for kind, s in kinds.items():
            abst = f"{s['abstained']}/{s['unanswerable']}" if s["unanswerable"] else "-"
            lines.append(
                f"{variant:<9} {kind:<13} {s['questions']:>3} "
                f"{s['correct']:>4}/{s['answerable']:<3} {s['cited']:>6} {s['in_evidence']:>6} "
                f"{abst:>5} {s['bare']:>5} {s['ttft_median']:>7} {s['ttft_p90']:>7} "
                f"{s['prompt_tokens_mean']:>7} "
                f"{s['flagged_right']:>3}/{s['right_claims']:<3} "
                f"{s['passed_wrong']:>4}/{s['wrong_claims']:<3}"
            )
    return "\n".join(lines)
