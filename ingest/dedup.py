"""Deduplication: text fingerprints (the exact level); MinHash signatures, a banded LSH index that
finds candidates and an exact check that confirms them (the near-duplicate level).

Signatures are computed in bulk with numpy: words are hashed straight from the UTF-8 bytes, 3-word
shingles from the words, and one-permutation MinHash (one hash per shingle into 128 bins, the
smallest per bin, an empty bin filled from the next full one) keeps the cost linear in the text.
They are plain tuples of 32-bit ints, stored with the article, so the index is rebuilt from the
database at start over a sliding window.

The index is deliberately loose (32 bands of 2 positions: a pair at Jaccard 0.3 is a candidate 95%
of the time); `confirm` then decides on the two texts themselves: exact shingle Jaccard, containment
(a truncated copy, an added intro), how evenly the shared shingles spread over the shorter text (a
copy with scattered edits, not another story sharing one background paragraph), and a named-entity
sanity check.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

NUM_PERM = 128
# LSH over the first BANDS * ROWS positions. Two rows a band: a lower threshold than the old 25 x 5.
BANDS, ROWS = 32, 2
SHINGLE_WORDS = 3
# Below this many shingles a text is too short for a similarity estimate to mean anything.
MIN_SHINGLES = 12
# Below this many words the exact-text fingerprint also covers the title (bare teasers often match).
MIN_FINGERPRINT_WORDS = 8
# The value of every position of a text too short to sign (see `usable`).
EMPTY = 0xFFFFFFFF
# A candidate whose estimated similarity is below this is not worth an exact check (nor below
# three quarters of `min_similarity`: the estimate's spread there is about 0.035).
DEFAULT_FLOOR = 0.15

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
    """The set of `size`-word shingles of `text` (the readable reference of `shingle_hashes`)."""
    tokens = words(text)
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """The exact Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


# --- hashed shingles, in bulk ------------------------------------------------------------------

_U64 = np.uint64
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_K1 = _U64(0x9E3779B97F4A7C15)
_FILL = np.uint32(0x9E3779B1)  # added per step to a value borrowed from the next full bin
# Bytes that end a word become spaces: ASCII other than letters, digits and `_` (non-ASCII bytes
# are parts of letters), and, before that, the common punctuation outside ASCII.
_SPACES = bytes(c if c >= 0x80 or chr(c).isalnum() or c == ord("_") else 0x20 for c in range(256))
_PUNCTUATION = [chr(c).encode() for c in [*range(0x80, 0xC0), *range(0x2000, 0x2070), 0xD7, 0xF7, 0x3000]]
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
CHUNK = 128  # texts hashed at a time: the arrays stay in the CPU caches


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise (uint64 arithmetic wraps)."""
    z = (z ^ (z >> _U64(30))) * _M1
    z = (z ^ (z >> _U64(27))) * _M2
    mixed: np.ndarray = z ^ (z >> _U64(31))
    return mixed


def _hashed_shingles(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The 64-bit hashes of every text's 3-word shingles, in text order, and the text of each.

    A word is a run of ASCII letters, digits, `_` and non-ASCII characters other than punctuation
    (U+0080-U+00BF, U+2000-U+206F: no-break space, quotes, dashes, ...) in the lower-cased UTF-8:
    what `words` finds in Latin-script text. A word is hashed by its length and first 16 bytes."""
    parts = [_chunk_shingles(texts[start : start + CHUNK], start) for start in range(0, len(texts), CHUNK)]
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _chunk_shingles(texts: Sequence[str], first_doc: int) -> tuple[np.ndarray, np.ndarray]:
    encoded = []
    for text in texts:
        data = text.lower().encode("utf-8", "surrogatepass")
        if not data.isascii():
            for mark in _PUNCTUATION:
                if mark in data:
                    data = data.replace(mark, b" ")
        encoded.append(data)
    starts = np.cumsum([1, *(len(e) + 1 for e in encoded)])[:-1]
    joined = (b" " + b" ".join(encoded) + b" " * 17).translate(_SPACES)
    buf = np.frombuffer(joined, dtype=np.uint8)
    letter = buf != 0x20
    begin = np.flatnonzero(letter[1:] & ~letter[:-1]) + 1
    length = np.flatnonzero(~letter[1:] & letter[:-1]) + 1 - begin
    if len(begin) < SHINGLE_WORDS:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    eights = np.ndarray(shape=(len(buf) - 8,), dtype=np.uint64, buffer=joined, strides=(1,))
    low = eights[begin] & _MASKS[np.minimum(length, 8)]
    high = eights[begin + 8] & _MASKS[np.clip(length - 8, 0, 8)]
    word = _mix(low * _K1 + high + length.astype(np.uint64))
    doc = np.searchsorted(starts, begin, side="right") - 1 + first_doc
    grams = _mix(_mix(word[:-2] * _K1 + word[1:-1]) * _K1 + word[2:])
    same_text = doc[:-2] == doc[2:]
    return grams[same_text], doc[:-2][same_text]


def shingle_hashes(texts: Sequence[str]) -> list[np.ndarray]:
    """Each text's shingle hashes (uint64, in text order, repeats kept)."""
    if not texts:
        return []
    grams, doc = _hashed_shingles(texts)
    return np.split(grams, np.searchsorted(doc, np.arange(1, len(texts))))


def signatures(texts: Sequence[str]) -> np.ndarray:
    """The MinHash signatures of `texts`, shape (len(texts), NUM_PERM), uint32; a text under
    MIN_SHINGLES distinct shingles gets a row of EMPTY (see `usable`)."""
    out = np.full((len(texts), NUM_PERM), EMPTY, dtype=np.uint32)
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        grams, doc = _chunk_shingles(chunk, 0)
        if len(grams):
            out[start : start + len(chunk)] = _one_permutation(grams, doc, len(chunk))
    return out


def _one_permutation(grams: np.ndarray, doc: np.ndarray, n: int) -> np.ndarray:
    """One-permutation MinHash of `n` texts' shingles: the top 7 bits of a hash pick its bin, the
    low 32 are its value; one sort by (text, bin, value) puts each bin's smallest value first."""
    out = np.full((n, NUM_PERM), EMPTY, dtype=np.uint32)
    keys = (doc.astype(np.uint64) << _U64(39)) | ((grams >> _U64(57)) << _U64(32)) | (grams & _U64(EMPTY))
    keys.sort()
    distinct = np.ones(len(keys), dtype=np.bool_)
    distinct[1:] = keys[1:] != keys[:-1]
    counts = np.bincount((keys[distinct] >> _U64(39)).astype(np.int64), minlength=n)
    group = keys >> _U64(32)
    head = np.ones(len(keys), dtype=np.bool_)
    head[1:] = group[1:] != group[:-1]
    cells = group[head].astype(np.int64)
    rows, bins = cells >> 7, cells & (NUM_PERM - 1)
    out[rows, bins] = (keys[head] & _U64(EMPTY)).astype(np.uint32)
    full = np.zeros((n, NUM_PERM), dtype=np.bool_)
    full[rows, bins] = True
    signed = counts >= MIN_SHINGLES
    gaps = np.flatnonzero(signed & ~full.all(axis=1))
    if len(gaps):
        out[gaps] = _densified(out[gaps], full[gaps])
    out[~signed] = EMPTY
    return out


def _densified(values: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Empty bins take the value of the next full bin to the right (wrapping round), plus a step
    per bin of distance, so two texts with the same empty bins borrow alike."""
    positions = np.arange(2 * NUM_PERM)
    marks = np.where(np.concatenate([full, full], axis=1), positions, 4 * NUM_PERM)
    following = np.minimum.accumulate(marks[:, ::-1], axis=1)[:, ::-1][:, :NUM_PERM]
    distance = (following - positions[:NUM_PERM]).astype(np.uint32)
    donor = np.take_along_axis(values, following % NUM_PERM, axis=1)
    filled: np.ndarray = donor + distance * _FILL
    return filled


def usable(sigs: np.ndarray) -> np.ndarray:
    """Which rows of `signatures(...)` are signatures (the text was long enough)."""
    signed: np.ndarray = ~(sigs == EMPTY).all(axis=1)
    return signed


def signature(text: str) -> Signature | None:
    """The MinHash signature of `text`'s shingles, or None when the text is too short to compare."""
    row = signatures([text])[0]
    return None if (row == EMPTY).all() else tuple(row.tolist())


# --- the exact check ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeRules:
    """When two texts are one story (the `dedup` settings): Jaccard at least `threshold`; or the
    shorter one's shingles found in the other at least `containment`; or Jaccard at least
    `min_similarity` with shared shingles in at least `spread` of the shorter text's 10-shingle
    stretches. Unless the shorter text is contained, most of its names must be in the other too."""

    threshold: float = 0.5
    containment: float = 0.8
    min_similarity: float = 0.2
    spread: float = 0.7


@dataclass(frozen=True)
class Decision:
    """What `confirm` found: `check` is the test that passed (jaccard, containment, spread) or why
    none did (different, entities, short)."""

    same: bool
    similarity: float  # exact Jaccard of the two shingle sets
    containment: float  # the share of the shorter text's shingles found in the other
    check: str


STRETCH = 10  # shingles a stretch, for `spread`
STRETCH_SHARED = 0.3  # a stretch is shared when this share of its shingles is in the other text
LONGER = 1.1  # a containing copy with this many times the shingles replaces the article's text
ENTITY_SHARE = 0.6  # of the shorter text's names (when it has 3 or more) found in the other

# A run of capitalised words inside a sentence (after a word or a comma, not after a full stop).
_CAPITAL = "[A-Z\u00c0-\u00d6\u00d8-\u00de\u0391-\u03a9\u0410-\u042f]"
_CAPITALISED_RUN = re.compile(rf"[\w,] ({_CAPITAL}[\w'’-]*(?: {_CAPITAL}[\w'’-]*)*)")
_NOT_NAME_WORDS = (
    "a an the this that these those it its he she they we i you his her their our my mr mrs ms dr"
    " but and or if when while as at in on of for to by from with after before during"
    " monday tuesday wednesday thursday friday saturday sunday january february march april may june"
    " july august september october november december"
)
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())


def _names(title: str, text: str) -> frozenset[tuple[str, ...]]:
    """The names in a text: runs of capitalised words (people, places, organisations) not opening
    a sentence (the word before ends in a letter, digit or comma), case-folded."""
    found = set()
    for body in (title, text):
        for run in _CAPITALISED_RUN.findall(body):
            name = tuple(word for word in run.casefold().split() if word not in _NOT_NAMES)
            if name:
                found.add(name)
    return frozenset(found)


def _names_agree(names: frozenset[tuple[str, ...]], other: frozenset[tuple[str, ...]]) -> bool:
    """Whether most of one text's names (a name counts when half its words are among the other's
    names) are in the other: the same words about other people or places are not the same story."""
    if len(names) < 3:
        return True
    words = {word for name in other for word in name}
    found = sum(1 for name in names if 2 * sum(word in words for word in name) >= len(name))
    return found >= ENTITY_SHARE * len(names)


_CACHE_SIZE = 4096
_grams_cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_names_cache: OrderedDict[tuple[str, str], frozenset[tuple[str, ...]]] = OrderedDict()


def prime(texts: Sequence[str]) -> None:
    """Shingle the texts `confirm` is about to see in one bulk call (one at a time costs more)."""
    missing = list(dict.fromkeys(t for t in texts if t not in _grams_cache))
    for text, grams in zip(missing, shingle_hashes(missing), strict=True):
        _remember(_grams_cache, text, (grams, _distinct(grams)))


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values (np.unique's hashing is slower for these)."""
    ordered = np.sort(values)
    kept: np.ndarray = (
        ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered
    )
    return kept


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _cached_names(title: str, text: str) -> frozenset[tuple[str, ...]]:
    found = _names_cache.get((title, text))
    if found is None:
        found = _names(title, text)
        _remember(_names_cache, (title, text), found)
    return found


def _shingled(text: str) -> tuple[np.ndarray, np.ndarray]:
    """`text`'s shingle hashes in order, and as a sorted set; remembered for the last few thousand
    texts (a stored article is often checked against several copies)."""
    found = _grams_cache.get(text)
    if found is None:
        grams = shingle_hashes([text])[0]
        found = (grams, _distinct(grams))
        _remember(_grams_cache, text, found)
    return found


def _grams(text: str) -> np.ndarray:
    return _shingled(text)[0]


def confirm(
    row_text: str, row_title: str, text: str, title: str, rules: MergeRules | float = MergeRules()
) -> Decision:
    """Whether `text` (titled `title`) is the same story as a stored article's `row_text`; a float
    for `rules` is the Jaccard threshold, with the other rules at their defaults."""
    if not isinstance(rules, MergeRules):
        rules = MergeRules(threshold=rules)
    (a, set_a), (b, set_b) = _shingled(row_text), _shingled(text)
    if len(set_a) < MIN_SHINGLES or len(set_b) < MIN_SHINGLES:
        return Decision(False, 0.0, 0.0, "short")
    shared = len(np.intersect1d(set_a, set_b, assume_unique=True))
    similarity = round(shared / (len(set_a) + len(set_b) - shared), 4)
    containment = round(shared / min(len(set_a), len(set_b)), 4)
    a_shorter = len(set_a) <= len(set_b)
    if similarity >= rules.threshold:
        check = "jaccard"
    elif containment >= rules.containment:
        check = "containment"
    elif similarity >= rules.min_similarity and _spread(*((a, set_b) if a_shorter else (b, set_a))) >= (
        rules.spread
    ):
        check = "spread"
    else:
        return Decision(False, similarity, containment, "different")
    if check == "containment":  # most of the shorter text verbatim in the other: names included
        return Decision(True, similarity, containment, check)
    names_a, names_b = _cached_names(row_title, row_text), _cached_names(title, text)
    if not (_names_agree(names_a, names_b) if a_shorter else _names_agree(names_b, names_a)):
        return Decision(False, similarity, containment, "entities")
    return Decision(True, similarity, containment, check)


def longer_of(old_text: str, text: str, decision: Decision, rules: MergeRules) -> bool:
    """Whether `text`, found the same story as `old_text`, contains it and is longer (by a tenth
    or more of its shingles): it then replaces it as the article's text, so a truncated first copy
    gives way to the full one."""
    if not decision.same or decision.containment < rules.containment:
        return False
    return len(_shingled(text)[1]) >= LONGER * len(_shingled(old_text)[1])


def _spread(grams: np.ndarray, other: np.ndarray) -> float:
    """The share of `grams`' stretches of STRETCH shingles with at least STRETCH_SHARED of them in
    `other` (a sorted set)."""
    if not len(grams) or not len(other):
        return 0.0
    at = np.minimum(np.searchsorted(other, grams), len(other) - 1)
    hits = other[at] == grams  # `other` is sorted: a binary search beats np.isin's sort
    count = -(-len(hits) // STRETCH)
    padded = np.zeros(count * STRETCH, dtype=np.int32)
    padded[: len(hits)] = hits
    sizes = np.full(count, STRETCH)
    sizes[-1] = len(hits) - (count - 1) * STRETCH
    shares = padded.reshape(count, STRETCH).sum(axis=1) / sizes
    return float((shares >= STRETCH_SHARED).mean())


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
    """A banded LSH index over the signatures of recent articles: it finds candidates, each with
    its estimated similarity (the share of equal signature positions); `confirm` decides.

    It holds every article of the window, so it is kept in numpy arrays rather than Python objects:
    signatures, packed to 16 bits a value, in fixed blocks of rows (growing never copies them),
    first-seen times and article ids by slot, and per band one sorted array of (band key, slot). A
    band key is its two packed values side by side (32 bits): two signatures share a key only when
    they agree on both. Newly added slots wait in a short unsorted tail, sorted at each lookup; the
    sorted arrays are rebuilt when the tail grows long, and removed slots compacted when many.
    """

    TAIL = 4096
    BLOCK = 4096
    # A band key shared by more articles than this comes from boilerplate phrases (their shingles
    # are the smallest in many texts): it finds chance pairs, not copies, and is not looked up.
    BUCKET = 64

    def __init__(
        self,
        threshold: float,
        window: timedelta,
        floor: float = DEFAULT_FLOOR,
        rules: MergeRules | None = None,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.rules = rules or MergeRules(threshold=threshold)  # what `confirm` is given
        self.floor = min(floor, threshold, 0.75 * self.rules.min_similarity)
        self._first_look_needs = int(np.floor(self.floor * (_FIRST_LOOK[1] - _FIRST_LOOK[0]))) - 1
        self.bands, self.rows = BANDS, ROWS
        self._slot: dict[int, int] = {}  # article id -> slot
        self._size = 0  # slots in use (alive or removed)
        self._blocks: list[np.ndarray] = []  # signatures, BLOCK rows each
        self._seen = np.zeros(0, dtype=np.float64)
        self._ids = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=np.bool_)
        self._sorted = np.zeros((BANDS, 0), dtype=np.uint64)  # (key << 32 | slot), sorted per band
        self._sorted_upto = 0  # slots below this are in the sorted arrays

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._slot

    def add(self, article_id: int, sig: Sequence[int] | np.ndarray, seen_at: datetime) -> None:
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
        self._blocks[slot // self.BLOCK][slot % self.BLOCK] = _packed(sig)
        self._seen[slot] = _epoch(seen_at)
        self._ids[slot] = article_id
        self._alive[slot] = True
        self._slot[article_id] = slot
        self._size += 1

    def remove(self, article_id: int) -> None:
        """Forget an article (no error if it is not indexed)."""
        slot = self._slot.pop(article_id, None)
        if slot is not None:
            self._alive[slot] = False

    def candidates(self, sig: Sequence[int]) -> set[int]:
        """Articles sharing at least one band with `sig` (the LSH fast path, before any check)."""
        _queries, slots = self._pairs(_packed(sig).reshape(1, -1))
        return set(self._ids[slots[self._alive[slots]]].tolist())

    def query_many(
        self, sigs: np.ndarray | Sequence[Sequence[int]], now: datetime
    ) -> list[list[tuple[int, float]]]:
        """For each signature, the articles within the window sharing a band with it whose estimated
        similarity reaches `floor`, as (article id, estimate), best first (ties: lowest id). A row
        that is no signature (EMPTY) gets none."""
        packed = _packed(sigs).reshape(-1, NUM_PERM)
        found: list[list[tuple[int, float]]] = [[] for _ in range(len(packed))]
        if len(packed) == 0 or not self._slot:
            return found
        queries, slots = self._pairs(packed)
        keep = self._alive[slots] & (self._seen[slots] >= _epoch(now - self.window))
        queries, slots = queries[keep], slots[keep]
        # A first look at a quarter of the positions (outside the bands, so unbiased) drops most
        # chance candidates before the whole signatures are compared.
        first = self._signatures(slots, *_FIRST_LOOK) == packed[queries, slice(*_FIRST_LOOK)]
        keep = np.count_nonzero(first, axis=1) >= self._first_look_needs
        queries, slots = queries[keep], slots[keep]
        estimates = np.count_nonzero(self._signatures(slots) == packed[queries], axis=1) / NUM_PERM
        keep = estimates >= self.floor
        queries, ids, estimates = queries[keep], self._ids[slots[keep]], estimates[keep]
        order = np.lexsort((ids, -estimates, queries))
        for q, article_id, estimate in zip(
            queries[order].tolist(), ids[order].tolist(), estimates[order].tolist(), strict=True
        ):
            found[q].append((article_id, estimate))
        return found

    def best_match(self, sig: Sequence[int], now: datetime) -> tuple[int, float] | None:
        """The most similar article within the window whose estimated similarity reaches
        `threshold` (ties: the lowest id)."""
        found = self.query_many([sig], now)[0]
        return found[0] if found and found[0][1] >= self.threshold else None

    def within(self, sigs: np.ndarray | Sequence[Sequence[int]]) -> list[list[tuple[int, float]]]:
        """For each signature of a batch, the earlier ones (by position) sharing a band with it
        whose estimated similarity reaches `floor`, as (position, estimate), best first."""
        packed = _packed(sigs).reshape(-1, NUM_PERM)
        found: list[list[tuple[int, float]]] = [[] for _ in range(len(packed))]
        rows = np.flatnonzero(~(packed == np.uint16(EMPTY & 0xFFFF)).all(axis=1))
        if len(rows) < 2:
            return found
        # Every band's keys in one sorted column, band by band (the band in the high 32 bits), rows
        # in order within a key: one sort for the whole batch instead of one per band.
        keys = _band_keys(packed[rows]).astype(np.uint64)
        keys |= np.arange(self.bands, dtype=np.uint64) << _U64(32)
        combined = keys.T.ravel()
        order = np.argsort(combined, kind="stable")
        column = combined[order]
        member = rows[np.tile(np.arange(len(rows)), self.bands)[order]]
        later_parts, earlier_parts = [], []
        starts_here = np.concatenate(([True], column[1:] != column[:-1]))
        if not starts_here.all():
            # Every pair within a run of equal keys: rows `gap` apart in the sorted order.
            position = np.arange(len(column))
            starts = np.flatnonzero(starts_here)
            run_of = np.cumsum(starts_here) - 1
            run_end = np.concatenate((starts[1:], [len(column)]))[run_of]
            crowded = (run_end - starts[run_of]) > self.BUCKET
            run_end[crowded] = position[crowded]  # no pairs from a crowded key
            for gap in range(1, int((run_end - position).max())):
                first = np.flatnonzero(position + gap < run_end)
                a, b = member[first], member[first + gap]
                later_parts.append(np.maximum(a, b))
                earlier_parts.append(np.minimum(a, b))
        if not later_parts:
            return found
        both = (np.concatenate(later_parts).astype(np.int64) << 32) | np.concatenate(earlier_parts)
        both.sort()
        both = both[np.concatenate(([True], both[1:] != both[:-1]))]
        later, earlier = both >> 32, both & EMPTY
        part = slice(*_FIRST_LOOK)
        # The first look (a quarter of the positions) before the whole signatures, as query_many.
        agree = np.count_nonzero(packed[later, part] == packed[earlier, part], axis=1)
        keep = agree >= self._first_look_needs
        later, earlier = later[keep], earlier[keep]
        estimates = np.count_nonzero(packed[later] == packed[earlier], axis=1) / NUM_PERM
        keep = estimates >= self.floor
        for one, other, estimate in zip(
            later[keep].tolist(), earlier[keep].tolist(), estimates[keep].tolist(), strict=True
        ):
            found[one].append((other, estimate))
        for candidates in found:
            if len(candidates) > 1:
                candidates.sort(key=lambda c: (-c[1], c[0]))
        return found

    def _pairs(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query row, slot) of every pair sharing a band, each once; rows of EMPTY left out."""
        if self._size - self._sorted_upto > self.TAIL or 2 * len(self._slot) < self._size - self.TAIL:
            self._rebuild()
        signed = np.flatnonzero(~(packed == np.uint16(EMPTY & 0xFFFF)).all(axis=1))
        keys = _band_keys(packed[signed]).astype(np.uint64) << _U64(32)
        runs = [self._sorted]
        if self._size > self._sorted_upto:
            runs.append(self._sorted_run(self._sorted_upto, self._size))
        queries, slots = [], []
        for run in runs:
            for band in range(self.bands):
                column = run[band]
                low = np.searchsorted(column, keys[:, band], side="left")
                high = np.searchsorted(column, keys[:, band] | _U64(EMPTY), side="right")
                counts = high - low
                hit = np.flatnonzero((counts > 0) & (counts <= self.BUCKET))
                if len(hit) == 0:
                    continue
                counts, low = counts[hit], low[hit]
                offsets = np.cumsum(counts) - counts
                at = np.arange(counts.sum()) - np.repeat(offsets - low, counts)
                queries.append(np.repeat(signed[hit], counts))
                slots.append((column[at] & _U64(EMPTY)).astype(np.int64))
        if not queries:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        both = (np.concatenate(queries) << 32) | np.concatenate(slots)
        both.sort()
        both = both[np.concatenate(([True], both[1:] != both[:-1]))]
        return both >> 32, both & EMPTY

    def _sorted_run(self, start: int, stop: int) -> np.ndarray:
        """(key << 32 | slot) of slots start..stop, sorted per band: shape (bands, stop - start)."""
        run = np.empty((self.bands, stop - start), dtype=np.uint64)
        for block_start in range(start - start % self.BLOCK, stop, self.BLOCK):
            low, high = max(start, block_start), min(stop, block_start + self.BLOCK)
            block = self._blocks[block_start // self.BLOCK][low - block_start : high - block_start]
            run[:, low - start : high - start] = _band_keys(block).T
        run <<= _U64(32)
        run |= np.arange(start, stop, dtype=np.uint64)
        run.sort(axis=1)
        return run

    def _signatures(self, slots: np.ndarray, low: int = 0, high: int = NUM_PERM) -> np.ndarray:
        """Positions low..high of the signatures of `slots`."""
        out = np.empty((len(slots), high - low), dtype=np.uint16)
        blocks = slots // self.BLOCK
        for number in range(
            int(blocks.min()) if len(slots) else 0, int(blocks.max()) + 1 if len(slots) else 0
        ):
            chosen = np.flatnonzero(blocks == number)
            if len(chosen):
                out[chosen] = self._blocks[number][slots[chosen] % self.BLOCK, low:high]
        return out

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
        """Compact if needed, then sort every slot's band keys into the lookup arrays."""
        if len(self._slot) < self._size:
            self._compact()
        self._sorted = np.zeros((self.bands, 0), dtype=np.uint64)  # released before the new one
        self._sorted = self._sorted_run(0, self._size)
        self._sorted_upto = self._size


_FIRST_LOOK = (BANDS * ROWS, BANDS * ROWS + NUM_PERM // 4)  # positions of the first look


def _band_keys(packed: np.ndarray) -> np.ndarray:
    """The band keys of packed signature rows: two 16-bit values side by side, shape (n, BANDS)."""
    return np.ascontiguousarray(packed[:, : BANDS * ROWS]).view(np.uint32)


def _packed(sig: Sequence[int] | Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Signatures as the index keeps them: the low 16 bits of each value. Two different values share
    them once in 65,536, which moves an estimate by about 0.002 and a band key almost never."""
    return np.asarray(sig, dtype=np.uint32).astype(np.uint16)


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive time is taken as UTC (as the database stores it)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _resized(values: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros((capacity, *values.shape[1:]), dtype=values.dtype)
    grown[: len(values)] = values
    return grown


# --- a batch of new items against the index and each other ---------------------------------------


@dataclass(frozen=True)
class Match:
    """Item `item` of a batch is the story of a stored article (`article`) or of an earlier item
    of the batch (`earlier`, which became a new article); `replaces` says its text is the longer of
    two where one contains the other, so it becomes the article's text."""

    item: int
    article: int | None
    earlier: int | None
    estimate: float
    decision: Decision
    replaces: bool


def match_batch(
    index: NearDuplicateIndex,
    texts: Sequence[str],
    titles: Sequence[str],
    sigs: np.ndarray,
    now: datetime,
    stored: Callable[[Sequence[int]], Mapping[int, tuple[str, str]]],
    rules: MergeRules = MergeRules(),
) -> list[Match | None]:
    """The near-duplicate level for a batch of items, in order: each item's candidates (stored
    articles and earlier items of the batch that became articles, best estimate first, then by id,
    earlier items ranking as the higher ids they will get) are confirmed one by one; the first
    confirmed wins.

    The lookups are done for the whole batch at once (`query_many` and `within`), and give what
    looking the items up one at a time would, adding each new item to the index and re-indexing an
    article under a longer text that replaces it. `stored(ids)` returns the (text, title) of stored
    articles (an id it leaves out is skipped). The index itself is not changed."""
    from_index = index.query_many(sigs, now)
    from_batch = index.within(sigs)
    wanted = sorted({article for found in from_index for article, _ in found})
    # Shingled in bulk for the checks: the items with candidates, and the batch's candidates.
    asked = {i for i, found in enumerate(from_index) if found}
    asked |= {i for i, found in enumerate(from_batch) if found}
    asked |= {earlier for found in from_batch for earlier, _ in found}
    prime([texts[i] for i in sorted(asked)])
    # A target is a stored article's id, or ~position for an item of the batch that became one.
    current: dict[int, tuple[str, str]] = dict(stored(wanted)) if wanted else {}
    prime([text for text, _title in current.values()])
    owner: dict[int, int] = {}  # target -> the batch item whose signature stands for it now
    results: list[Match | None] = []
    for item, (text, title) in enumerate(zip(texts, titles, strict=True)):
        ranked: list[tuple[float, int, int, int]] = []  # (-estimate, 0 stored / 1 batch, key, target)
        for article, estimate in from_index[item]:
            if article not in owner and article in current:
                ranked.append((-estimate, 0, article, article))
        for earlier, estimate in from_batch[item]:
            target = _target(results[earlier], earlier)
            if target is not None and owner.get(target) == earlier:
                ranked.append(
                    (-estimate, 0, target, target) if target >= 0 else (-estimate, 1, ~target, target)
                )
        match = None
        for negative, _batch, _key, target in sorted(ranked):
            old_text, old_title = current[target]
            decision = confirm(old_text, old_title, text, title, rules)
            if decision.same:
                longer = longer_of(old_text, text, decision, rules)
                stored_id, position = (target, None) if target >= 0 else (None, ~target)
                match = Match(item, stored_id, position, -negative, decision, longer)
                if longer:
                    current[target], owner[target] = (text, old_title), item
                break
        if match is None:
            current[~item], owner[~item] = (text, title), item
        results.append(match)
    return results


def _target(result: Match | None, position: int) -> int | None:
    """The target an item of the batch stands for in the index: itself when it became an article,
    the article it replaced the text of, or none (it was merged)."""
    if result is None:
        return ~position
    if not result.replaces:
        return None
    return result.article if result.article is not None else ~(result.earlier or 0)
