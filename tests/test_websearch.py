"""Web search: answers from pages found by a search engine, with checked, linked sources.

The engine is a fake SearXNG on 127.0.0.1 (real HTTP, tests/websearch_support.py) whose
results link to pages on 127.0.0.1 holding made-up facts; the model is a scripted
OpenAI-compatible upstream that quotes the prompt's source [1] (tests/answers_support.py).
The openai client parses the answers, annotations included.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from causerie.app import create_app
from causerie.knowledge.chunking import Chunk
from causerie.knowledge.webpages import Page, candidates
from causerie.knowledge.websearch import Brave, SearxNG, Tavily
from causerie.settings import KnowledgeConfig, ModelConfig, Settings, WebSearchConfig
from tests.accounts_support import ADMIN, ADMIN_PASSWORD, Site, create_user, site
from tests.answers_support import fake_upstream
from tests.knowledge_support import create_collection, ingest
from tests.test_answers_cli import _causerie
from tests.websearch_support import KEY, PDF_FACT, SLOW_ENGINE, SLOW_PAGE, FakeWeb, fake_web

BUDGET = 4.0  # generous: on a loaded CI machine reading the PDF takes a while
QUESTION = "When was the Vireltan lighthouse first lit?"
NOTES = b"# Osk island\n\nThe Osk island school was built in 1931 and has nine pupils.\n"


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    with fake_web() as w:
        yield w


def _settings(data: Any, upstream: str, web: FakeWeb, **knowledge: Any) -> Settings:
    return Settings(
        data_dir=data,
        models=[
            ModelConfig(
                name="quote",
                provider="openai-compatible",
                base_url=upstream,
                upstream_model="quote",
            )
        ],
        default_model="quote",
        knowledge=KnowledgeConfig(**knowledge),
        web_search=WebSearchConfig(
            provider="searxng",
            base_url=web.url,
            time_budget=BUDGET,
            results=5,
            max_page_bytes=1024 * 1024,
        ),
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with fake_upstream() as url:
        yield url


@pytest.fixture(scope="module")
async def served(
    web: FakeWeb, upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Site, str]]:
    """The app (loopback pages allowed, as on an intranet) and a reader's API key."""
    settings = _settings(tmp_path_factory.mktemp("web"), upstream, web, allow_private_urls=True)
    create_user(settings, ADMIN, ADMIN_PASSWORD, role="admin")
    create_user(settings, "reader", "reader-pw-123")
    create_user(settings, "capped", "capped-pw-123", web_searches_per_day=1)
    async with site(settings, timeout=120) as s:
        key, _ = await s.user_key("reader", "reader-pw-123")
        yield s, key


def _openai(s: Site, key: str) -> openai.AsyncOpenAI:
    transport = httpx.ASGITransport(app=s.app)
    http = httpx.AsyncClient(transport=transport, base_url="http://causerie.test", timeout=120)
    return openai.AsyncOpenAI(base_url="http://causerie.test/v1", api_key=key, http_client=http)


async def _ask(client: openai.AsyncOpenAI, question: str, **extra: Any) -> Any:
    return await client.chat.completions.create(
        model="quote",
        messages=[{"role": "user", "content": question}],
        web_search_options={},
        **extra,
    )


async def test_answer_from_a_web_page_carries_its_url_citation(
    served: tuple[Site, str], web: FakeWeb
) -> None:
    client = _openai(*served)
    answer = await _ask(client, QUESTION)
    message = answer.choices[0].message
    assert "1874" in (message.content or "")
    assert message.annotations, message
    cite = message.annotations[0]
    assert cite.type == "url_citation"
    assert cite.url_citation.url == web.page("/vireltan")
    assert cite.url_citation.title == "Vireltan lighthouse"
    span = message.content[cite.url_citation.start_index : cite.url_citation.end_index]
    assert "1874" in span and span.rstrip(".").endswith("]")
    extra = message.model_extra or {}
    assert extra["sources"][0]["url"] == web.page("/vireltan")
    assert extra["sources"][0]["site"] == "127.0.0.1"
    assert extra["citations"][0]["status"] == "supported"
    assert web.searches[-1]["language"] == "en" and web.searches[-1]["q"] == QUESTION


async def test_streamed_answer_carries_annotations_indexing_the_streamed_text(
    served: tuple[Site, str], web: FakeWeb
) -> None:
    client = _openai(*served)
    stream = await _ask(client, QUESTION, stream=True)
    content, annotations = "", []
    async for chunk in stream:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            annotations += (choice.delta.model_extra or {}).get("annotations") or []
    assert "1874" in content
    assert annotations and {a["type"] for a in annotations} == {"url_citation"}
    assert {a["url_citation"]["url"] for a in annotations} == {web.page("/vireltan")}
    spans = [
        content[a["url_citation"]["start_index"] : a["url_citation"]["end_index"]]
        for a in annotations
    ]
    assert "1874" in spans[0] and all(s.strip() for s in spans)


async def test_a_french_question_searches_in_french(served: tuple[Site, str], web: FakeWeb) -> None:
    client = _openai(*served)
    answer = await _ask(client, "En quelle année le phare de Vireltan fut-il allumé ?")
    assert web.searches[-1]["language"] == "fr"
    assert "1874" in (answer.choices[0].message.content or "")


async def test_broken_pages_are_reported_and_never_block_the_answer(
    served: tuple[Site, str], web: FakeWeb
) -> None:
    client = _openai(*served)
    started = time.monotonic()
    answer = await _ask(client, f"trouble {QUESTION}")
    took = time.monotonic() - started
    # The slow page takes 30 s: given up at the 4 s budget (the margin is for a loaded CI).
    assert took < SLOW_PAGE / 2, took
    message = answer.choices[0].message
    assert "1874" in (message.content or "")
    report = (message.model_extra or {})["web_search"]
    read = {p["url"] for p in report["read"]}
    assert read == {web.page("/vireltan"), web.page("/ferry.pdf")}, report  # the PDF too
    unread = {p["url"]: p["reason"] for p in report["unread"]}
    assert "larger than the limit" in unread[web.page("/huge")]
    assert "budget" in unread[web.page("/slow")]
    assert "link-local" in unread[web.page("/metadata")]  # the redirect was checked
    assert "/latest/" not in web.pages


async def test_pdf_page_answers_its_question(served: tuple[Site, str], web: FakeWeb) -> None:
    client = _openai(*served)
    answer = await _ask(client, "trouble How many passengers does the Osk island ferry carry?")
    message = answer.choices[0].message
    assert "212" in (message.content or "")
    assert message.annotations and message.annotations[0].url_citation.url == web.page("/ferry.pdf")
    assert PDF_FACT.split()[0] in message.content


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("slowengine", "did not answer within"),
        ("brokenengine", "HTTP 500"),
        ("garbled", "not JSON"),
        ("nothingatall", None),
    ],
)
async def test_engine_failures_get_an_honest_answer(
    served: tuple[Site, str], word: str, reason: str | None
) -> None:
    client = _openai(*served)
    started = time.monotonic()
    answer = await _ask(client, f"{word} {QUESTION}")
    assert time.monotonic() - started < SLOW_ENGINE / 2  # the slow engine takes 30 s
    message = answer.choices[0].message
    assert "nothing relevant" in (message.content or "")
    report = (message.model_extra or {})["web_search"]
    assert (report["error"] is None) if reason is None else (reason in report["error"])
    assert message.annotations == []


async def test_pages_are_read_once_while_cached(served: tuple[Site, str], web: FakeWeb) -> None:
    client = _openai(*served)
    before = web.pages.count("/vireltan")
    await _ask(client, "Who first lit the Vireltan lighthouse?")
    await _ask(client, "Which keeper lit the Vireltan lighthouse?")
    assert web.pages.count("/vireltan") - before <= 1


def _page(url: str, *texts: str) -> Page:
    return Page(url, url, [Chunk(i, t, 0, len(t), None, None) for i, t in enumerate(texts)])


def test_passages_embedded_are_each_pages_best_then_the_others_by_words() -> None:
    """Only these are embedded at question time (bench/websearch.py: embedding was the cost)."""
    a = _page(
        "a",
        "The harbour has two cranes.",
        "The Vireltan lighthouse was first lit in 1874.",
        "The lighthouse keepers kept a log.",
    )
    b = _page("b", "Le phare se visite en été.", "Keepers lived in the Vireltan tower.")
    c = _page("c", "The cafe opens at noon.", "Still nothing at all.")
    d = _page("d", "Rien ici.", "Toujours rien.")  # no shared word, no snippet: its first
    question = "When was the Vireltan lighthouse first lit?"
    snippets = {"c": "Still nothing at all"}  # the engine's excerpt points at c's second
    chosen = candidates([a, b, c, d], snippets, question, 5)
    picked = [(page.url, chunk.ordinal) for page, chunk in chosen]
    # Every page's best first (ranked by that measure), then the best of the others.
    assert set(picked[:4]) == {("a", 1), ("b", 1), ("c", 1), ("d", 0)}
    assert picked[4] == ("a", 2)  # "lighthouse": the other passages have no such word
    everything = candidates([a, b, c, d], snippets, question, 100)
    assert len(everything) == 9 == len({(p.url, ch.ordinal) for p, ch in everything})


async def test_web_and_collections_in_one_answer_numbered_together(
    served: tuple[Site, str], web: FakeWeb
) -> None:
    s, key = served
    c = await s.client(key)
    col = await create_collection(c, "island")
    job = await ingest(c, col, "island.md", NOTES, "text/markdown")
    assert job["status"] == "succeeded", job
    r = await c.post(
        "/v1/chat/completions",
        json={
            "model": "quote",
            "messages": [
                {
                    "role": "user",
                    "content": "When were the Osk island school and "
                    "the Vireltan lighthouse built or first lit?",
                }
            ],
            "collections": ["island"],
            "web_search_options": {"search_context_size": "low"},
        },
    )
    assert r.status_code == 200, r.text
    sources = r.json()["choices"][0]["message"]["sources"]
    assert [x["index"] for x in sources] == list(range(1, len(sources) + 1))
    assert any(x.get("url") == web.page("/vireltan") for x in sources), sources
    assert any(x["collection_id"] == col and "url" not in x for x in sources), sources


async def test_web_searches_count_in_usage_and_a_user_limit_holds(
    served: tuple[Site, str],
) -> None:
    s, _ = served
    key, _ = await s.user_key("capped", "capped-pw-123")
    client = _openai(s, key)
    await _ask(client, QUESTION)  # pending usage counts at once in this process
    with pytest.raises(openai.RateLimitError) as refused:
        await _ask(client, QUESTION)
    assert "web search limit" in str(refused.value)
    c = await s.client(key)
    plain = await c.post(
        "/v1/chat/completions",
        json={"model": "quote", "messages": [{"role": "user", "content": "Hello"}]},
    )
    assert plain.status_code == 200  # only web searches are capped
    usage = (await c.get("/api/usage")).json()["data"]
    assert sum(row["web_searches"] for row in usage) == 1


async def test_a_key_limit_on_web_searches_holds_for_that_key_only(
    served: tuple[Site, str],
) -> None:
    s, other_key = served
    key, created = await s.user_key("reader", "reader-pw-123", web_searches_per_day=1)
    assert created["web_searches_per_day"] == 1
    client = _openai(s, key).with_options(max_retries=0)
    assert "1874" in ((await _ask(client, QUESTION)).choices[0].message.content or "")
    with pytest.raises(openai.RateLimitError) as refused:
        await _ask(client, QUESTION)
    error = refused.value  # OpenAI's error body, parsed by the SDK
    assert (error.type, error.code) == ("rate_limit_error", "rate_limit_exceeded")
    assert "web search limit" in error.message and "(key)" in error.message
    assert int(error.response.headers["retry-after"]) >= 1
    c = await s.client(key)
    plain = await c.post(
        "/v1/chat/completions",
        json={"model": "quote", "messages": [{"role": "user", "content": "Hello"}]},
    )
    assert plain.status_code == 200  # only web searches are capped
    # The same user's other key has no such limit: the cap is the key's, not the user's.
    answer = await _ask(_openai(s, other_key), QUESTION)
    assert "1874" in (answer.choices[0].message.content or "")
    keys = (await c.get("/api/keys")).json()["data"]
    assert {k["id"]: k["web_searches_per_day"] for k in keys}[created["id"]] == 1


async def test_user_location_is_refused_by_name(served: tuple[Site, str]) -> None:
    client = _openai(*served)
    with pytest.raises(openai.BadRequestError) as refused:
        await _ask(
            client,
            QUESTION,
            extra_body={
                "web_search_options": {
                    "user_location": {"type": "approximate", "approximate": {"country": "FR"}}
                }
            },
        )
    assert "user_location" in str(refused.value)


async def test_default_mode_refuses_pages_on_private_addresses(
    web: FakeWeb, upstream: str, tmp_path: Any
) -> None:
    """Without knowledge.allow_private_urls, a result on 127.0.0.1 is not fetched."""
    before = len(web.pages)
    async with site(_settings(tmp_path, upstream, web)) as s:
        answer = await _ask(_openai(s, "any"), QUESTION)
    message = answer.choices[0].message
    assert "nothing relevant" in (message.content or "")
    (unread,) = (message.model_extra or {})["web_search"]["unread"]
    assert "loopback address" in unread["reason"] and "allow_private_urls" in unread["reason"]
    assert len(web.pages) == before


async def test_web_search_options_without_an_engine_is_a_clear_400(
    upstream: str, tmp_path: Any
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        models=[ModelConfig(name="quote", provider="openai-compatible", base_url=upstream)],
    )
    async with site(settings) as s:
        with pytest.raises(openai.BadRequestError) as refused:
            await _ask(_openai(s, "any"), QUESTION)
    assert "Web search is not enabled" in str(refused.value)


@pytest.mark.parametrize("provider", ["brave", "tavily"])
def test_a_provider_without_its_key_is_a_start_up_error(
    provider: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"{provider.upper()}_API_KEY", raising=False)
    settings = Settings(data_dir=tmp_path, web_search=WebSearchConfig(provider=provider))
    with pytest.raises(ValueError, match=f"{provider.upper()}_API_KEY"):
        create_app(settings)


@pytest.mark.parametrize(("engine", "base"), [(Brave, "/res/v1"), (Tavily, ""), (SearxNG, "")])
def test_each_engine_speaks_its_api(web: FakeWeb, engine: Any, base: str) -> None:
    client = SearxNG(web.url) if engine is SearxNG else engine(web.url + base, KEY)
    results = client.search("Vireltan lighthouse", "fr", 3, timeout=5)
    assert [r.url for r in results] == [web.page("/vireltan")]
    assert results[0].title == "Vireltan lighthouse"
    seen = web.searches[-1]
    assert seen["engine"] == client.name and seen["q"] == "Vireltan lighthouse"
    if engine is not SearxNG:
        assert seen["key"] == KEY
    if engine is Brave:
        assert seen["search_lang"] == "fr" and seen["count"] == "3"


async def test_conversation_toggle_searches_the_web(served: tuple[Site, str], web: FakeWeb) -> None:
    s, key = served
    c = await s.client(key)
    conv = (await c.post("/api/conversations", json={"web_search": True})).json()
    assert conv["web_search"] is True
    events = await _turn(c, conv["id"], {"content": QUESTION})
    sources = next(e for k, e in events if k == "sources")["sources"]
    assert sources[0]["url"] == web.page("/vireltan")
    grounding = next(e for k, e in events if k == "grounding")
    assert "1874" in grounding["content"]
    assert grounding["web"]["read"][0]["url"] == web.page("/vireltan")
    # Per message: off for this one, although the conversation's toggle is on.
    off = await _turn(c, conv["id"], {"content": "Thanks!", "web_search": False})
    assert not any(k == "sources" for k, _ in off)
    stored = (await c.get(f"/api/conversations/{conv['id']}/grounding")).json()["data"]
    assert any(g.get("web") for g in stored.values()), stored


async def _turn(c: httpx.AsyncClient, conv_id: str, body: dict) -> list[tuple[str, Any]]:
    events, kind = [], ""
    async with c.stream("POST", f"/api/conversations/{conv_id}/messages", json=body) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    return events


def test_eval_answers_web_mode_serves_the_documents_as_pages(upstream: str, tmp_path: Any) -> None:
    """`causerie eval answers --variant web`, the model scripted to quote its source [1]."""
    config = tmp_path / "c.toml"
    config.write_text(
        'default_model = "quote"\n[[models]]\nname = "quote"\n'
        f'provider = "openai-compatible"\nbase_url = "{upstream}"\nupstream_model = "quote"\n'
    )
    (tmp_path / "island.md").write_text(NOTES.decode())
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps(
            {"id": "s1", "question": "When was the Osk island school built?", "keywords": ["1931"]}
        )
        + "\n"
    )
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    done = _causerie("ingest", str(tmp_path / "island.md"), "-c", "island", *common)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "report.json"
    args = ["eval", "answers", "--collection", "island", "--qa", str(qa), "--json", str(out)]
    run = _causerie(*args, "--variant", "pipeline", "--variant", "web", *common)
    assert run.returncode == 0, run.stderr
    assert "web       all" in run.stdout
    report = json.loads(out.read_text())
    (web_result,) = report["results"]["web"]
    assert web_result["in_evidence"] and web_result["correct"] and web_result["cited"]
    assert "1931" in web_result["answer"]
    assert report["summary"]["web"]["all"]["ttft_median"] > 0
