"""Text normalisation for matching, and the map from normalised positions back to the source text."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate, pairwise

# Apostrophes that writers and feeds use interchangeably with "'".
_APOSTROPHES = frozenset("\u2019\u2018\u02bc\u00b4\u2032\uff07")
_SPACE_RUN = re.compile(" +")
# Characters a table keeps folded forms of: beyond this many (a hostile feed cycling through Unicode),
# new characters are folded each time instead of growing the table.
_TABLE_LIMIT = 20_000


def fold_char(char: str, casefold: bool) -> str:
    """One character as matched: whitespace a space, no accents, case folded (optional), quotes straight."""
    if char.isspace():
        return " "
    if char in _APOSTROPHES:
        return "'"
    value = char.casefold() if casefold else char
    # Accents off: decompose and drop combining marks (López -> Lopez, İ -> i̇ -> i).
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(" " if c.isspace() else c for c in decomposed if not unicodedata.combining(c))


class _CharMap(dict[int, str]):
    """A map applied to every character of a text, learnt character by character as they are seen.

    `apply` maps a whole text in C: ASCII text by `str.translate`'s fast path; a text whose other
    characters need few changes (curly quotes in English, «» in Russian) through its UTF-8 bytes and
    one `str.replace` per change; any other text by `str.translate` with this table (a dict lookup
    per character: about 10x slower).
    """

    def __init__(self, function: Callable[[str], str], probe_share: float | None = None) -> None:
        super().__init__((code, function(chr(code))) for code in range(128))
        self._function = function
        # When other characters' bytes pass this share of the text's length (a page in another
        # script), go straight to `str.translate`: for a map that changes most letters of other
        # scripts (case folding), gathering them would be wasted.
        self._probe_share = probe_share
        # ASCII maps to single ASCII characters (case, whitespace, punctuation): a bytes table does it.
        self._ascii = bytes(ord(self[code]) for code in range(128)) + bytes(range(128, 256))
        self.uneven: set[str] = set()  # characters mapped to more or fewer than one character

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = self._function(char)
        if len(value) != 1:
            self.uneven.add(char)
        if len(self) < _TABLE_LIMIT:
            self[code] = value
        return value

    def apply(self, text: str) -> str:
        """`text` with every character mapped."""
        if text.isascii():
            return text.translate(self)
        data = text.encode("utf-8", "surrogatepass")
        rest = data.translate(None, _ASCII_BYTES)
        if self._probe_share is not None and len(rest) > self._probe_share * len(text):
            return text.translate(self)
        others = set(rest.decode("utf-8", "surrogatepass"))
        changes = [(char, value) for char in others if (value := self[ord(char)]) != char]
        # A non-ASCII result could itself be one of `others`: replacing one by one is safe only
        # when every change leaves ASCII behind.
        if len(changes) > _FEW or not all(value.isascii() for _, value in changes):
            return text.translate(self)
        mapped = data.translate(self._ascii).decode("utf-8", "surrogatepass")
        for char, value in changes:
            mapped = mapped.replace(char, value)
        return mapped


def is_word_char(char: str) -> bool:
    """A letter, digit or underscore in any script: what must not touch either end of a match."""
    return char.isalnum() or char == "_"


_ASCII_BYTES = bytes(range(128))
_FEW = 8  # distinct non-ASCII characters to change up to which a text is mapped by replacing each
# Folding changes the capitals of every script: a page in another script is translated at once.
_FOLDS = {casefold: _CharMap(partial(fold_char, casefold=casefold), 0.5) for casefold in (True, False)}
_WORD_VIEW = _CharMap(lambda char: char if is_word_char(char) else " ")


@dataclass(frozen=True)
class Normalized:
    """A text as matched: `text` is the normalised form of `source` (the NFC input)."""

    source: str
    text: str
    casefold: bool
    _folded: str = field(default="", repr=False, compare=False)  # before collapsing, if that changed it
    _origins: list[_Origins] = field(default_factory=list, repr=False, compare=False)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The `source` span that produced the normalised span [start, end)."""
        if not self._origins:  # built only when a hit needs its surface form
            self._origins.append(_Origins(self.source, self._folded, _FOLDS[self.casefold]))
        origin = self._origins[0]
        return origin.source_index(start), origin.source_index(end - 1) + 1


class _Origins:
    """Where each normalised index came from in the source, from two short lists of breakpoints.

    Normalising folds each source character, usually into exactly one character, and then collapses
    each run of spaces into one. So a normalised index is a folded index less the spaces collapsed
    before it, and a folded index is the source index shifted by the characters that folded into
    more or fewer than one (… -> ..., ß -> ss, a lone accent -> nothing) before it.
    """

    def __init__(self, source: str, folded: str, table: _CharMap) -> None:
        self.runs: list[int] = []  # normalised index of each collapsed run of spaces
        self.removed: list[int] = []  # folded characters removed up to and including that run
        removed, start = 0, folded.find("  ")  # `folded` is "" when nothing was collapsed
        while start >= 0:
            end = _SPACE_RUN.match(folded, start).end()  # type: ignore[union-attr]  # a space is there
            self.runs.append(start - removed)
            removed += end - start - 1
            self.removed.append(removed)
            start = folded.find("  ", end)
        self.starts: list[int] = []  # folded index where an unevenly folded character's output starts
        self.ends: list[int] = []  # ... and ends
        self.sources: list[int] = []  # its source index
        self.shifts: list[int] = []  # folded minus source index after it
        shift = 0
        for index in _uneven_positions(source, table) if not source.isascii() else ():
            length = len(table[ord(source[index])])
            self.starts.append(index + shift)
            self.ends.append(index + shift + length)
            self.sources.append(index)
            shift += length - 1
            self.shifts.append(shift)

    def source_index(self, index: int) -> int:
        run = bisect_right(self.runs, index) - 1
        if run < 0:
            folded = index
        elif index == self.runs[run]:  # the space a run collapsed into: the run's first character
            folded = index + (self.removed[run - 1] if run else 0)
        else:
            folded = index + self.removed[run]
        uneven = bisect_right(self.starts, folded) - 1
        if uneven < 0:
            return folded
        if folded < self.ends[uneven]:  # one of the characters it folded into
            return self.sources[uneven]
        return folded - self.shifts[uneven]


def _uneven_positions(source: str, table: _CharMap) -> list[int]:
    """The indexes of the characters of `source` that fold unevenly, in order."""
    uneven = tuple(table.uneven)  # a copy: another thread may be adding to the set
    if len(uneven) > _FEW:  # many known (a hostile feed): one pass over the text, not one per character
        present = set(uneven)
        return [index for index, char in enumerate(source) if char in present]
    positions = []
    for char in uneven:  # a few (…, ß, ﬁ): str.find skips through the text in C
        index = source.find(char)
        while index >= 0:
            positions.append(index)
            index = source.find(char, index + 1)
    return sorted(positions)


def _collapse(folded: str) -> str:
    # Folding made every whitespace character a space; each run of them becomes one.
    while "  " in folded:
        folded = folded.replace("  ", " ")
    return folded


def normalize(text: str, *, casefold: bool = True) -> Normalized:
    """NFC, accents folded, curly apostrophes straightened, any whitespace run (NBSP too) one space.

    With `casefold` the text is also case-folded; without it case is kept (for case-sensitive terms).
    """
    source = unicodedata.normalize("NFC", text)
    folded = _FOLDS[casefold].apply(source)
    collapsed = _collapse(folded)
    return Normalized(source, collapsed, casefold, folded if collapsed is not folded else "")


def normalize_phrase(phrase: str, *, casefold: bool = True) -> str:
    """A configured term in the form it is matched in: normalised like text, ends trimmed."""
    return _collapse(_FOLDS[casefold].apply(unicodedata.normalize("NFC", phrase))).strip(" ")


# Joins phrases to normalise them together: a control character that every step leaves as it is
# (no fold, no composition with its neighbours) and that no written term holds.
_JOIN = "\x00"


def normalize_phrases(phrases: Sequence[str], *, casefold: bool = True) -> list[str]:
    """`normalize_phrase` of each phrase, done to all of them joined (as fast as one long text)."""
    joined = _JOIN.join(phrases)
    if not phrases or joined.count(_JOIN) != len(phrases) - 1:  # a phrase holds the joiner itself
        return [normalize_phrase(phrase, casefold=casefold) for phrase in phrases]
    return [phrase.strip(" ") for phrase in normalize_phrase(joined, casefold=casefold).split(_JOIN)]


def word_view(text: str) -> str:
    """`text` with every character that is not a word character replaced by a space (same length)."""
    return _WORD_VIEW.apply(text)


def word_views(texts: Sequence[str]) -> list[str]:
    """`word_view` of each text, done to all of them joined (it maps each character to one)."""
    joined = word_view("".join(texts))
    return [joined[start:end] for start, end in pairwise(accumulate(map(len, texts), initial=0))]
