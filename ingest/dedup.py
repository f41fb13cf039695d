"""Deduplication helpers: text fingerprints (exact level) and MinHash + LSH (near-duplicate level).

Signatures are plain lists of 32-bit ints (rensa's RMinHash digest), so they can be stored with the
article and the banded LSH index rebuilt from the database at start, over a sliding window.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache

from rensa import RMinHash

NUM_PERM = 128
SEED = 42
SHINGLE_WORDS = 3
# Below this many shingles a text is too short for a similarity estimate to mean anything.
MIN_SHINGLES = 12
# Below this many words the exact-text fingerprint also covers the title (bare teasers often match).
MIN_FINGERPRINT_WORDS = 8

_WORD = re.compile(r"\w+", re.UNICODE)

Signature = tuple[int, ...]


def words(text: str) -> list[str]:
    """Lower-cased word tokens: punctuation, spacing and case do not make two texts differ."""
    return _WORD.findall(text.casefold())


def fingerprint(title: str, text: str) -> str:
    """A hash of the normalised body text (with the title when the body is too short to be distinctive)."""
    tokens = words(text)
    if len(tokens) < MIN_FINGERPRINT_WORDS:
        tokens = [*words(title), "\x1e", *tokens]
    return hashlib.sha256(" ".join(tokens).encode("utf-8")).hexdigest()


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    """The set of `size`-word shingles of `text`."""
    tokens = words(text)
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """The exact Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def signature(text: str) -> Signature | None:
    """The MinHash signature of `text`'s shingles, or None when the text is too short to compare."""
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    minhash = RMinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update(sorted(grams))
    return tuple(minhash.digest())


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """The Jaccard similarity two signatures estimate (the share of equal positions)."""
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)


@lru_cache(maxsize=32)
def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) for `num_perm` positions minimising false positives + false negatives at `threshold`."""
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = _lsh_error(bands, rows, threshold)
            if best is None or error < best[0]:
                best = (error, bands, rows)
    assert best is not None
    return best[1], best[2]


def _lsh_error(bands: int, rows: int, threshold: float, steps: int = 100) -> float:
    """The area of missed pairs above `threshold` plus caught pairs below it (midpoint rule)."""
    error = 0.0
    for i in range(steps):
        s = (i + 0.5) / steps
        caught = 1 - (1 - s**rows) ** bands
        error += (caught if s < threshold else 1 - caught) / steps
    return error


class NearDuplicateIndex:
    """A banded LSH index over signatures of recent articles; candidates are checked by similarity.

    Kept compact, since it holds every article of the window: a signature is a packed array of
    32-bit values, a band is keyed by the hash of its values (a collision only adds a candidate,
    which the similarity check then drops), and a bucket holding one article holds its bare id.
    """

    def __init__(self, threshold: float, window: timedelta) -> None:
        self.threshold = threshold
        self.window = window
        self.bands, self.rows = lsh_bands(threshold)
        self._buckets: list[dict[int, int | set[int]]] = [{} for _ in range(self.bands)]
        self._entries: dict[int, tuple[array[int], datetime]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._entries

    def _keys(self, sig: Sequence[int]) -> Iterable[tuple[int, int]]:
        values = tuple(sig)
        for band in range(self.bands):
            yield band, hash(values[band * self.rows : (band + 1) * self.rows])

    def add(self, article_id: int, sig: Sequence[int], seen_at: datetime) -> None:
        """Index (or re-index) an article's signature, seen at `seen_at`."""
        self.remove(article_id)
        self._entries[article_id] = (array("I", sig), seen_at)
        for band, key in self._keys(sig):
            buckets = self._buckets[band]
            held = buckets.get(key)
            if held is None:
                buckets[key] = article_id
            elif isinstance(held, set):
                held.add(article_id)
            elif held != article_id:
                buckets[key] = {held, article_id}

    def remove(self, article_id: int) -> None:
        """Forget an article (no error if it is not indexed)."""
        entry = self._entries.pop(article_id, None)
        if entry is None:
            return
        for band, key in self._keys(entry[0]):
            buckets = self._buckets[band]
            held = buckets.get(key)
            if held == article_id:
                del buckets[key]
            elif isinstance(held, set):
                held.discard(article_id)
                if len(held) == 1:
                    buckets[key] = held.pop()

    def candidates(self, sig: Sequence[int]) -> set[int]:
        """Articles sharing at least one band with `sig` (the LSH fast path, before any check)."""
        found: set[int] = set()
        for band, key in self._keys(sig):
            held = self._buckets[band].get(key)
            if isinstance(held, set):
                found |= held
            elif held is not None:
                found.add(held)
        return found

    def best_match(self, sig: Sequence[int], now: datetime) -> tuple[int, float] | None:
        """The most similar article within the window whose similarity reaches the threshold."""
        best: tuple[int, float] | None = None
        oldest = now - self.window
        for article_id in self.candidates(sig):
            other, seen_at = self._entries[article_id]
            if seen_at < oldest:
                continue
            score = similarity(sig, other)
            if score >= self.threshold and (best is None or (score, -article_id) > (best[1], -best[0])):
                best = (article_id, score)
        return best

    def prune(self, now: datetime) -> int:
        """Drop articles older than the window; returns how many."""
        oldest = now - self.window
        old = [a for a, (_, seen_at) in self._entries.items() if seen_at < oldest]
        for article_id in old:
            self.remove(article_id)
        return len(old)
