"""Property tests: the Aho-Corasick matcher agrees with slow regex references on random texts and terms."""

from __future__ import annotations

import re
import string
import unicodedata
from functools import partial
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.automaton import PhraseIndex, grouped
from alerts.normalize import (
    _FOLDS,
    _CharMap,
    _uneven_positions,
    fold_char,
    is_word_char,
    normalize,
    normalize_phrase,
    normalize_phrases,
    word_view,
    word_views,
)
from alerts.rules import Matcher, _inside_longer
from core.config import RuleConfig
from ingest.models import Article
from newswatch.settings import CONTEXT

WORD = st.text(alphabet="abABsß", min_size=1, max_size=4)
# Words joined by a space, or by punctuation that must match as written ("a-b" is not "a b").
TERM = st.lists(WORD, min_size=1, max_size=2).flatmap(
    lambda words: st.sampled_from(" -'").map(lambda sep: sep.join(words))
)
ASCII_TERM = st.lists(st.text(alphabet="abAB", min_size=1, max_size=4), min_size=1, max_size=2).map(" ".join)
# Texts mix the term letters with separators the matcher must treat as word boundaries or not, and
# characters that fold to more or fewer than one (ß -> ss, … -> ..., a lone combining accent -> "").
SEPARATOR = st.sampled_from(list("é_1 -'’“…\u0301\u00a0\u3000\n"))
TEXT = st.lists(st.one_of(WORD, SEPARATOR, SEPARATOR), max_size=24).map("".join)
ASCII_TEXT = st.text(alphabet="abAB_1 -'\n\t", max_size=60)


def _matcher(terms: list[str]) -> Matcher:
    rules = [
        RuleConfig.model_validate({"name": f"r{i}", "keywords": [term], "notify": ["c"]}, context=CONTEXT)
        for i, term in enumerate(terms)
    ]
    return Matcher(rules)


def _fired(matcher: Matcher, text: str) -> set[str]:
    return {m.rule for m in matcher.match(Article("s", "k", "", text, "", (), None, None, ""))}


def _reference_on_normalised(terms: list[str], text: str) -> set[str]:
    """Slow path: one regex per term over the normalised text, whole words by lookarounds."""
    folded = normalize(text).text
    return {
        f"r{i}"
        for i, term in enumerate(terms)
        if re.search(r"(?<!\w)" + re.escape(normalize_phrase(term)) + r"(?!\w)", folded)
    }


def _reference_on_raw(terms: list[str], text: str) -> set[str]:
    """Slow path with no normalisation at all: case-insensitive words joined by any whitespace."""
    fired = set()
    for i, term in enumerate(terms):
        words = r"\s+".join(re.escape(w) for w in term.split())
        if re.search(r"(?<!\w)" + words + r"(?!\w)", text, re.IGNORECASE):
            fired.add(f"r{i}")
    return fired


@settings(max_examples=300, deadline=None)
@given(terms=st.lists(TERM, min_size=1, max_size=8), text=TEXT)
def test_automaton_agrees_with_regex_over_normalised_text(terms: list[str], text: str) -> None:
    assert _fired(_matcher(terms), text) == _reference_on_normalised(terms, text)


@settings(max_examples=300, deadline=None)
@given(terms=st.lists(ASCII_TERM, min_size=1, max_size=8), text=ASCII_TEXT)
def test_automaton_agrees_with_plain_regex_on_ascii_text(terms: list[str], text: str) -> None:
    assert _fired(_matcher(terms), text) == _reference_on_raw(terms, text)


# Letters that stay other than ASCII through normalising (б, ø, 中, 𠀀) and that do not (é, ß).
OTHER_WORD = st.text(alphabet="abбø中𠀀éß", min_size=1, max_size=4)
OTHER_TERM = st.lists(OTHER_WORD, min_size=1, max_size=3).map(" ".join)  # "a b c" holds "b"
OTHER_TEXT = st.lists(st.one_of(OTHER_WORD, SEPARATOR), max_size=24).map("".join)


@settings(max_examples=500, deadline=None)
@given(terms=st.lists(OTHER_TERM, min_size=1, max_size=8), text=OTHER_TEXT)
def test_the_index_finds_every_whole_word_occurrence_at_its_character_offsets_in_order(
    terms: list[str], text: str
) -> None:
    # The automaton searches UTF-8 bytes, where б and ø are two bytes, 中 three and 𠀀 four.
    phrases = list(dict.fromkeys(normalize_phrase(term) for term in terms))
    folded = normalize(text).text
    expected = {
        (index, found.start(), found.start() + len(phrase))
        for index, phrase in enumerate(phrases)
        if phrase
        for found in re.finditer(r"(?<!\w)(?=" + re.escape(phrase) + r"(?!\w))", folded)
    }
    finds = list(PhraseIndex(phrases).find(folded))
    assert set(finds) == expected
    # In the order they end (then start) in any script: hits, `explain` and vetoes are reported so.
    assert [(end, start) for _, start, end in finds] == sorted((end, start) for _, start, end in finds)


@settings(max_examples=300, deadline=None)
@given(terms=st.lists(TERM, min_size=1, max_size=8), text=TEXT)
def test_each_surface_is_the_source_text_of_its_term(terms: list[str], text: str) -> None:
    article = Article("s", "k", "", text, "", (), None, None, "")
    for match in _matcher(terms).match(article):
        for hit in match.hits:
            assert hit.surface in unicodedata.normalize("NFC", text)  # as written, composed
            assert normalize_phrase(hit.surface) == normalize_phrase(hit.term)


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_the_word_view_blanks_exactly_the_non_word_characters(text: str) -> None:
    view = word_view(text)
    assert len(view) == len(text)
    for char, seen in zip(text, view, strict=True):
        assert seen == (char if is_word_char(char) else " ")


# Mostly ASCII with a few other characters (curly quotes in English news), up to text in any script:
# `apply` takes a different path for each, and all must equal the character-by-character definition.
# ŉ folds to ʼn, whose ʼ folds again: replacing characters one by one must not fold it twice.
MIXED_TEXT = st.lists(
    st.one_of(
        st.text(alphabet=string.printable, max_size=30), st.characters(), st.sampled_from("’“”—…ßÉ«»ŉʼ")
    ),
    max_size=30,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=MIXED_TEXT, casefold=st.booleans())
def test_folding_a_text_folds_each_of_its_characters(text: str, casefold: bool) -> None:
    assert _FOLDS[casefold].apply(text) == "".join(fold_char(char, casefold) for char in text)
    assert word_view(text) == "".join(char if is_word_char(char) else " " for char in text)


# Phrases as written in a config, with what could upset normalising them joined: combining accents
# at either end (NFC composes across characters), spaces at the ends (each is trimmed), and the
# control character that joins them.
PHRASE = st.lists(
    st.one_of(MIXED_TEXT, st.sampled_from(["\u0301", "e\u0301", " ", "\x00", "\u00a0x ", "ﬁ"])), max_size=4
).map("".join)


@settings(max_examples=500, deadline=None)
@given(phrases=st.lists(PHRASE, max_size=12), casefold=st.booleans())
def test_phrases_normalised_together_are_each_as_normalised_alone(phrases: list[str], casefold: bool) -> None:
    assert normalize_phrases(phrases, casefold=casefold) == [
        normalize_phrase(phrase, casefold=casefold) for phrase in phrases
    ]


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(MIXED_TEXT, max_size=12))
def test_word_views_of_texts_together_are_each_as_alone(texts: list[str]) -> None:
    assert word_views(texts) == [word_view(text) for text in texts]


@given(keys=st.lists(st.sampled_from("abcdef"), max_size=10) | st.lists(st.text(), unique=True, max_size=10))
def test_grouped_gathers_the_values_of_each_key_in_first_seen_order(keys: list[str]) -> None:
    values = list(range(len(keys)))
    expected: dict[str, list[int]] = {}
    for key, value in zip(keys, values, strict=True):
        expected[key] = [*expected.get(key, []), value]
    result = grouped(keys, values)
    assert list(result.items()) == list(expected.items())


def _reference_origins(source: str, casefold: bool) -> list[int]:
    """Slow path: the source index of every folded character, then each run of spaces collapsed into
    its first (what `Normalized.span` computes from breakpoints)."""
    folded = [(index, out) for index, char in enumerate(source) for out in fold_char(char, casefold)]
    return [
        index
        for at, (index, out) in enumerate(folded)
        if not (out == " " and at > 0 and folded[at - 1][1] == " ")
    ]


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(MIXED_TEXT, TEXT, st.text()), casefold=st.booleans())
def test_every_normalised_character_maps_back_to_the_source_character_it_came_from(
    text: str, casefold: bool
) -> None:
    norm = normalize(text, casefold=casefold)
    reference = _reference_origins(norm.source, casefold)
    assert len(reference) == len(norm.text)
    assert [norm.span(i, i + 1) for i in range(len(norm.text))] == [(i, i + 1) for i in reference]


def test_unevenly_folded_characters_are_found_with_few_known_and_with_many() -> None:
    table = _CharMap(partial(fold_char, casefold=True))
    text = "a…bßc…"
    table.apply(text)  # learns … and ß
    assert _uneven_positions(text, table) == [1, 3, 5]
    table.apply("".join(chr(code) for code in range(0xFB00, 0xFB07)))  # ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ: many known now
    assert len(table.uneven) > 8
    assert _uneven_positions(text + "ﬁ", table) == [1, 3, 5, 6]


@settings(max_examples=300, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 12), st.integers(1, 5)), max_size=10))
def test_finds_inside_longer_ones_agree_with_a_pairwise_check(spans: list[tuple[int, int]]) -> None:
    finds = [(number, start, start + length) for number, (start, length) in enumerate(spans)]
    expected = {
        number
        for number, (_, start, end) in enumerate(finds)
        if any(s <= start and end <= e and (s, e) != (start, end) for _, s, e in finds)
    }
    assert _inside_longer(finds) == expected


@settings(max_examples=300, deadline=None)
@given(terms=st.lists(ASCII_TERM, min_size=1, max_size=6), text=ASCII_TEXT)
def test_a_match_names_each_place_once(terms: list[str], text: str) -> None:
    rule = RuleConfig.model_validate({"name": "r", "keywords": terms, "notify": ["c"]}, context=CONTEXT)
    for match in Matcher([rule]).match(Article("s", "k", "", text, "", (), None, None, "")):
        spans = sorted((hit.start, hit.end) for hit in match.hits)
        assert all(end <= start for (_, end), (start, _) in pairwise(spans))
        assert all(normalize_phrase(text[s:e]) in {normalize_phrase(t) for t in terms} for s, e in spans)
