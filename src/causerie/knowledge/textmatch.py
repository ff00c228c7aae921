"""Word-level matching shared by evidence selection and citation checking."""

from __future__ import annotations

import math
import re
import unicodedata

# Function words that only add noise to an OR query (and cost time on large indexes).
STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i if in is it of on or so that the
    their there this to was what when where which who why will with you your my me we our
    au aux avec ce ces comment dans de des du elle en est et il ils je la le les leur mais
    me mes mon ne nous on ou où par pas pour qu que quel quelle quels quelles qui sa se ses
    son sont sur ta te tes ton tu un une vos votre vous y l d s n c j""".split()  # noqa: SIM905
)
_WORD = re.compile(r"\w+", re.UNICODE)
_FRENCH_HINTS = frozenset(
    """le la les des un une du de et est sont pour dans avec que qui quel quelle quels
    comment pourquoi où je vous nous ce cette il elle en au aux sur par ne pas quand
    combien été être ont faut peut""".split()  # noqa: SIM905
)
_FRENCH_LETTERS = re.compile(r"[éèêàçùœ]")


def fold(text: str) -> str:
    """Lower case without accents ("Élève" -> "eleve")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def content_words(text: str) -> list[str]:
    """The accent-folded words of text, without function words and single letters."""
    return [w for w in _WORD.findall(fold(text)) if w not in STOPWORDS and len(w) >= 2]


def stem(word: str) -> str:
    """A crude stem (no language-specific stemmer): long words lose their last letters."""
    return word[: max(5, len(word) - 2)] if len(word) >= 7 else word


def stems(text: str) -> set[str]:
    """Content words, accent-folded and cut to a crude stem."""
    return {stem(w) for w in content_words(text)}


def coverage(needle: set[str], haystack: set[str]) -> float:
    """The share of needle's words found in haystack (0 when needle is empty)."""
    return len(needle & haystack) / len(needle) if needle else 0.0


def rare_coverage(needle: set[str], haystacks: list[set[str]]) -> list[float]:
    """Each haystack's coverage of needle, a word weighing by its rarity among haystacks.

    Words every candidate shares ("Debian" in a Debian FAQ) then count little, and the
    rare ones that single out an answer ("names", "DTD") much.
    """
    n = len(haystacks)
    df = {w: sum(w in h for h in haystacks) for w in needle}
    idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}
    total = sum(idf.values())
    return [sum(idf[w] for w in needle & h) / total if total else 0.0 for h in haystacks]


def looks_french(text: str) -> bool:
    """A cheap guess, to answer "nothing found" in the user's language."""
    words = _WORD.findall(text.lower())
    hints = sum(w in _FRENCH_HINTS for w in words) + bool(_FRENCH_LETTERS.search(text.lower()))
    return hints * 5 >= max(len(words), 1)
