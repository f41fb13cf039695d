"""Dedup helpers: fingerprints, shingles, MinHash signatures and the banded LSH index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.dedup import (
    NearDuplicateIndex,
    fingerprint,
    jaccard,
    lsh_bands,
    shingles,
    signature,
)

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
VOCABULARY = [f"w{i}" for i in range(5000)]


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """The Jaccard similarity two signatures estimate: the share of equal positions."""
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)


def _story(rng: random.Random, n: int = 200) -> list[str]:
    return [rng.choice(VOCABULARY) for _ in range(n)]


def _edit(rng: random.Random, story: list[str], share: float) -> list[str]:
    out = list(story)
    for i in rng.sample(range(len(out)), int(len(out) * share)):
        out[i] = rng.choice(VOCABULARY)
    return out


def test_fingerprint_ignores_case_punctuation_and_spacing() -> None:
    a = fingerprint("T", "Putin agreed to meet, officials said.\nTalks soon, they added once more today.")
    b = fingerprint("T", "putin  agreed to meet officials said   talks soon they added once more today")
    assert a == b
    assert a != fingerprint(
        "T", "Putin refused to meet, officials said. Talks soon, they added once more today."
    )


def test_short_texts_fingerprint_with_their_title() -> None:
    assert fingerprint("One", "Read it.") != fingerprint("Two", "Read it.")


def test_shingles_are_three_word_windows() -> None:
    assert shingles("A b, c d") == {"a b c", "b c d"}
    assert shingles("two words") == set()


def test_short_texts_get_no_signature() -> None:
    assert signature("too short to compare") is None
    assert signature(" ".join(VOCABULARY[:40])) is not None


def test_signature_estimates_jaccard() -> None:
    rng = random.Random(1)
    story = _story(rng, 400)
    edited = _edit(rng, story, 0.05)
    exact = jaccard(shingles(" ".join(story)), shingles(" ".join(edited)))
    a, b = signature(" ".join(story)), signature(" ".join(edited))
    assert a is not None and b is not None
    assert abs(similarity(a, b) - exact) < 0.15
    assert similarity(a, a) == 1.0


def test_bands_fit_the_permutations() -> None:
    for threshold in (0.3, 0.5, 0.7, 0.9):
        bands, rows = lsh_bands(threshold)
        assert bands * rows <= 128
    assert lsh_bands(0.9)[1] > lsh_bands(0.3)[1]  # a higher threshold needs longer bands


def test_index_finds_an_edited_copy_and_not_an_unrelated_story() -> None:
    rng = random.Random(2)
    index = NearDuplicateIndex(0.5, timedelta(days=7))
    stories = [_story(rng) for _ in range(50)]
    for i, story in enumerate(stories):
        sig = signature(" ".join(story))
        assert sig is not None
        index.add(i, sig, NOW)
    copy = signature(" ".join(_edit(rng, stories[17], 0.05)))
    other = signature(" ".join(_story(rng)))
    assert copy is not None and other is not None
    match = index.best_match(copy, NOW)
    assert match is not None and match[0] == 17 and match[1] >= 0.5
    assert index.best_match(other, NOW) is None


def test_index_window_and_prune() -> None:
    index = NearDuplicateIndex(0.5, timedelta(days=7))
    sig = signature(" ".join(VOCABULARY[:60]))
    assert sig is not None
    index.add(1, sig, NOW - timedelta(days=8))
    index.add(2, sig, NOW - timedelta(days=1))
    assert index.best_match(sig, NOW) == (2, 1.0)
    assert index.prune(NOW) == 1
    assert 1 not in index and 2 in index and len(index) == 1
    index.remove(2)
    assert index.best_match(sig, NOW) is None


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), share=st.floats(0.0, 0.5), threshold=st.sampled_from([0.5, 0.7]))
def test_lsh_candidates_agree_with_exact_jaccard(seed: int, share: float, threshold: float) -> None:
    """The fast path (bands) against the slow reference (exact Jaccard of the shingle sets): pairs well
    above the threshold are candidates, pairs far below it are not accepted as matches."""
    rng = random.Random(seed)
    story = _story(rng, 300)
    edited = _edit(rng, story, share)
    exact = jaccard(shingles(" ".join(story)), shingles(" ".join(edited)))
    index = NearDuplicateIndex(threshold, timedelta(days=7))
    a, b = signature(" ".join(story)), signature(" ".join(edited))
    assert a is not None and b is not None
    index.add(1, a, NOW)
    if exact >= threshold + 0.2:
        assert 1 in index.candidates(b)
        assert index.best_match(b, NOW) is not None
    if exact <= threshold - 0.2:
        assert index.best_match(b, NOW) is None


class _SmallIndex(NearDuplicateIndex):
    """Tiny tail and blocks, so a few dozen articles go through growth, re-sorting and compaction."""

    TAIL = 8
    BLOCK = 4


def test_index_agrees_with_a_plain_scan_through_growth_removal_and_compaction() -> None:
    rng = random.Random(5)
    index = _SmallIndex(0.5, timedelta(days=7))
    stories = {i: _story(rng) for i in range(60)}
    sigs = {i: signature(" ".join(s)) for i, s in stories.items()}
    for i, sig in sigs.items():
        assert sig is not None
        index.add(i, sig, NOW - timedelta(days=8 if i % 10 == 0 else 1))
    for i in range(1, 60, 3):  # removed: they must no longer be found
        index.remove(i)
    index.add(2, sigs[2], NOW)  # re-indexed: one entry, not two
    assert index.prune(NOW) == len([i for i in range(0, 60, 10) if i % 3 != 1])
    live = {i for i in range(60) if i % 3 != 1 and i % 10 != 0}
    assert len(index) == len(live) and all((i in index) == (i in live) for i in range(60))
    for i in range(60):
        copy = signature(" ".join(_edit(rng, stories[i], 0.03)))
        assert copy is not None
        match = index.best_match(copy, NOW)
        assert (match is not None and match[0] == i) == (i in live), i
