"""Full-text search (ingest/search.py) on a real database, SQLite and PostgreSQL: one query language
with phrases, exclusions and prefixes; accents, folded letters and Cyrillic found alike on both
backends; the index kept in step when articles are stored, changed and deleted; filters; snippets;
and hostile query strings that give one clear message, never a database error."""

from __future__ import annotations

import contextlib
import importlib.util
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from core.db import MIGRATIONS, AlertRow, ArticleRow, Database
from ingest.clean import clean
from ingest.models import ContentKind, RawItem
from ingest.search import (
    FOLDS,
    MARK_END,
    MARK_START,
    SearchError,
    Term,
    fts5_match,
    marked,
    matching,
    parse,
    search_articles,
    spans,
    tsquery,
)
from ingest.store import store_articles

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

# key -> (title, text, published days before NOW). Each text differs, so none merges with another.
CORPUS = {
    "kyiv": (
        "Prime minister visits Kyiv",
        "The prime minister met President Zelenskyy in Kyiv on Monday to discuss air defence and grain"
        " exports. Officials said the talks lasted three hours.",
        1,
    ),
    "budget": (
        "Finance minister presents the budget",
        "The finance minister told parliament that the prime rate would stay where it is. Opposition"
        " members called the plan timid.",
        2,
    ),
    "czech": (
        "Zelenskyj v Praze",
        "Prezident Zelenskyj jednal v Praze s premiérem o muničních dodávkách. Schůzka trvala dvě hodiny.",
        3,
    ),
    "accented": (
        "Zelenskýj and the café owners",
        "A columnist spelled it Zelenskýj; the café owners of Lviv kept serving coffee through the"
        " blackout, the résumé of a long winter.",
        4,
    ),
    "plain": (
        "Cafe prices rise",
        "Every cafe in the city raised the price of an espresso after the energy bill doubled, owners said.",
        5,
    ),
    "kremlin": (
        "Путин выступил в Кремле",
        "Владимир Путин заявил в Кремле, что переговоры продолжатся. Лёша Иванов, аналитик, назвал"
        " это сигналом.",
        6,
    ),
    "poland": (
        "Wałęsa returns to Łódź",
        "Lech Wałęsa spoke in Łódź about the shipyard strikes; in the Straße of a twin town, Øresund"
        " ferries and the Œuvre award were mentioned too.",
        7,
    ),
    "greece": (
        "Η Αθήνα υποδέχεται τον πρωθυπουργό",
        "Ο πρωθυπουργός μίλησε στην Αθήνα για την οικονομία και τις επενδύσεις.",
        8,
    ),
    "hyphen": (
        "Director interview",
        "Asked about the festival, the jury said Jean-Luc Godard shaped modern film. O'Brien agreed.",
        9,
    ),
    "numbers": (
        "U.S. inflation at 2.5% in 2024-12",
        "The U.S. central bank said inflation stood at 2.5% on 2024-12-03; write to desk@wire.example"
        " or see https://wire.example/markets for COVID-19 figures.",
        10,
    ),
    "football": (
        "Kyiv football club wins the cup",
        "Dynamo Kyiv beat Shakhtar in the cup final; the prime minister congratulated the team.",
        40,
    ),
}

# (query, the keys it finds): the same on both backends.
TABLE = [
    # words: all of them, anywhere, any case
    ("kyiv", {"kyiv", "football"}),
    ("KYIV minister", {"kyiv", "football"}),
    # phrases
    ('"prime minister"', {"kyiv", "football"}),
    ('"minister prime"', set()),
    ('"finance minister" budget', {"budget"}),
    # exclusion of a word and of a phrase
    ("kyiv -football", {"kyiv"}),
    ('minister -"prime minister"', {"budget"}),
    ("prime -minister", set()),
    # prefixes, alone and at the end of a phrase
    ("zelensk*", {"kyiv", "czech", "accented"}),
    ('"prime min*"', {"kyiv", "football"}),
    ("pri* -footb*", {"kyiv", "budget", "plain"}),  # prime, price
    ("minis* prim*", {"kyiv", "budget", "football"}),
    # transliterations are different words; accents are not
    ("Zelenskyy", {"kyiv"}),
    ("Zelenskyj", {"czech", "accented"}),
    ("Zelenskýj", {"czech", "accented"}),
    ("cafe", {"accented", "plain"}),
    ("café", {"accented", "plain"}),
    ("CAFÉ owners", {"accented", "plain"}),
    ("resume", {"accented"}),
    ("premierem", {"czech"}),
    # letters that do not decompose: folded on both backends
    ("lodz", {"poland"}),
    ("Łódź", {"poland"}),
    ("walesa", {"poland"}),
    ("strasse", {"poland"}),
    ("oresund", {"poland"}),
    ("oeuvre", {"poland"}),
    # Cyrillic: case, ё, prefixes, phrases
    ("Путин", {"kremlin"}),
    ("путин", {"kremlin"}),
    ("ПУТИН", {"kremlin"}),
    ('"владимир путин"', {"kremlin"}),
    ("Кремл*", {"kremlin"}),
    ("леша", {"kremlin"}),
    ("Лёша", {"kremlin"}),
    ("путин -кремле", set()),
    # Greek with and without the tonos
    ("Αθήνα", {"greece"}),
    ("αθηνα", {"greece"}),
    ("ΑΘΗΝΑ", {"greece"}),
    # punctuation inside a word: its words, as a phrase
    ("Jean-Luc", {"hyphen"}),
    ('"jury said jean"', {"hyphen"}),
    ('"jean godard"', set()),
    ('"said jean luc godard"', {"hyphen"}),
    ("o'brien", {"hyphen"}),
    ("brien", {"hyphen"}),
    # abbreviations, numbers, dates, addresses: their words and numbers
    ("U.S.", {"numbers"}),
    ('"u s" inflation', {"numbers"}),
    ("2.5%", {"numbers"}),
    ("2024-12-03", {"numbers"}),
    ("desk@wire.example", {"numbers"}),
    ("wire.example/markets", {"numbers"}),
    ("covid-19", {"numbers"}),
    ("covid19", set()),
    # no match at all
    ("xylophone", set()),
]


def _corpus(db: Database) -> dict[str, int]:
    """CORPUS stored through the store, as polls store articles; returns key -> article id."""
    items = []
    for key, (title, text, days) in CORPUS.items():
        raw = RawItem("desk", key, text, ContentKind.TEXT, title=title, published_at=NOW - timedelta(days))
        items.append(clean(raw))
    with db.session() as session:
        stored = store_articles(session, items, NOW)
    assert all(s.is_new for s in stored)
    return {s.article.key: s.id for s in stored}


def _found(db: Database, query: str, **filters: object) -> list[int]:
    with db.session() as session:
        return [hit.article.id for hit in search_articles(session, query, **filters)]  # type: ignore[arg-type]


def test_a_table_of_queries_finds_the_same_articles_on_each_backend(db: Database) -> None:
    ids = _corpus(db)
    for query, keys in TABLE:
        found = _found(db, query)
        assert sorted(found) == sorted(ids[k] for k in keys), query
        assert len(found) == len(set(found)), query
        with db.session() as session:  # the condition alone (a list with its own order) agrees
            condition = matching(query, session.get_bind().dialect.name)
            assert sorted(session.scalars(select(ArticleRow.id).where(condition))) == sorted(found), query


def test_ranks_a_title_match_above_a_passing_mention(db: Database) -> None:
    ids = _corpus(db)
    # "football" and "kyiv" both say Kyiv in the title; the café column mentions Lviv only.
    assert _found(db, "cup")[:1] == [ids["football"]]
    ranked = _found(db, "minister")
    assert set(ranked) == {ids["kyiv"], ids["budget"], ids["football"]}
    assert ranked[0] in (ids["kyiv"], ids["budget"])  # in their titles; "football" says it in passing
    with db.session() as session:
        scores = [hit.score for hit in search_articles(session, "minister")]
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_snippets_mark_the_matching_words_in_the_text(db: Database) -> None:
    _corpus(db)
    with db.session() as session:
        (hit,) = search_articles(session, '"air defence"')
        (cyrillic,) = search_articles(session, "леша")
        (folded,) = search_articles(session, "walesa")
    assert [piece for piece, match in spans(hit.snippet) if match] in (["air", "defence"], ["air defence"])
    assert "**" in marked(hit.snippet) and MARK_START not in marked(hit.snippet)
    assert marked(cyrillic.snippet, "[", "]").count("[Лёша]") == 1
    assert "[Wałęsa]" in marked(folded.snippet, "[", "]")
    assert MARK_END in hit.snippet


def test_filters_since_source_and_rule(db: Database) -> None:
    ids = _corpus(db)
    assert set(_found(db, "kyiv", since=NOW - timedelta(days=7))) == {ids["kyiv"]}
    assert _found(db, "kyiv", source="elsewhere") == []
    assert set(_found(db, "kyiv", source="desk")) == {ids["kyiv"], ids["football"]}
    with db.session() as session:
        session.execute(
            insert(AlertRow),
            [
                {
                    "rule": "war", "article_id": ids["football"], "channel": "hook", "status": "sent",
                    "attempts": 1, "message_id": "m1", "matched": [], "created_at": NOW,
                    "next_attempt_at": NOW,
                }
            ],
        )  # fmt: skip
    assert _found(db, "kyiv", rule="war") == [ids["football"]]
    assert _found(db, "kyiv", rule="other") == []
    # Without a query: the newest articles, filtered the same way.
    assert _found(db, "", since=NOW - timedelta(days=2, hours=1)) == [ids["kyiv"], ids["budget"]]
    assert _found(db, "  ", rule="war") == [ids["football"]]


def test_limit_and_offset_page_through_the_ranking(db: Database) -> None:
    _corpus(db)
    everything = _found(db, "the", limit=50)
    assert len(everything) >= 6
    pages = _found(db, "the", limit=2) + _found(db, "the", limit=2, offset=2) + _found(db, "the", offset=4)
    assert pages == everything


def test_a_changed_article_is_found_by_its_new_words_and_not_its_old_ones(db: Database) -> None:
    ids = _corpus(db)
    changed = RawItem(
        "desk", "kyiv", "The prime minister flew on to Warsaw for a summit on reconstruction loans.",
        ContentKind.TEXT, title="Prime minister in Warsaw", published_at=NOW,
    )  # fmt: skip
    with db.session() as session:
        (stored,) = store_articles(session, [clean(changed)], NOW + timedelta(hours=1))
    assert stored.id == ids["kyiv"] and not stored.is_new
    assert _found(db, "warsaw reconstruction") == [ids["kyiv"]]
    assert _found(db, "Zelenskyy") == []
    assert ids["kyiv"] not in _found(db, "kyiv")
    with db.session() as session:  # deleted (as retention deletes): gone from the index too
        session.execute(delete(ArticleRow).where(ArticleRow.id == ids["kyiv"]))
    assert _found(db, "warsaw") == []
    assert set(_found(db, '"prime minister"')) == {ids["football"]}


def test_parse_reads_the_query_language() -> None:
    assert parse('kyiv "prime minister" -sport zelensk*').terms == (
        Term(("kyiv",)),
        Term(("prime", "minister")),
        Term(("sport",), exclude=True),
        Term(("zelensk",), prefix=True),
    )
    assert parse('"prime min"* -"finance minister"').terms == (
        Term(("prime", "min"), prefix=True),
        Term(("finance", "minister"), exclude=True),
    )
    assert parse("Jean-Luc U.S. well-known-").terms == (
        Term(("Jean", "Luc")),
        Term(("U", "S")),
        Term(("well", "known")),
    )
    assert parse('"unclosed phrase').terms == (Term(("unclosed", "phrase")),)
    assert parse("a - b").terms == (Term(("a",)), Term(("b",)))  # a lone dash excludes nothing
    assert parse("kyiv AND NEAR( -AND").terms == (
        Term(("kyiv",)),
        Term(("NEAR",)),
        Term(("AND",), exclude=True),
    )
    assert parse('"war or peace" or not').terms == (
        Term(("war", "or", "peace")),
        Term(("or",)),
        Term(("not",)),
    )


def test_the_backends_see_only_words_and_their_own_operators() -> None:
    query = parse('Łódź "prime min*" -"Straße" -x')
    assert fts5_match(query) == '("Lódź" AND "prime" + "min" *) NOT "Strasse" NOT "x"'
    assert tsquery(query) == "Łódź & (prime <-> min:*) & !Straße & !x"
    assert tsquery(parse('"\'); DROP TABLE articles; --"')) == "(DROP <-> TABLE <-> articles)"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"', "has no word to look for"),
        ("", "has no word to look for"),
        ("()*&|!:", "has no word to look for"),
        ("-kyiv", "only excludes"),
        ('-"prime minister" -x', "only excludes"),
        ("k*", "a prefix needs at least 2 letters"),
        ("kyiv " * 40, "too many terms"),
        ("x" * 501, "too long"),
        ("putin OR zelenskyy", "OR is not part of the search language"),
        ("putin NOT sport", "put a minus before the word"),
    ],
)
def test_queries_with_nothing_to_look_for_are_refused_with_one_line(query: str, message: str) -> None:
    with pytest.raises(SearchError, match=message) as refused:
        parse(query)
    assert "\n" not in str(refused.value)


HOSTILE = [
    '"',
    "AND(",
    "AND",
    "NEAR(a b",
    "a OR",
    "NOT a",
    "title:kyiv",
    "{title text}: kyiv",
    "^kyiv",
    "kyiv:*",
    "a & b | !c <-> d",
    "'; DROP TABLE articles; --",
    "kyiv\x00",
    "\\",
    "*kyiv",
    "--kyiv",
    "kyiv**",
    '""""kyiv""',
    "ø" * 300,
    "\u0301\u0301kyiv",
    "k\u200byiv",
    "🇺🇦 kyiv",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_give_a_result_or_one_clear_message(db: Database, query: str) -> None:
    _corpus(db)
    try:
        _found(db, query)
    except SearchError as refused:
        assert "\n" not in str(refused)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_is_a_search_or_a_clear_refusal(db: Database, query: str) -> None:
    """Whatever is typed, the database never sees a query it cannot read."""
    with contextlib.suppress(SearchError):
        _found(db, query)


def test_the_migration_folds_the_letters_the_query_folds() -> None:
    path = MIGRATIONS / "versions" / "0015_search.py"
    spec = importlib.util.spec_from_file_location("migration_0015", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.FOLDS == FOLDS, "changing FOLDS needs a migration that rebuilds the search index"


@pytest.mark.empty_database
def test_the_index_is_kept_by_triggers_at_head(db: Database) -> None:
    """A later migration that rebuilds `articles` (SQLite batch mode) must not lose the triggers."""
    with db.session() as session:
        session.execute(
            insert(ArticleRow),
            [
                {
                    "source": "desk", "item_key": "raw", "url": None, "title": "Raw insert",
                    "text": "Inserted without the store: quokka.", "summary": "", "topics": [],
                    "published_at": NOW, "first_seen_at": NOW, "updated_at": NOW, "content_hash": "h",
                    "html": "",
                }
            ],
        )  # fmt: skip
        (raw_id,) = session.scalars(select(ArticleRow.id)).all()
    assert _found(db, "quokka") == [raw_id]


def test_relevance_ranks_the_newest_matches_of_a_word_found_everywhere(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word in more articles than the window is ranked among its newest matches (by id); a page
    beyond the window widens it."""
    ids = _corpus(db)
    matches = set(_found(db, "the", limit=50))
    newest = sorted(matches, reverse=True)
    monkeypatch.setattr("ingest.search.WINDOW", 3)
    assert set(_found(db, "the", limit=2)) <= set(newest[:3])
    assert set(_found(db, "the", limit=3)) == set(newest[:3])
    assert set(_found(db, "the", limit=5)) == set(newest[:5])  # limit + offset > WINDOW: wider
    assert set(_found(db, "the", limit=2, offset=2)) <= set(newest[:4])
    assert _found(db, "zelensk*", limit=10) != []  # fewer matches than the window: all ranked
    assert ids["kyiv"] in matches
