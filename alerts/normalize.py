"""Text normalisation for matching, and the map from normalised positions back to the source text."""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field

# Apostrophes that writers and feeds use interchangeably with "'".
_APOSTROPHES = frozenset("\u2019\u2018\u02bc\u00b4\u2032\uff07")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SPACES = re.compile(r"\s+")
_SPACE_RUNS = re.compile(r"\s{2,}")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_FOLDED: dict[str, str] = {}
_CASED: dict[str, str] = {}


def fold_char(char: str, casefold: bool) -> str:
    """One non-ASCII character as matched: accents dropped, case folded (optional), quotes straight."""
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
        # Built only when a hit needs its surface form. ASCII maps one to one, so only the
        # non-ASCII runs and the collapsed whitespace runs need work.
        if self._origin:
            return self._origin
        folded, before = _fold(self.source, self.casefold), list[int]()
        last = 0
        for run in _NON_ASCII.finditer(self.source):
            before.extend(range(last, run.start()))
            for index in range(run.start(), run.end()):
                before.extend([index] * len(fold_char(self.source[index], self.casefold)))
            last = run.end()
        before.extend(range(last, len(self.source)))
        last = 0
        for run in _SPACE_RUNS.finditer(folded):
            self._origin.extend(before[last : run.start() + 1])
            last = run.end()
        self._origin.extend(before[last:])
        return self._origin


def _fold(source: str, casefold: bool) -> str:
    """`source` with every character folded, before whitespace runs are collapsed."""
    if casefold:
        source = source.translate(_ASCII_LOWER)
    if source.isascii():
        return source
    return _NON_ASCII.sub(lambda run: "".join([fold_char(c, casefold) for c in run.group()]), source)


def normalize(text: str, *, casefold: bool = True) -> Normalized:
    """NFC, accents folded, curly apostrophes straightened, any whitespace run (NBSP too) one space.

    With `casefold` the text is also case-folded; without it case is kept (for case-sensitive terms).
    """
    source = unicodedata.normalize("NFC", text)
    return Normalized(source, _SPACES.sub(" ", _fold(source, casefold)), casefold)


def normalize_phrase(phrase: str, *, casefold: bool = True) -> str:
    """A configured term in the form it is matched in: normalised like text, ends trimmed."""
    if phrase.isascii():  # the common case, kept fast for building 100,000 terms
        return " ".join((phrase.translate(_ASCII_LOWER) if casefold else phrase).split())
    return normalize(phrase, casefold=casefold).text.strip()


def is_word_char(char: str) -> bool:
    """A letter, digit or underscore in any script: what must not touch either end of a match."""
    return char.isalnum() or char == "_"


def at_word_bounds(text: str, start: int, end: int) -> bool:
    """True when [start, end) of `text` is not part of a longer word on either side."""
    return (start == 0 or not is_word_char(text[start - 1])) and (
        end == len(text) or not is_word_char(text[end])
    )
