"""One Aho-Corasick index over many phrases, finding them only as whole words.

ahocorasick-rs was picked over pyahocorasick by measurement (bench/matching.py prints both): the same
build time at 100,000 phrases, about twice the search speed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import ahocorasick_rs

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
        self._automaton = (
            ahocorasick_rs.AhoCorasick(list(by_view), matchkind=ahocorasick_rs.MatchKind.Standard)
            if by_view
            else None
        )

    def find(self, text: str) -> Iterator[tuple[int, int, int]]:
        """(phrase index, start, end) of each whole-word occurrence, overlapping ones included."""
        if self._automaton is None:
            return
        view = f" {word_view(text)} "
        for slot, start, end in self._automaton.find_matches_as_indexes(view, overlapping=True):
            # view[start] and view[end - 1] are the spaces around the phrase: in the text, [start, end - 2)
            for index in self._phrases_of[slot]:
                if text.startswith(self.phrases[index], start):
                    yield index, start, end - 2
