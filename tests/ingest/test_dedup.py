"""Dedup helpers: fingerprints, shingles, MinHash signatures and the banded LSH index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.dedup import (
    EMPTY,
    MergeRules,
    NearDuplicateIndex,
    confirm,
    fingerprint,
    jaccard,
    longer_of,
    lsh_bands,
    match_batch,
    shingle_hashes,
    shingles,
    signature,
    signatures,
    usable,
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


# --- bulk signatures, the exact check and a batch's lookups -------------------------------------

STORY = (
    "Officials in Lisbon said on Tuesday that 214 residents had been evacuated after the river burst"
    " its banks. Maria Okafor, the mayor, said the flood defences would be reviewed by the end of"
    " March. Emergency services from Porto arrived overnight with pumps and boats.\n"
    "The Ministry of Health said 12 people were treated in hospital. Tomas Lindqvist, who leads the"
    " opposition in Lisbon, criticised the council's handling of the drainage network, which had"
    " not been modernised in 30 years.\n"
    "Schools will stay closed until Friday, and the council has set aside 40 million euros for repairs."
)


def test_bulk_signatures_equal_one_at_a_time_and_short_texts_are_empty() -> None:
    rng = random.Random(3)
    texts = [" ".join(_story(rng, n)) for n in (5, 60, 300)] + [STORY, ""]
    bulk = signatures(texts)
    assert [usable(bulk[i : i + 1])[0] for i in range(len(texts))] == [False, True, True, True, False]
    for text, row in zip(texts, bulk, strict=True):
        one = signature(text)
        assert (one is None and (row == EMPTY).all()) or tuple(row.tolist()) == one


def test_hashed_shingles_are_the_words_shingles() -> None:
    text = "Putin’s “talks” — in Istanbul, on Tuesday; don't stop:\u00a0A b C"
    (grams,) = shingle_hashes([text])
    assert len(set(grams.tolist())) == len(shingles(text))


def _edit_words(rng: random.Random, text: str, share: float) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(len(words) * share)):
        words[i] = rng.choice(["also", "the", "new", "still", "reportedly"])
    return " ".join(words)


def test_confirm_merges_rewrites_and_says_which_check_passed() -> None:
    rng = random.Random(1)
    edited = confirm(STORY, "Floods", _edit_words(rng, STORY, 0.05), "Lisbon floods")
    assert edited.same and edited.check == "jaccard" and edited.similarity >= 0.5
    teaser = STORY[: STORY.index("\n")]
    cut = confirm(STORY, "Floods", teaser, "Teaser")
    assert cut.same and cut.check == "containment" and cut.containment == 1.0
    assert longer_of(teaser, STORY, confirm(teaser, "T", STORY, "S"), MergeRules())
    assert not longer_of(STORY, teaser, cut, MergeRules())  # the shorter one replaces nothing
    scattered = confirm(STORY, "Floods", _edit_words(rng, STORY, 0.2), "Floods")
    assert scattered.same and scattered.similarity < 0.5 and scattered.check == "spread"


def test_confirm_keeps_apart_other_stories_about_the_same_people() -> None:
    background = STORY.split("\n")[1]
    other = (
        "Maria Okafor, the mayor of Lisbon, opened a new tram line on Sunday, the first in 20 years."
        " The line links the port with the university and cost 90 million euros, she said.\n"
        + background
        + "\nPassengers queued from dawn, and tickets will be free for the first week."
    )
    decision = confirm(STORY, "Lisbon floods", other, "Lisbon floods")  # the same headline
    assert not decision.same and decision.check == "different"
    # The same sentences about other people and places are another story too.
    swapped = STORY.replace("Lisbon", "Gdansk").replace("Maria Okafor", "Pavel Novak")
    swapped = swapped.replace("Tomas Lindqvist", "Amara Osei").replace("Porto", "Brno")
    names = confirm(STORY, "Floods", swapped, "Floods")
    assert not names.same and names.check == "entities"
    assert confirm("too short", "", "too short", "").check == "short"


def _one_at_a_time(
    index: NearDuplicateIndex, texts: list[str], now: datetime, stored: dict[int, str]
) -> list[tuple[str, int] | None]:
    """The reference: each text looked up alone, then added (new) or re-indexed (longer)."""
    out: list[tuple[str, int] | None] = []
    current = dict(stored)
    for position, text in enumerate(texts):
        sig = signature(text)
        match = None
        for target, _estimate in index.query_many([sig], now)[0] if sig is not None else []:
            decision = confirm(current[target], "", text, "", index.rules)
            if decision.same:
                match = ("stored", target) if target < 1000 else ("batch", target - 1000)
                if longer_of(current[target], text, decision, index.rules):
                    current[target] = text
                    index.add(target, sig, now)  # type: ignore[arg-type]
                break
        if match is None:
            current[1000 + position] = text
            if sig is not None:
                index.add(1000 + position, sig, now)
        out.append(match)
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 14))
def test_a_batch_looked_up_at_once_merges_as_one_at_a_time(seed: int, size: int) -> None:
    """`match_batch` (query_many for the batch, `within` for pairs inside it) against looking each
    item up alone with the index kept current: the same merges, into the same articles."""
    rng = random.Random(seed)
    paragraphs = STORY.split("\n")
    stories = [" ".join(_story(rng, 120)) for _ in range(4)] + [STORY]
    stored = {i: text for i, text in enumerate(stories[:3])}
    texts = []
    for _ in range(size):
        base = rng.choice(stories)
        kind = rng.randrange(4)
        if kind == 0:
            texts.append(_edit_words(rng, base, rng.choice([0.05, 0.15, 0.3])))
        elif kind == 1:
            texts.append(base[: len(base) // rng.choice([2, 3])])  # a teaser
        elif kind == 2:
            texts.append(base + "\n" + paragraphs[rng.randrange(3)])  # longer: it may replace
        else:
            texts.append(" ".join(_story(rng, 80)))
    bulk_index, single_index = (NearDuplicateIndex(0.5, timedelta(days=7)) for _ in range(2))
    for index in (bulk_index, single_index):
        for article, text in stored.items():
            sig = signature(text)
            assert sig is not None
            index.add(article, sig, NOW)
    found = match_batch(
        bulk_index,
        texts,
        [""] * len(texts),
        signatures(texts),
        NOW,
        lambda ids: {i: (stored[i], "") for i in ids},
    )
    bulk = [
        None if m is None else ("stored", m.article) if m.article is not None else ("batch", m.earlier)
        for m in found
    ]
    assert bulk == _one_at_a_time(single_index, texts, NOW, stored)
