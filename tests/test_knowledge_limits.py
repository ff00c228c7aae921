"""Limits where documents come in: the addresses a URL may reach (SSRF), and upload sizes."""

from __future__ import annotations

import base64
import ipaddress
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from causerie.errors import InvalidRequest, PayloadTooLarge
from causerie.knowledge.fetch import Fetcher, UrlRefused, address_kind, check_url, redirect_url
from tests.knowledge_support import K, drip, flood, web_site
from tests.support import LiveServer, write_config

MiB = 1024 * 1024
DOC_LIMIT = 8 * MiB  # above the server-wide 4 MiB request limit
PUBLIC = "93.184.216.34"

# -- which addresses are refused (unit level) --------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        (PUBLIC, None),
        ("2606:4700:4700::1111", None),
        ("::ffff:93.184.216.34", None),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("10.1.2.3", "private"),
        ("172.31.255.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("100.64.0.1", "shared (CGNAT)"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("0.1.2.3", "reserved"),
        ("192.0.2.1", "reserved"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("2001:db8::1", "reserved"),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def _resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """A DNS that answers from a table (DNS is outside our control)."""

    def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [])

    return resolve


def test_every_resolved_address_is_checked() -> None:
    resolve = _resolver(
        {"www.example": [PUBLIC], "mixed.example": [PUBLIC, "10.0.0.5"], "meta": ["169.254.1.1"]}
    )
    assert check_url("https://www.example/a", False, resolve).address == PUBLIC
    with pytest.raises(UrlRefused, match=r"'mixed.example' is a private address \(10.0.0.5\)"):
        check_url("http://mixed.example/", False, resolve)
    assert check_url("http://mixed.example/", True, resolve).address == PUBLIC
    with pytest.raises(UrlRefused, match="link-local"):
        check_url("http://meta/", True, resolve)  # allowing private addresses is not this
    with pytest.raises(InvalidRequest, match="could not be resolved"):
        check_url("http://nowhere.example/", True, resolve)
    for url in ("file:///etc/passwd", "ftp://www.example/", "http://", "not a url"):
        with pytest.raises(InvalidRequest):
            check_url(url, True, resolve)


def test_redirect_locations() -> None:
    here = httpx.URL("https://docs.example/guide/a.html?x=1")
    assert str(redirect_url(here, "b.html")) == "https://docs.example/guide/b.html"
    assert str(redirect_url(here, "/root#top")) == "https://docs.example/root"
    assert str(redirect_url(here, "//other.example/p")) == "https://other.example/p"
    assert str(redirect_url(here, "http://10.0.0.1/")) == "http://10.0.0.1/"


# -- the fetcher against a real site on 127.0.0.1 ----------------------------------------


@pytest.fixture
def site() -> Iterator[tuple[str, list[dict[str, str]]]]:
    routes = {
        "/page.txt": (200, {"Content-Type": "text/plain"}, b"A page about lighthouses."),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/declared": (200, {"Content-Length": str(10 * MiB)}, b""),
        "/flood": flood(2 * MiB),
        "/slow": drip(0.2, 200),
    }
    with web_site(routes) as served:
        yield served


def test_connection_goes_to_the_checked_address(site: tuple[str, list]) -> None:
    """'docs.example' exists in no DNS: only the address we checked can have answered."""
    url, seen = site
    port = httpx.URL(url).port
    fetcher = Fetcher(
        max_bytes=MiB,
        timeout=30,
        allow_private=True,
        resolve=_resolver({"docs.example": ["127.0.0.1"]}),
    )
    body, media_type = fetcher.fetch(f"http://docs.example:{port}/page.txt")
    assert body == b"A page about lighthouses." and media_type == "text/plain"
    assert seen == [{"path": "/page.txt", "host": f"docs.example:{port}"}]


def test_an_answer_that_changes_after_the_check_is_checked_again(site: tuple[str, list]) -> None:
    """DNS rebinding: public when the URL is submitted, loopback when it is fetched."""
    url, seen = site
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    fetcher = Fetcher(
        max_bytes=MiB, timeout=30, allow_private=False, resolve=lambda h, p: next(answers)
    )
    port = httpx.URL(url).port
    assert fetcher.check(f"http://rebind.example:{port}/page.txt").address == PUBLIC
    with pytest.raises(UrlRefused, match="loopback"):
        fetcher.fetch(f"http://rebind.example:{port}/page.txt")
    assert seen == []


def test_size_time_and_redirect_limits(site: tuple[str, list]) -> None:
    url, _ = site
    fetcher = Fetcher(max_bytes=MiB, timeout=2, allow_private=True)
    with pytest.raises(PayloadTooLarge, match="limit"):
        fetcher.fetch(f"{url}/declared")
    with pytest.raises(PayloadTooLarge, match="limit"):
        fetcher.fetch(f"{url}/flood")  # no declared length: counted while read
    with pytest.raises(InvalidRequest, match="redirects more than"):
        fetcher.fetch(f"{url}/loop")
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="took longer than 2 s"):
        fetcher.fetch(f"{url}/slow")  # each byte comes in time; the whole never does
    assert time.monotonic() - started < 20  # sanity bound only: the machine may be loaded


# -- through a real server: default settings refuse private addresses ---------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server without chat models (none is needed here) and an 8 MiB document limit."""
    base: Path = tmp_path_factory.mktemp("klimits")
    extra = f"models = []\n[knowledge]\nmax_document_bytes = {DOC_LIMIT}\n"
    with LiveServer(write_config(base / "causerie.toml", [], extra=extra), base / "data") as live:
        yield live


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=300) as client:
        yield client


def _collection(http: httpx.Client, name: str) -> str:
    r = http.post(f"{K}/collections", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _wait(http: httpx.Client, job: dict) -> dict:
    deadline = time.monotonic() + 300
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        job = http.get(f"{K}/jobs/{job['id']}").json()
    return job


def test_private_addresses_are_refused_by_default(
    http: httpx.Client, site: tuple[str, list]
) -> None:
    url, seen = site
    port = httpx.URL(url).port
    col = _collection(http, "web")
    refused = [
        (f"{url}/page.txt", "loopback"),
        (f"http://localhost:{port}/page.txt", "loopback"),
        (f"http://[::1]:{port}/page.txt", "loopback"),
        (f"http://[::ffff:127.0.0.1]:{port}/page.txt", "loopback"),
        (f"http://0.0.0.0:{port}/page.txt", "unspecified"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/", "private"),
    ]
    for target, kind in refused:
        r = http.post(f"{K}/collections/{col}/urls", json={"url": target})
        assert r.status_code == 400, (target, r.text)
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "url_refused"
        assert error["param"] == "url"
        assert f"is a {kind} address" in error["message"], error["message"]
        if kind in ("loopback", "private"):
            assert "allow_private_urls" in error["message"]
    assert seen == []  # nothing reached the site
    assert http.get(f"{K}/collections/{col}/jobs").json()["data"] == []
    assert http.get("/health").status_code == 200


# -- uploads above the server-wide request limit ------------------------------------------


def _big_html(size: int, text: str) -> bytes:
    """A web page saved with its picture inline: large, with little text to index."""
    picture = base64.b64encode(os.urandom(size * 3 // 4)).decode()
    page = f'<html><body><h1>Report</h1><p>{text}</p><img src="data:image/png;base64,{picture}">'
    return (page + "</body></html>").encode()


def test_a_document_above_4_mib_is_uploaded_and_indexed(http: httpx.Client) -> None:
    col = _collection(http, "large")
    data = _big_html(6 * MiB, "The storm of 1923 flooded the harbour of Douarnenez.")
    assert 4 * MiB < len(data) < DOC_LIMIT
    r = http.post(f"{K}/collections/{col}/documents", files={"file": ("report.html", data)})
    assert r.status_code == 202, r.text
    job = _wait(http, r.json()["data"][0])
    assert job["status"] == "succeeded", job
    doc = http.get(f"{K}/documents/{job['document_id']}").json()
    assert doc["size"] == len(data)
    r = http.post(f"{K}/search", json={"query": "storm harbour", "collections": [col]})
    assert "Douarnenez" in r.json()["data"][0]["snippet"]


def _multipart(name: str, data: bytes) -> tuple[dict[str, str], list[bytes]]:
    boundary = "causerie-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    pieces = [data[i : i + MiB] for i in range(0, len(data), MiB)]
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, [head, *pieces, tail]


def test_over_limit_uploads_get_413_and_the_server_stays_up(http: httpx.Client) -> None:
    col = _collection(http, "too-large")
    path = f"{K}/collections/{col}/documents"
    big = b"word " * ((DOC_LIMIT + MiB) // 5)

    def refused(r: httpx.Response) -> str:
        assert r.status_code == 413, r.text
        error = r.json()["error"]
        assert error["code"] == "request_too_large"
        assert (
            "exceeds the limit of" in error["message"]
            or "larger than the limit" in error["message"]
        )
        return error["message"]

    refused(http.post(path, files={"file": ("big.txt", big)}))  # declared length: not read
    headers, parts = _multipart("big.txt", big)
    refused(http.post(path, headers=headers, content=iter(parts)))  # chunked: counted
    just_over = b"x" * (DOC_LIMIT + 1)  # the body fits; the document does not
    assert f"'just-over.txt' is larger than the limit of {DOC_LIMIT} bytes" in refused(
        http.post(path, files={"file": ("just-over.txt", just_over)})
    )
    # Elsewhere the server-wide 4 MiB limit stays.
    r = http.post(f"{K}/search", json={"query": "x" * (5 * MiB), "collections": [col]})
    assert r.status_code == 413
    assert http.get(f"{K}/collections/{col}/jobs").json()["data"] == []

    assert http.get("/health").status_code == 200
    r = http.post(path, files={"file": ("small.txt", b"Small files still go in.")})
    assert _wait(http, r.json()["data"][0])["status"] == "succeeded"
