"""Built-in tools of the Responses API: `file_search` and `web_search` on Causerie's own evidence.

They are not a second retrieval path: a request with them becomes a grounded chat request
(`collections` for the vector stores, `web_search_options` for the web), answered by the
one grounded pipeline (services/grounded.py). This module checks the tools, and shapes the
evidence that pipeline retrieved as OpenAI's output items (`file_search_call`,
`web_search_call`) and the answer's checked citations as its annotations.

Causerie searches whenever such a tool is given (a small model is a poor judge of when to
search), so the search items always come first in the output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from causerie.errors import CauserieError, InvalidRequest
from causerie.services.grounded import cited_spans

if TYPE_CHECKING:
    from causerie.knowledge.grounding import Grounded, Source
    from causerie.services.responses import Run

WEB_TYPES = {
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
}
BUILTIN_TYPES = WEB_TYPES | {"file_search"}
FILE_RESULTS = "file_search_call.results"
WEB_SOURCES = "web_search_call.action.sources"
INCLUDES = {FILE_RESULTS, WEB_SOURCES}
# Options each tool honours; any other one set is refused by name.
_FILE_OPTIONS = {"type", "vector_store_ids"}
_WEB_OPTIONS = {"type", "search_context_size", "external_web_access"}


@dataclass
class Builtins:
    """The built-in tools of a request, checked, and where each was given (for errors)."""

    collections: list[str] = field(default_factory=list)  # vector_store_ids as given
    file_param: str | None = None  # "tools[i]" of the first file_search
    web: dict[str, Any] | None = None  # web_search_options for the chat request
    web_param: str | None = None
    include: set[str] = field(default_factory=set)

    def chat_fields(self) -> dict[str, Any]:
        """The grounded chat request's fields for these tools."""
        out: dict[str, Any] = {}
        if self.file_param is not None:
            out["collections"] = self.collections
        if self.web_param is not None:
            out["web_search_options"] = self.web
        return out

    def rename(self, exc: CauserieError) -> CauserieError:
        """An error about the chat request's fields, pointed at the tool that set them."""
        if exc.param == "collections" and self.file_param is not None:
            exc.param = f"{self.file_param}.vector_store_ids"
        elif exc.param and exc.param.startswith("web_search_options") and self.web_param:
            exc.param = exc.param.replace("web_search_options", self.web_param, 1)
        return exc


def builtin_tools(
    tools: list[dict[str, Any]] | None, tool_choice: Any, include: list[str] | None
) -> Builtins:
    """Check the request's built-in tools; tool_choice "none" turns them off."""
    out = Builtins(include=set(include or ()) & INCLUDES)
    if tool_choice == "none":
        return out
    for i, tool in enumerate(tools or ()):
        kind, param = tool.get("type"), f"tools[{i}]"
        if kind == "file_search":
            _refuse_options(tool, _FILE_OPTIONS, param)
            ids = tool.get("vector_store_ids")
            if not ids or not all(isinstance(v, str) for v in ids):
                raise InvalidRequest(
                    "file_search needs vector_store_ids: the ids or names of your collections.",
                    param=f"{param}.vector_store_ids",
                )
            out.collections += ids
            out.file_param = out.file_param or param
        elif kind in WEB_TYPES:
            _refuse_options(tool, _WEB_OPTIONS, param)
            if tool.get("external_web_access") is False:
                raise InvalidRequest(
                    "web_search with external_web_access false (cache-only) is not supported.",
                    param=f"{param}.external_web_access",
                )
            size = tool.get("search_context_size")
            out.web = {"search_context_size": size} if size else {}
            out.web_param = out.web_param or param
    return out


def _refuse_options(tool: dict[str, Any], known: set[str], param: str) -> None:
    for key, value in tool.items():
        if key not in known and value is not None:
            raise InvalidRequest(
                f"{tool['type']} option '{key}' is not supported.", param=f"{param}.{key}"
            )


def search_items(
    builtins: Builtins, evidence: Grounded | None, new_id: Callable[[str], str]
) -> list[dict[str, Any]]:
    """The file_search_call and web_search_call items of what the pipeline retrieved."""
    if evidence is None:
        return []
    items = []
    if builtins.file_param is not None:
        docs = [s for s in evidence.sources if s.url is None]
        results = [_file_result(s) for s in docs] if FILE_RESULTS in builtins.include else None
        items.append(
            {
                "id": new_id("fs"),
                "type": "file_search_call",
                "status": "completed",
                "queries": [evidence.query],
                "results": results,
            }
        )
    if builtins.web_param is not None and evidence.web is not None:
        items.append(_web_item(evidence.web, builtins, new_id("ws")))
    return items


def _file_result(source: Source) -> dict[str, Any]:
    where = {
        "collection_id": source.collection_id,
        "source_index": source.n,  # the [n] marker the answer cites it by
        "start": source.start,
        "end": source.end,
        "page": source.page,
        "section": source.section,
    }
    return {
        "file_id": source.document_id,
        "filename": source.document,
        "text": source.text,
        "attributes": {k: v for k, v in where.items() if v is not None},
    }


def _web_item(report: dict[str, Any], builtins: Builtins, ws_id: str) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "search", "query": report["query"]}
    action["queries"] = [report["query"]]
    if WEB_SOURCES in builtins.include:
        action["sources"] = [{"type": "url", "url": p["url"]} for p in report["read"]]
    return {
        "id": ws_id,
        "type": "web_search_call",
        # The engine failed: the answer says so honestly, and the call is failed.
        "status": "failed" if report.get("error") else "completed",
        "action": action,
        "report": report,  # extension: the pages read, and those unread with the reason
    }


def annotations(content: str, grounding: dict[str, Any] | None) -> list[dict[str, Any]]:
    """file_citation / url_citation annotations of the supported sentences of content."""
    out: list[dict[str, Any]] = []
    for start, end, source in cited_spans(content, grounding or {}):
        if source.get("url"):
            out.append(
                {
                    "type": "url_citation",
                    "start_index": start,
                    "end_index": end,
                    "url": source["url"],
                    "title": source["document"],
                }
            )
        else:  # OpenAI's file citation is a point: after the sentence and its marker
            out.append(
                {
                    "type": "file_citation",
                    "file_id": source["document_id"],
                    "filename": source["document"],
                    "index": end,
                }
            )
    return out


def search_events(run: Run, index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    """A search item's documented events (the search itself ran before the first event)."""
    kind = item["type"]  # file_search_call or web_search_call
    where = {"output_index": index, "item_id": item["id"]}
    status = "failed" if item["status"] == "failed" else "completed"
    return [
        run.event("response.output_item.added", output_index=index, item=_opened(item)),
        run.event(f"response.{kind}.in_progress", **where),
        run.event(f"response.{kind}.searching", **where),
        *([run.event(f"response.{kind}.completed", **where)] if status == "completed" else []),
        run.event("response.output_item.done", output_index=index, item=item),
    ]


def _opened(item: dict[str, Any]) -> dict[str, Any]:
    opened = {**item, "status": "in_progress"}
    if item["type"] == "file_search_call":
        opened["results"] = None
    return opened
