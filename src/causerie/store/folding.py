"""Accent- and case-insensitive matching in SQL, the same on SQLite and PostgreSQL.

Both run `translate(text, from, to)` (PostgreSQL natively; SQLite through a function
registered on each connection by store/db.py), mapping each accented Latin letter to its
lower-case base letter: "Chaînée" and "chainee" then compare equal under LIKE.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import ColumnElement, func


def _table() -> tuple[str, str]:
    source, target = [], []
    for code in range(0xC0, 0x250):  # Latin-1 Supplement and Latin Extended-A/B
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0].lower()
        if base != char.lower() and base.isascii() and base.isalpha():
            source.append(char)
            target.append(base)
    return "".join(source), "".join(target)


FOLD_FROM, FOLD_TO = _table()
_TRANSLATION = str.maketrans(FOLD_FROM, FOLD_TO)


def fold(text: str) -> str:
    """Text as the folded column reads it: accents off, lower case."""
    return text.translate(_TRANSLATION).lower()


def folded(column: ColumnElement[str]) -> ColumnElement[str]:
    """The column, folded in SQL like fold() folds text in Python."""
    return func.lower(func.translate(column, FOLD_FROM, FOLD_TO))


def sqlite_translate(text: str | None, source: str, target: str) -> str | None:
    """PostgreSQL's translate() for SQLite (characters of source beyond target vanish)."""
    if text is None:
        return None
    table = str.maketrans(source[: len(target)], target[: len(source)], source[len(target) :])
    return text.translate(table)
