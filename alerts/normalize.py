"""Text normalisation for matching, and the map from normalised positions back to the source text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Apostrophes that writers and feeds use interchangeably with "'".
_APOSTROPHES = frozenset("\u2019\u2018\u02bc\u00b4\u2032\uff07")
_SPACES = re.compile(r"\s+")
_FOLDED: dict[str, str] = {}
_CASED: dict[str, str] = {}


def _fold_char(char: str, casefold: bool) -> str:
    cache = _FOLDED if casefold else _CASED
    folded = cache.get(char)
    if folded is None:
        if char.isspace():
            folded = " "
        elif char in _APOSTROPHES:
            folded = "'"
        else:
            value = char.casefold() if casefold else char
            # Accents off: decompose and drop combining marks (López -> Lopez, İ -> i̇ -> i).
            decomposed = unicodedata.normalize("NFKD", value)
            folded = "".join(" " if c.isspace() else c for c in decomposed if not unicodedata.combining(c))
        cache[char] = folded
    return folded


@dataclass(frozen=True)
class Normalized:
    """A text as matched: `text` is the normalised form of `source` (the NFC input)."""

    source: str
    text: str
    casefold: bool
    _origin: list[int] = field(default_factory=list, repr=False, compare=False)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The `source` span that produced the normalised span [start, end)."""
        origin = self._origins()
        return origin[start], origin[end - 1] + 1

    def _origins(self) -> list[int]:
        # Built only when a hit needs its surface form: most articles never ask.
        if not self._origin:
            previous_space = False
            for index, char in enumerate(self.source):
                for out in _fold_char(char, self.casefold):
                    if out == " " and previous_space:
                        continue
                    previous_space = out == " "
                    self._origin.append(index)
        return self._origin


def normalize(text: str, *, casefold: bool = True) -> Normalized:
    """NFC, accents folded, curly apostrophes straightened, any whitespace run (NBSP too) one space.

    With `casefold` the text is also case-folded; without it case is kept (for case-sensitive terms).
    """
    source = unicodedata.normalize("NFC", text)
    if source.isascii():
        folded = source.lower() if casefold else source
    else:
        folded = "".join([_fold_char(char, casefold) for char in source])
    return Normalized(source, _SPACES.sub(" ", folded), casefold)


def normalize_phrase(phrase: str, *, casefold: bool = True) -> str:
    """A configured term in the form it is matched in: normalised like text, ends trimmed."""
    return normalize(phrase, casefold=casefold).text.strip()


def is_word_char(char: str) -> bool:
    """A letter, digit or underscore in any script: what must not touch either end of a match."""
    return char.isalnum() or char == "_"


def at_word_bounds(text: str, start: int, end: int) -> bool:
    """True when [start, end) of `text` is not part of a longer word on either side."""
    return (start == 0 or not is_word_char(text[start - 1])) and (
        end == len(text) or not is_word_char(text[end])
    )
