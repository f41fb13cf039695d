"""Rules: whole-word, case-insensitive matching of people, topics and keywords."""

from __future__ import annotations

import pytest

from alerts.rules import Matcher, compile_rules, match_article
from core.config import RuleConfig
from ingest.clean import clean
from ingest.models import Article, ContentKind, RawItem
from newswatch.settings import CONTEXT
from tests.conftest import SEED_FILE


def _rule(**fields: object) -> RuleConfig:
    return RuleConfig.model_validate({"name": "r", "notify": ["c"], **fields}, context=CONTEXT)


def _article(text: str, title: str = "Headline", topics: tuple[str, ...] = ()) -> Article:
    return Article("s", "k", title, text, text[:50], topics, None, None, "hash")


def _fires(rule: RuleConfig, article: Article) -> bool:
    return bool(match_article(compile_rules([rule])[0], article))


PUTIN = {"people": ["Vladimir Putin"]}


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("Vladimir Putin spoke today.", True),
        ("PUTIN spoke today.", True),
        ("Putin's envoy arrived.", True),
        ("Putin’s envoy arrived.", True),
        ("An anti-Putin rally formed.", True),
        ("Vladimir\u00a0 Putin arrived.", True),
        ("Rasputin was a mystic.", False),
        ("Putinism is a word.", False),
        ("Vladimir Lenin spoke.", False),
        ("putin_bot posted.", False),
    ],
)
def test_person_by_full_or_last_name_and_whole_words(text: str, fires: bool) -> None:
    assert _fires(_rule(**PUTIN), _article(text)) is fires


def test_alias_matches_and_last_name_alone_can_be_turned_off() -> None:
    person = {"name": "Volodymyr Zelenskyy", "aliases": ["Zelensky"], "last_name_alone": False}
    rule = _rule(people=[person])
    assert _fires(rule, _article("President Zelensky said so."))
    assert _fires(rule, _article("Volodymyr Zelenskyy said so."))
    assert not _fires(rule, _article("Zelenskyy said so."))


def test_topic_matches_text_and_tags_keyword_matches_phrases() -> None:
    assert _fires(_rule(topics=["UNICEF"]), _article("a unicef spokesperson"))
    assert _fires(_rule(topics=["Sport"]), _article("nothing here", topics=("sport",)))
    assert not _fires(_rule(topics=["Sport"]), _article("nothing here", topics=("Sports",)))
    rule = _rule(keywords=["humanitarian corridor"])
    assert _fires(rule, _article("a Humanitarian\n corridor opened"))
    assert not _fires(rule, _article("humanitarian aid and a corridor"))


def test_seed_article_matches_putin_and_zelenskyy_but_not_rasputin_rule() -> None:
    article = clean(RawItem("desk", "k", SEED_FILE.read_text(encoding="utf-8"), ContentKind.FIXTURE))
    rules = compile_rules(
        [
            _rule(name="putin", people=["Vladimir Putin"]),
            _rule(name="zelenskyy", people=[{"name": "Volodymyr Zelenskyy", "aliases": ["Zelensky"]}]),
            _rule(name="rasputin", people=["Grigori Rasputin"]),
        ]
    )
    hits = {rule.name: match_article(rule, article) for rule in rules}
    assert {hit.surface for hit in hits["putin"]} >= {"Vladimir Putin", "Putin"}
    assert {hit.field for hit in hits["putin"]} == {"title", "text", "topics"}
    assert any(hit.surface == "Zelenskyy" for hit in hits["zelenskyy"])
    assert hits["rasputin"] == []


@pytest.mark.parametrize("before", ["", "Москва: ", "北京 "])
def test_hits_and_vetoes_come_in_the_same_order_whatever_the_script_before_them(before: str) -> None:
    # "apple" ends before "big apple pie" does, though it starts after: hits are in the order they end.
    rule = _rule(keywords=["big apple pie", "apple"], none=[{"keywords": ["big apple pie", "apple"]}])
    [verdict] = compile_rules([rule])[0].matcher.explain(_article(before + "big apple pie"))
    assert verdict.reason == "vetoed by none: 'apple' in text"
    assert [hit.term for hit in verdict.hits] == ["big apple pie"]  # the "apple" in it is one mention
    [verdict] = compile_rules([rule])[0].matcher.explain(_article(before + "an apple, a big apple pie"))
    assert [hit.term for hit in verdict.hits] == ["apple", "big apple pie"]


def test_hit_reports_term_surface_field_and_snippet() -> None:
    [hit] = match_article(
        compile_rules([_rule(**PUTIN)])[0], _article("Talks stalled. Then Putin's aide spoke at length.")
    )
    assert (hit.term, hit.surface, hit.field) == ("Vladimir Putin", "Putin", "text")
    assert "Putin's aide" in hit.snippet


def test_an_alert_names_each_mention_once_the_longest_name_that_matched_there() -> None:
    article = clean(RawItem("desk", "k", SEED_FILE.read_text(encoding="utf-8"), ContentKind.FIXTURE))
    [rule] = compile_rules([_rule(**PUTIN)])
    hits = [(hit.surface, hit.field) for hit in match_article(rule, article)]
    # The title says "Vladimir Putin": one mention, not also its "Putin". The text names him as
    # "Putin" on its own further down, and that mention is the one shown for the text.
    assert sorted(hits) == [("Putin", "text"), ("Vladimir Putin", "title"), ("Vladimir Putin", "topics")]
    [putin_text] = [hit for hit in match_article(rule, article) if hit.field == "text"]
    assert article.text[putin_text.start : putin_text.end] == "Putin"


def test_overlapping_terms_of_one_rule_collapse_to_the_longest() -> None:
    rule = compile_rules([_rule(keywords=["New York", "York Times", "Times"])])[0]
    hits = match_article(rule, _article("The New York Times reported it."))
    assert [(hit.term, hit.surface) for hit in hits] == [("York Times", "York Times")]
    hits = match_article(rule, _article("In New York, the York Times reported it."))
    assert [hit.term for hit in hits] == ["New York", "York Times"]


def test_another_rules_longer_name_takes_nothing_from_a_rule() -> None:
    # One matcher serves every rule: "Putin" alone still fires its own rule inside "Vladimir Putin".
    rules = [_rule(name="short", people=["Putin"]), _rule(name="long", **PUTIN)]
    matches = Matcher(rules).match(_article("Vladimir Putin arrived."))
    assert {(m.rule, tuple(h.surface for h in m.hits)) for m in matches} == {
        ("short", ("Putin",)),
        ("long", ("Vladimir Putin",)),
    }
