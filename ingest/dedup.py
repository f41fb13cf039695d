"""Deduplication helpers: text fingerprints (exact level) and MinHash + LSH (near-duplicate level).

Signatures are plain lists of 32-bit ints (rensa's RMinHash digest), so they can be stored with the
article and the banded LSH index rebuilt from the database at start, over a sliding window.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
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

    It holds every article of the window, so it is kept in numpy arrays rather than Python objects
    (about 0.7 KB an article instead of about 3 KB): signatures, packed to 16 bits a value, in fixed
    blocks of rows (growing never copies them), first-seen times and article ids by slot, and one
    sorted array of band keys. A band key is the band's number in the top byte over a 56-bit hash of
    the band's values; a collision only adds a candidate, which the similarity check then drops.
    Newly added slots wait in a short unsorted tail that lookups scan; the sorted array is rebuilt,
    band by band, when the tail grows long, and removed slots are compacted away when they are many.
    """

    TAIL = 4096
    BLOCK = 4096

    def __init__(self, threshold: float, window: timedelta) -> None:
        self.threshold = threshold
        self.window = window
        self.bands, self.rows = lsh_bands(threshold)
        self._slot: dict[int, int] = {}  # article id -> slot
        self._size = 0  # slots in use (alive or removed)
        self._blocks: list[np.ndarray] = []  # signatures, BLOCK rows each
        self._seen = np.zeros(0, dtype=np.float64)
        self._ids = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=np.bool_)
        self._sorted_keys = np.zeros(0, dtype=np.uint64)
        self._sorted_slots = np.zeros(0, dtype=np.int32)
        self._sorted_upto = 0  # slots below this are in the sorted arrays
        self._tail_keys = np.zeros((self.TAIL, self.bands), dtype=np.uint64)  # band keys of the rest
        self._band_tag = np.arange(self.bands, dtype=np.uint64) << np.uint64(56)

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._slot

    def _band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """The band keys of each signature row: shape (rows, bands), uint64."""
        used = sigs[:, : self.bands * self.rows].reshape(len(sigs), self.bands, self.rows)
        keys = np.full((len(sigs), self.bands), _SEED, dtype=np.uint64)
        for column in range(self.rows):
            keys ^= used[:, :, column]
            keys *= np.uint64(_MIX)
            keys ^= keys >> np.uint64(29)
        keys &= np.uint64(_LOW56)
        keys |= self._band_tag
        return keys

    def _signatures(self, slots: np.ndarray) -> np.ndarray:
        return np.stack([self._blocks[s // self.BLOCK][s % self.BLOCK] for s in slots.tolist()])

    def add(self, article_id: int, sig: Sequence[int], seen_at: datetime) -> None:
        """Index (or re-index) an article's signature, seen at `seen_at`."""
        self.remove(article_id)
        slot = self._size
        if slot == len(self._blocks) * self.BLOCK:
            self._blocks.append(np.zeros((self.BLOCK, NUM_PERM), dtype=np.uint16))
        if slot == len(self._ids):
            capacity = max(self.BLOCK, len(self._ids) + len(self._ids) // 4)
            self._seen = _resized(self._seen, capacity)
            self._ids = _resized(self._ids, capacity)
            self._alive = _resized(self._alive, capacity)
        row = self._blocks[slot // self.BLOCK][slot % self.BLOCK]
        row[:] = _packed(sig)
        self._seen[slot] = _epoch(seen_at)
        self._ids[slot] = article_id
        self._alive[slot] = True
        self._slot[article_id] = slot
        self._size += 1
        if slot - self._sorted_upto < self.TAIL:  # beyond it, the next lookup sorts everything anyway
            self._tail_keys[slot - self._sorted_upto] = self._band_keys(row.reshape(1, -1))[0]

    def remove(self, article_id: int) -> None:
        """Forget an article (no error if it is not indexed)."""
        slot = self._slot.pop(article_id, None)
        if slot is not None:
            self._alive[slot] = False

    def candidates(self, sig: Sequence[int]) -> set[int]:
        """Articles sharing at least one band with `sig` (the LSH fast path, before any check)."""
        return {int(self._ids[slot]) for slot in self._candidate_slots(_packed(sig))}

    def _candidate_slots(self, packed: np.ndarray) -> np.ndarray:
        if self._size - self._sorted_upto > self.TAIL or 2 * len(self._slot) < self._size - self.TAIL:
            self._rebuild()
        keys = self._band_keys(packed.reshape(1, -1))[0]
        low = np.searchsorted(self._sorted_keys, keys, side="left")
        high = np.searchsorted(self._sorted_keys, keys, side="right")
        found = [self._sorted_slots[a:b] for a, b in zip(low.tolist(), high.tolist(), strict=True) if b > a]
        if self._size > self._sorted_upto:
            tail = self._tail_keys[: self._size - self._sorted_upto]
            found.append(np.nonzero((tail == keys).any(axis=1))[0].astype(np.int32) + self._sorted_upto)
        if not found:
            return np.zeros(0, dtype=np.int32)
        slots = np.unique(np.concatenate(found))
        return slots[self._alive[slots]]

    def best_match(self, sig: Sequence[int], now: datetime) -> tuple[int, float] | None:
        """The most similar article within the window whose similarity reaches the threshold (the
        estimate: the share of equal signature positions)."""
        packed = _packed(sig)
        slots = self._candidate_slots(packed)
        slots = slots[self._seen[slots] >= _epoch(now - self.window)]
        if len(slots) == 0:
            return None
        scores = (self._signatures(slots) == packed).sum(axis=1) / NUM_PERM
        best: tuple[int, float] | None = None
        for article_id, score in zip(self._ids[slots].tolist(), scores.tolist(), strict=True):
            if score >= self.threshold and (best is None or (score, -article_id) > (best[1], -best[0])):
                best = (article_id, score)
        return best

    def prune(self, now: datetime) -> int:
        """Drop articles older than the window; returns how many."""
        expired = self._seen[: self._size] < _epoch(now - self.window)
        old = np.nonzero(self._alive[: self._size] & expired)[0]
        for article_id in self._ids[old].tolist():
            del self._slot[article_id]
        self._alive[old] = False
        return len(old)

    def _compact(self) -> None:
        """Move the live slots to the front, in order (a block is read before it is written)."""
        alive = np.nonzero(self._alive[: self._size])[0]
        size = len(alive)
        for start in range(0, size, self.BLOCK):
            rows = self._signatures(alive[start : start + self.BLOCK])
            self._blocks[start // self.BLOCK][: len(rows)] = rows
        del self._blocks[-(-size // self.BLOCK) :]
        self._seen[:size], self._ids[:size] = self._seen[alive], self._ids[alive]
        self._alive[:size], self._alive[size:] = True, False
        self._size = size
        self._slot = dict(zip(self._ids[:size].tolist(), range(size), strict=True))

    def _rebuild(self) -> None:
        """Compact if needed, then sort every slot's band keys into the lookup arrays, band by band
        (a band's keys all share its top byte, so the bands in order make one sorted array)."""
        if len(self._slot) < self._size:
            self._compact()
        size = self._size
        # Release the old arrays before building the new ones.
        self._sorted_keys, self._sorted_slots = np.zeros(0, np.uint64), np.zeros(0, np.int32)
        keys = np.empty((size, self.bands), dtype=np.uint64)
        for number, block in enumerate(self._blocks):
            start = number * self.BLOCK
            keys[start : start + self.BLOCK] = self._band_keys(block[: min(self.BLOCK, size - start)])
        sorted_keys = np.empty(size * self.bands, dtype=np.uint64)
        sorted_slots = np.empty(size * self.bands, dtype=np.int32)
        for band in range(self.bands):
            column = keys[:, band]
            order = np.argsort(column, kind="stable")
            sorted_keys[band * size : (band + 1) * size] = column[order]
            sorted_slots[band * size : (band + 1) * size] = order
        self._sorted_keys, self._sorted_slots, self._sorted_upto = sorted_keys, sorted_slots, size


_SEED = 0x9E3779B97F4A7C15
_MIX = 0xBF58476D1CE4E5B9
_LOW56 = (1 << 56) - 1


def _packed(sig: Sequence[int]) -> np.ndarray:
    """A signature as the index keeps it: the low 16 bits of each value. Two different values share
    them once in 65,536, which moves an estimate by about 0.002 and a band key almost never."""
    return np.asarray(sig, dtype=np.uint32).astype(np.uint16)


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive time is taken as UTC (as the database stores it)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _resized(values: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros((capacity, *values.shape[1:]), dtype=values.dtype)
    grown[: len(values)] = values
    return grown
