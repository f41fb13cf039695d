"""Property tests: the Aho-Corasick matcher agrees with slow regex references on random texts and terms."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.normalize import normalize, normalize_phrase
from alerts.rules import Matcher
from ingest.models import Article
from newswatch.config import RuleConfig

WORD = st.text(alphabet="abAB", min_size=1, max_size=4)
TERM = st.lists(WORD, min_size=1, max_size=2).map(" ".join)
# Texts mix the term letters with separators the matcher must treat as word boundaries or not.
TEXT = st.text(alphabet="abABé_1 -'’\u00a0\n", max_size=60)
ASCII_TEXT = st.text(alphabet="abAB_1 -'\n\t", max_size=60)


def _matcher(terms: list[str]) -> Matcher:
    rules = [
        RuleConfig.model_validate({"name": f"r{i}", "keywords": [term], "notify": ["c"]})
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
@given(terms=st.lists(TERM, min_size=1, max_size=8), text=ASCII_TEXT)
def test_automaton_agrees_with_plain_regex_on_ascii_text(terms: list[str], text: str) -> None:
    assert _fired(_matcher(terms), text) == _reference_on_raw(terms, text)


@settings(max_examples=300, deadline=None)
@given(terms=st.lists(TERM, min_size=1, max_size=8), text=TEXT)
def test_each_surface_is_the_source_text_of_its_term(terms: list[str], text: str) -> None:
    article = Article("s", "k", "", text, "", (), None, None, "")
    for match in _matcher(terms).match(article):
        for hit in match.hits:
            assert hit.surface in text
            assert normalize_phrase(hit.surface) == normalize_phrase(hit.term)
