"""The rule language, table-driven: each row is a rule, an article, and whether the rule fires."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.rules import Matcher, check_examples
from core.config import RuleConfig
from ingest.models import Article
from newswatch.settings import CONTEXT

PUTIN: dict[str, Any] = {"people": ["Vladimir Putin"]}
ZELENSKY: dict[str, Any] = {
    "people": [{"name": "Volodymyr Zelenskyy", "aliases": ["Zelensky", "Зеленский"], "last_name_alone": True}]
}
LOPEZ: dict[str, Any] = {"people": ["Andrés Manuel López Obrador", "Ana López"]}
US: dict[str, Any] = {"keywords": [{"term": "US", "case_sensitive": True}]}
PUTIN_UKRAINE: dict[str, Any] = {"all": [{"people": ["Vladimir Putin"]}, {"topics": ["Ukraine"]}]}
NO_SPORT: dict[str, Any] = {"topics": ["Ukraine"], "none": {"topics": ["Sport"], "keywords": ["opinion"]}}


def _rule(spec: dict[str, Any]) -> RuleConfig:
    return RuleConfig.model_validate({"name": "r", "notify": ["c"], **spec}, context=CONTEXT)


def _article(
    text: str, title: str = "Headline", topics: tuple[str, ...] = (), source: str = "wire"
) -> Article:
    return Article(source, "k", title, text, text[:50], topics, None, None, "hash")


CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # people: full name, last name alone, possessives, hyphen compounds, longer words
    ("full name", PUTIN, {"text": "Vladimir Putin spoke."}, True),
    ("last name alone", PUTIN, {"text": "Putin spoke."}, True),
    ("upper case", PUTIN, {"text": "PUTIN SPOKE."}, True),
    ("straight possessive", PUTIN, {"text": "Putin's envoy arrived."}, True),
    ("curly possessive", PUTIN, {"text": "Putin’s envoy arrived."}, True),
    ("modifier-letter apostrophe", PUTIN, {"text": "Putinʼs envoy arrived."}, True),
    ("plural possessive", PUTIN, {"text": "the Putins' dacha"}, False),
    ("hyphen prefix", PUTIN, {"text": "an anti-Putin rally"}, True),
    ("hyphen suffix", PUTIN, {"text": "the Putin-era rules"}, True),
    ("en dash compound", PUTIN, {"text": "the Putin–Xi summit"}, True),
    ("Rasputin", PUTIN, {"text": "Rasputin was a mystic."}, False),
    ("Putinism", PUTIN, {"text": "Putinism is a word."}, False),
    ("Putinist", PUTIN, {"text": "a Putinist party"}, False),
    ("underscore joins words", PUTIN, {"text": "putin_bot posted"}, False),
    ("digit joins words", PUTIN, {"text": "putin2024 trended"}, False),
    ("other Vladimir", PUTIN, {"text": "Vladimir Lenin spoke."}, False),
    ("start of text", PUTIN, {"text": "Putin"}, True),
    ("in quotes", PUTIN, {"text": "\u201cPutin\u201d, they said"}, True),
    ("in parentheses", PUTIN, {"text": "the president (Putin) said"}, True),
    ("title only", PUTIN, {"text": "nothing", "title": "Putin speaks"}, True),
    ("phrase across NBSP", PUTIN, {"text": "Vladimir\u00a0Putin", "title": ""}, True),
    (
        "phrase across line break",
        {"keywords": ["humanitarian corridor"]},
        {"text": "a humanitarian\n corridor"},
        True,
    ),
    (
        "phrase across tab and NBSP",
        {"keywords": ["humanitarian corridor"]},
        {"text": "humanitarian\t\u00a0corridor"},
        True,
    ),
    (
        "phrase words apart",
        {"keywords": ["humanitarian corridor"]},
        {"text": "humanitarian aid, a corridor"},
        False,
    ),
    ("phrase with narrow NBSP", {"keywords": ["Red Cross"]}, {"text": "the Red\u202fCross said"}, True),
    # punctuation inside a phrase matches as written: a hyphen is not a space
    ("hyphenated phrase", {"keywords": ["cease-fire"]}, {"text": "a cease-fire held"}, True),
    ("hyphenated phrase, spaced text", {"keywords": ["cease-fire"]}, {"text": "a cease fire held"}, False),
    ("spaced phrase, hyphenated text", {"keywords": ["cease fire"]}, {"text": "a cease-fire held"}, False),
    ("phrase ending in punctuation", {"keywords": ["U.S."]}, {"text": "the U.S. said"}, True),
    ("phrase ending in punctuation, longer", {"keywords": ["U.S."]}, {"text": "the U.S.A said"}, False),
    # aliases and transliterations
    ("alias", ZELENSKY, {"text": "President Zelensky said"}, True),
    ("last name of full name", ZELENSKY, {"text": "Zelenskyy said"}, True),
    ("Cyrillic alias", ZELENSKY, {"text": "Президент Зеленский заявил"}, True),
    ("Cyrillic alias in genitive", ZELENSKY, {"text": "встреча Зеленского"}, False),
    ("Cyrillic longer word", ZELENSKY, {"text": "зеленскийский"}, False),
    ("Cyrillic upper case", ZELENSKY, {"text": "ЗЕЛЕНСКИЙ"}, True),
    ("Cyrillic hyphen", ZELENSKY, {"text": "анти-Зеленский"}, True),
    (
        "last_name_alone off",
        {"people": [{"name": "John Smith", "last_name_alone": False}]},
        {"text": "Smith"},
        False,
    ),
    (
        "last_name_alone off, full",
        {"people": [{"name": "John Smith", "last_name_alone": False}]},
        {"text": "John Smith"},
        True,
    ),
    (
        "transliteration alias",
        {"people": [{"name": "Sergei Lavrov", "aliases": ["Sergey Lavrov"]}]},
        {"text": "Sergey Lavrov"},
        True,
    ),
    # accents and other scripts
    ("accent in term, none in text", LOPEZ, {"text": "Ana Lopez won"}, True),
    ("accent in text, none in term", {"people": ["Ana Lopez"]}, {"text": "Ana López won"}, True),
    ("decomposed accent", {"people": ["Ana López"]}, {"text": "Ana Lo\u0301pez won"}, True),
    ("accent last name alone", LOPEZ, {"text": "LÓPEZ won"}, True),
    ("Turkish dotted capital I", {"topics": ["Istanbul"]}, {"text": "İSTANBUL'da toplantı"}, True),
    ("Turkish İ in term", {"topics": ["İstanbul"]}, {"text": "in istanbul today"}, True),
    ("German sharp s", {"topics": ["Straße"]}, {"text": "die STRASSE"}, True),
    ("Greek final sigma", {"topics": ["Σίσυφος"]}, {"text": "ΣΙΣΥΦΟΣ"}, True),
    ("Arabic whole word", {"topics": ["غزة"]}, {"text": "الوضع في غزة اليوم"}, True),
    ("Arabic inside a word", {"topics": ["غزة"]}, {"text": "الوضع فيغزة"}, False),
    # case-sensitive acronyms
    ("acronym US", US, {"text": "the US said"}, True),
    ("acronym vs us", US, {"text": "tell us more"}, False),
    ("acronym vs Us", US, {"text": "Us and them"}, False),
    ("acronym possessive", US, {"text": "the US's role"}, True),
    ("acronym inside USA", US, {"text": "USA today"}, False),
    ("case-insensitive by default", {"keywords": ["nato"]}, {"text": "NATO met"}, True),
    # topics from tags vs text
    ("topic in text", {"topics": ["UNICEF"]}, {"text": "a unicef spokesperson"}, True),
    ("topic from tag", {"topics": ["Sport"]}, {"text": "nothing", "topics": ("sport",)}, True),
    ("tag must equal topic", {"topics": ["Sport"]}, {"text": "nothing", "topics": ("Sports",)}, False),
    ("tag with accents", {"topics": ["Économie"]}, {"text": "nothing", "topics": ("economie",)}, True),
    (
        "tag containing topic is not equal",
        {"topics": ["War"]},
        {"text": "x", "topics": ("War in Ukraine",)},
        False,
    ),
    # all / any / none
    ("all: both groups", PUTIN_UKRAINE, {"text": "Putin on Ukraine"}, True),
    ("all: person only", PUTIN_UKRAINE, {"text": "Putin on trade"}, False),
    ("all: topic only", PUTIN_UKRAINE, {"text": "Ukraine talks"}, False),
    ("all: topic by tag", PUTIN_UKRAINE, {"text": "Putin spoke", "topics": ("Ukraine",)}, True),
    ("any of own terms", {"topics": ["Ukraine", "Crimea"]}, {"text": "Crimea bridge"}, True),
    (
        "own and all both needed",
        {"topics": ["Crimea"], "all": [{"people": ["Putin"]}]},
        {"text": "Crimea"},
        False,
    ),
    (
        "own and all both there",
        {"topics": ["Crimea"], "all": [{"people": ["Putin"]}]},
        {"text": "Putin, Crimea"},
        True,
    ),
    ("none: no veto", NO_SPORT, {"text": "Ukraine news"}, True),
    ("none: vetoed by tag", NO_SPORT, {"text": "Ukraine news", "topics": ("Sport",)}, False),
    ("none: vetoed by keyword", NO_SPORT, {"text": "Ukraine: an opinion"}, False),
    (
        "none as a list",
        {"topics": ["Ukraine"], "none": [{"topics": ["Sport"]}]},
        {"text": "Ukraine sport"},
        False,
    ),
    # sources and fields
    ("source in scope", {**PUTIN, "sources": ["wire"]}, {"text": "Putin", "source": "wire"}, True),
    ("source out of scope", {**PUTIN, "sources": ["wire"]}, {"text": "Putin", "source": "blog"}, False),
    (
        "fields: title only, hit in text",
        {**PUTIN, "fields": ["title"]},
        {"text": "Putin", "title": "x"},
        False,
    ),
    (
        "fields: title only, hit in title",
        {**PUTIN, "fields": ["title"]},
        {"text": "x", "title": "Putin"},
        True,
    ),
    (
        "fields: topics only",
        {"topics": ["Sport"], "fields": ["topics"]},
        {"text": "sport", "topics": ()},
        False,
    ),
    (
        "fields: none veto ignores other fields",
        {**NO_SPORT, "fields": ["title"]},
        {"text": "Sport", "title": "Ukraine"},
        True,
    ),
    # regex keywords
    ("regex", {"keywords": ["/cease-?fire/"]}, {"text": "a CEASEFIRE holds"}, True),
    ("regex no hit", {"keywords": ["/cease-?fire/"]}, {"text": "a fire"}, False),
    (
        "regex case-sensitive",
        {"keywords": [{"term": "/[A-Z]{3}-\\d+/", "case_sensitive": True}]},
        {"text": "abc-12"},
        False,
    ),
    ("regex on tag", {"topics": ["/elect(ion|ions)/"]}, {"text": "x", "topics": ("Elections",)}, True),
]


@pytest.mark.parametrize(("spec", "article", "fires"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_language(spec: dict[str, Any], article: dict[str, Any], fires: bool) -> None:
    [verdict] = Matcher([_rule(spec)]).explain(_article(**article))
    assert verdict.fired is fires, verdict.reason


def test_there_are_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    ("spec", "text", "term", "surface"),
    [
        (PUTIN, "Vladimir\u00a0 Putin’s aide", "Vladimir Putin", "Vladimir\u00a0 Putin"),
        (PUTIN, "the anti-PUTIN rally", "Vladimir Putin", "PUTIN"),
        (LOPEZ, "Ana Lo\u0301pez won", "Ana López", "Ana López"),
        (ZELENSKY, "Президент Зеленский заявил", "Volodymyr Zelenskyy", "Зеленский"),
        (US, "the US said", "US", "US"),
        ({"topics": ["Straße"]}, "die STRASSE ist", "Straße", "STRASSE"),
    ],
)
def test_hit_reports_term_and_surface_as_written(
    spec: dict[str, Any], text: str, term: str, surface: str
) -> None:
    [match] = Matcher([_rule(spec)]).match(_article(text, title=""), article_id=7)
    assert match.article_id == 7
    assert (match.hits[0].term, match.hits[0].surface) == (term, surface)
    assert " ".join(surface.split()) in match.hits[0].snippet


def test_snippet_is_short_and_around_the_hit() -> None:
    text = "x " * 200 + "Putin spoke " + "y " * 200
    [match] = Matcher([_rule(PUTIN)]).match(_article(text, title=""))
    snippet = match.hits[0].snippet
    assert "Putin spoke" in snippet and snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 160


def test_one_matcher_reports_each_rule_that_fires_and_only_those() -> None:
    rules = [
        _rule({**PUTIN, "name": "putin"}),
        _rule({**US, "name": "us"}),
        _rule({**LOPEZ, "name": "lopez"}),
    ]
    matches = Matcher(rules).match(_article("Putin and the US met; tell us more"))
    assert [m.rule for m in matches] == ["putin", "us"]


def test_explain_says_why_a_rule_did_not_fire() -> None:
    rules = [
        _rule({**PUTIN_UKRAINE, "name": "both"}),
        _rule({**NO_SPORT, "name": "no-sport"}),
        _rule({**PUTIN, "name": "scoped", "sources": ["wire"]}),
    ]
    verdicts = Matcher(rules).explain(_article("Putin on Ukraine, an opinion", source="blog"))
    reasons = {v.rule: (v.fired, v.reason) for v in verdicts}
    assert reasons["both"][0] is True and "'Vladimir Putin'" in reasons["both"][1]
    assert reasons["no-sport"] == (False, "vetoed by none: 'opinion' in text")
    assert reasons["scoped"] == (False, "source 'blog' is not in `sources`")


def test_examples_that_disagree_are_reported() -> None:
    good = _rule({**PUTIN, "examples": {"match": ["Putin's aide"], "no_match": ["Rasputin"]}})
    bad = _rule({**PUTIN, "name": "bad", "examples": {"match": ["Lenin"], "no_match": ["anti-Putin"]}})
    assert check_examples([good]) == []
    problems = check_examples([bad])
    assert len(problems) == 2
    assert problems[0].startswith("rule 'bad' should match 'Lenin'")
    assert problems[1].startswith("rule 'bad' should not match 'anti-Putin'")


@pytest.mark.parametrize("pattern", ["/(a+)+\\1/", "/(?<=x)y/", "/(unclosed/"])
def test_unsafe_or_broken_regex_is_a_config_error(pattern: str) -> None:
    with pytest.raises(ValueError, match="not a safe regular expression"):
        _rule({"keywords": [pattern]})


def test_catastrophic_pattern_runs_in_linear_time_under_re2() -> None:
    # (a+)+$ backtracks exponentially in Python's re; RE2 answers at once.
    matcher = Matcher([_rule({"keywords": ["/(a+)+$/"], "fields": ["text"]})])
    assert matcher.match(_article("a" * 5000 + "!")) == []
