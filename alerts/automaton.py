"""One Aho-Corasick index over many phrases, finding them only as whole words.

The automaton is daachorse's byte-wise double array, picked by measurement (bench/matching.py prints
the three libraries side by side): at 100,000 phrases it searches 1.7 times as fast as
ahocorasick-rs and 4 times as fast as pyahocorasick, with about the same build time. A state is one
slot of a compact array, so a text's walk through a large automaton misses the CPU's caches less.
It builds with more memory at its peak (a third more at 100,000 short phrases; 20,000 phrases of
25 words took 2.7 s and 700 MB, against 1.5 s and 250 MB for ahocorasick-rs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import daachorse

from alerts.normalize import word_view, word_views


def grouped(keys: Sequence[str], values: Sequence[int]) -> dict[str, list[int]]:
    """The values of each distinct key, the keys in the order they first come."""
    if len(set(keys)) == len(keys):  # usually every key is there once: no loop in Python then
        return dict(zip(keys, ([value] for value in values), strict=True))
    groups: dict[str, list[int]] = {}
    for key, value in zip(keys, values, strict=True):
        groups.setdefault(key, []).append(value)
    return groups


class PhraseIndex:
    """Finds every whole-word occurrence of any of `phrases` in a normalised text.

    The automaton searches the text's word view (`word_view`: punctuation as spaces) padded with a
    space at each end, for each phrase's word view between two spaces: what it finds is at word bounds
    by construction, and it never follows a phrase into the middle of a longer word (at 100,000 phrases
    that halves the search time, and most raw finds were inside longer words). The view forgets which
    punctuation stood where, so each find is kept only if the text itself holds the phrase there.
    """

    def __init__(self, phrases: Sequence[str]) -> None:
        self.phrases = tuple(phrases)
        views = word_views(self.phrases)
        # An empty phrase would be found between any two non-word characters: it is left out.
        kept = [index for index, view in enumerate(views) if view]
        by_view = grouped([f" {views[index]} " for index in kept], kept)
        self._phrases_of = list(by_view.values())
        self._lengths = [len(view) for view in by_view]  # in characters
        self._automaton = (
            daachorse.DoubleArrayAhoCorasick([view.encode("utf-8", "surrogatepass") for view in by_view])
            if by_view
            else None
        )

    def find(self, text: str) -> Iterator[tuple[int, int, int]]:
        """(phrase index, start, end) of each whole-word occurrence, overlapping ones included."""
        if self._automaton is None:
            return
        view = f" {word_view(text)} "
        data = view.encode("utf-8", "surrogatepass")
        finds = self._automaton.find_overlapping(data)
        if len(data) != len(view):  # not ASCII: byte offsets are not character offsets
            finds = _in_characters(finds, data, self._lengths)
        for start, end, slot in finds:
            # view[start] and view[end - 1] are the spaces around the phrase: in the text, [start, end - 2)
            for index in self._phrases_of[slot]:
                if text.startswith(self.phrases[index], start):
                    yield index, start, end - 2


def _in_characters(
    finds: list[tuple[int, int, int]], data: bytes, lengths: list[int]
) -> list[tuple[int, int, int]]:
    """(start, end, slot) finds in UTF-8 `data` with character offsets instead of byte offsets, in
    the same order (by where they end, as for an ASCII text: the order hits are reported in).

    Each find starts at a space, so the bytes between two starts decode on their own: the text is
    decoded once in all, one piece per distinct start.
    """
    at: dict[int, int] = {}
    byte = char = 0
    for start in sorted({start for start, _, _ in finds}):
        char += len(data[byte:start].decode("utf-8", "surrogatepass"))
        byte = start
        at[start] = char
    return [(at[start], at[start] + lengths[slot], slot) for start, _, slot in finds]
