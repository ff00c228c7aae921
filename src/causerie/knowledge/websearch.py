"""Web search engines behind one small interface: a query in, ranked results out.

Each is a client of the engine's documented API: SearXNG's JSON API (self-hosted,
`GET /search?q=&format=json&language=`), the Brave Search API (`X-Subscription-Token`)
and Tavily (`POST /search`, bearer key). The engine is the administrator's choice, so
its address is trusted; the pages it returns are not (knowledge/webpages.py checks them).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from causerie.errors import CauserieError
from causerie.providers.openai_compat import read_secret
from causerie.settings import WebSearchConfig

BRAVE_URL = "https://api.search.brave.com/res/v1"
TAVILY_URL = "https://api.tavily.com"


class SearchFailed(CauserieError):
    """The search engine did not answer usefully (down, slow, or not JSON)."""

    status = 502
    type = "upstream_error"
    code = "web_search_failed"


@dataclass(frozen=True)
class Result:
    """One search result: where it is and what the engine said of it."""

    url: str
    title: str
    snippet: str = ""


class SearchEngine(Protocol):
    """What a web search provider implements."""

    name: str

    def search(self, query: str, language: str, count: int, timeout: float) -> list[Result]:
        """The top results for query, in the engine's order (SearchFailed on failure)."""
        ...


def _get_json(method: str, url: str, timeout: float, tls: ssl.SSLContext, **kwargs: Any) -> Any:
    """The engine's JSON answer, or SearchFailed saying what went wrong."""
    try:
        with httpx.Client(timeout=timeout, trust_env=False, verify=tls) as client:
            resp = client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise SearchFailed(f"The search engine did not answer within {timeout:.1f} s.") from None
    except httpx.HTTPError as exc:
        raise SearchFailed(f"The search engine could not be reached: {exc}") from None
    if resp.status_code != 200:
        raise SearchFailed(f"The search engine answered HTTP {resp.status_code}.")
    try:
        return resp.json()
    except ValueError:
        raise SearchFailed("The search engine's answer is not JSON.") from None


def _results(items: Any, snippet_key: str, count: int) -> list[Result]:
    """Results from the engine's list of objects; malformed entries are skipped."""
    if not isinstance(items, list):
        raise SearchFailed("The search engine's answer has no list of results.")
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            title = item.get("title")
            snippet = item.get(snippet_key)
            out.append(
                Result(
                    item["url"],
                    title if isinstance(title, str) else item["url"],
                    snippet if isinstance(snippet, str) else "",
                )
            )
    return out[:count]


class SearxNG:
    """A SearXNG instance (its JSON format must be enabled in its settings.yml)."""

    name = "searxng"

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.tls = httpx.create_ssl_context()  # made once: 40-150 ms of CPU each time

    def search(self, query: str, language: str, count: int, timeout: float) -> list[Result]:
        """GET /search?q=&format=json&language= ."""
        params = {"q": query, "format": "json", "language": language}
        data = _get_json("GET", f"{self.base_url}/search", timeout, self.tls, params=params)
        return _results(data.get("results") if isinstance(data, dict) else None, "content", count)


class _KeyedEngine:
    """An engine's API root and the key it is called with."""

    def __init__(self, base_url: str, key: str):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.tls = httpx.create_ssl_context()  # made once: 40-150 ms of CPU each time


class Brave(_KeyedEngine):
    """The Brave Search API (web search endpoint)."""

    name = "brave"

    def search(self, query: str, language: str, count: int, timeout: float) -> list[Result]:
        """GET /web/search?q=&count=&search_lang= with the subscription token."""
        headers = {"X-Subscription-Token": self.key, "Accept": "application/json"}
        params = {"q": query, "count": count, "search_lang": language}
        url = f"{self.base_url}/web/search"
        data = _get_json("GET", url, timeout, self.tls, params=params, headers=headers)
        web = data.get("web") if isinstance(data, dict) else None
        items = web.get("results", []) if isinstance(web, dict) else []
        return _results(items, "description", count)


class Tavily(_KeyedEngine):
    """Tavily's search API."""

    name = "tavily"

    def search(self, query: str, language: str, count: int, timeout: float) -> list[Result]:
        """POST /search {query, max_results}; Tavily has no language field: the query's own."""
        body = {"query": query, "max_results": count, "search_depth": "basic"}
        headers = {"Authorization": f"Bearer {self.key}"}
        url = f"{self.base_url}/search"
        data = _get_json("POST", url, timeout, self.tls, json=body, headers=headers)
        return _results(data.get("results") if isinstance(data, dict) else None, "content", count)


def build_engine(config: WebSearchConfig) -> SearchEngine | None:
    """The configured engine, None when web search is off; ValueError if misconfigured."""
    if config.provider is None:
        return None
    label = f"web_search ({config.provider})"
    if config.provider == "searxng":
        if not config.base_url:
            raise ValueError(f"{label}: base_url is required (the SearXNG instance)")
        return SearxNG(config.base_url)
    env = config.api_key_env or f"{config.provider.upper()}_API_KEY"
    key = read_secret(label, config.api_key_file, env, required=True)
    assert key is not None
    if config.provider == "brave":
        return Brave(config.base_url or BRAVE_URL, key)
    return Tavily(config.base_url or TAVILY_URL, key)
