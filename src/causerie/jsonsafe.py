"""What any decoded JSON request body must satisfy before a route sees it.

Python's JSON decoder accepts what the rest of the stack cannot carry: nesting deeper
than orjson serialises (254 levels), integers beyond 64 bits (orjson, llama.cpp, SQLite)
and lone UTF-16 surrogates like "\\ud800" (not encodable as UTF-8, so not storable or
tokenisable). Checked once on the whole body, these become a 400 instead of a 500 deep
inside whichever field happened to carry them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

MAX_DEPTH = 64  # arrays and objects inside each other; JSON schemas need far fewer
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def check_json(value: Any) -> None:
    """Raise ValueError (with where) if value breaks one of the body-wide bounds."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels at '{where}'.")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    _check_text(key, where)
                stack.append((child, depth + 1, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, int) and not INT_MIN <= item <= INT_MAX:
            raise ValueError(f"Integer out of the 64-bit range at '{where}'.")


def _check_text(text: str, where: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"Text with a lone UTF-16 surrogate at '{where}'.") from None


class BoundedBody(BaseModel):
    """Base of request bodies: the whole decoded body is checked once, before fields."""

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        check_json(data)
        return data
