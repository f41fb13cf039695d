"""Storage with dedup against a real database (SQLite and PostgreSQL): identity, exact text,
near-duplicates, sightings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from core.db import ArticleRow, Database, SightingRow
from ingest.clean import clean
from ingest.dedup import NearDuplicateIndex
from ingest.models import ContentKind, RawItem
from ingest.store import Stored, article_dict, load_index, store_articles
from tests.conftest import SEED_FILE

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
SEED = SEED_FILE.read_text(encoding="utf-8")
SEED_LINES = SEED.strip().splitlines()

# Two different stories on the same topic (same people, same places): they must stay apart.
TALKS = (
    "Ukrainian and Russian negotiators met in Istanbul on Tuesday for a third round of talks. "
    "Officials from both sides described the meeting as constructive but said no agreement had been "
    "reached on a ceasefire. Vladimir Putin was not present, and Volodymyr Zelenskyy said he would "
    "only meet the Russian leader once a framework deal was ready for signature."
)
GRAIN = (
    "Ships carrying Ukrainian grain left Odesa on Wednesday under a deal brokered by Turkey and the "
    "United Nations. Russia said it would not attack the convoy, while Kyiv warned that mines in the "
    "Black Sea remained a danger. Vladimir Putin and Volodymyr Zelenskyy both claimed credit for "
    "keeping the corridor open through the winter months."
)


def _seed_item(source: str = "desk", key: str = "file:seed.txt") -> RawItem:
    return RawItem(source, key, SEED, ContentKind.FIXTURE)


def _edited_html_copy() -> str:
    """The seed as a wire feed would carry it: HTML, a reworded sentence, a dropped paragraph,
    an ad slot and an agency footer."""
    body = [line for line in SEED_LINES[1:-1] if line != "Advert"]
    body[1] = "In the clip, Zelenskyy called the coming conversation one that people are waiting for."
    del body[5]
    paragraphs = "".join(f"<p>{line}</p>" for line in body)
    return paragraphs + "<div class='ad'>Buy now</div><p>Reporting by the Wire Agency; editing by staff.</p>"


def _feed_item(source: str, key: str, content: str, url: str | None = None, title: str = "T") -> RawItem:
    return RawItem(source, key, content, ContentKind.HTML, title=title, url=url)


def _store(db: Database, items: list[RawItem], index: NearDuplicateIndex, at: datetime = NOW) -> list[Stored]:
    with db.session() as session:
        return store_articles(session, [clean(i) for i in items], at, index)


def _counts(db: Database) -> tuple[int, int]:
    with db.session() as session:
        articles = session.scalar(select(func.count()).select_from(ArticleRow))
        sightings = session.scalar(select(func.count()).select_from(SightingRow))
        return int(articles or 0), int(sightings or 0)


def _index() -> NearDuplicateIndex:
    return NearDuplicateIndex(0.5, timedelta(days=7))


def test_same_feed_twice_is_stored_once(db: Database) -> None:
    index = _index()
    items = [_feed_item("wire", "g1", f"<p>{TALKS}</p>", "https://wire.example/a/1")]
    assert [s.is_new for s in _store(db, items, index)] == [True]
    assert _store(db, items, index) == []
    assert _counts(db) == (1, 1)


def test_same_guid_twice_in_one_feed_is_one_article(db: Database) -> None:
    item = _feed_item("wire", "g1", f"<p>{TALKS}</p>", "https://wire.example/a/1")
    stored = _store(db, [item, item], _index())
    assert [s.is_new for s in stored] == [True]
    assert _counts(db) == (1, 1)


def test_two_feeds_syndicating_one_story_make_one_article_with_two_sightings(db: Database) -> None:
    index = _index()
    first = _store(db, [_feed_item("wire", "w1", f"<p>{TALKS}</p>", "https://wire.example/a/1")], index)
    second = _store(db, [_feed_item("paper", "p9", f"<p>{TALKS}</p>", "https://paper.example/x")], index)
    assert second[0].merged and second[0].how == "exact" and second[0].id == first[0].id
    assert _counts(db) == (1, 2)


def test_fixture_and_edited_html_copy_are_one_article(db: Database) -> None:
    index = _index()
    (first,) = _store(db, [_seed_item()], index)
    copy = _feed_item("wire", "wire-77", _edited_html_copy(), "https://wire.example/77?utm_source=rss")
    (second,) = _store(db, [copy], index)
    assert second.merged and second.how == "near" and second.id == first.id
    with db.session() as session:
        row = session.get(ArticleRow, first.id)
        assert row is not None
        sources = article_dict(row)["sources"]
    assert [(s["source"], s["how"], s["url"]) for s in sources] == [
        ("desk", "first", None),
        ("wire", "near", "https://wire.example/77"),
    ]
    assert 0.5 <= sources[1]["similarity"] < 1.0
    assert _counts(db) == (1, 2)


def test_same_link_with_different_tracking_parameters_is_one_article(db: Database) -> None:
    index = _index()
    _store(db, [_feed_item("wire", "g1", f"<p>{TALKS}</p>", "https://wire.example/a/1?utm_source=x")], index)
    other_text = f"<p>{TALKS} Updated with comment from Kyiv.</p>"
    link = "https://WIRE.example/a/1?utm_medium=email&fbclid=abc#top"
    (merged,) = _store(db, [_feed_item("mail", "m1", other_text, link)], index)
    assert merged.merged and merged.how == "link"
    assert _counts(db) == (1, 2)


def test_republished_item_with_a_changed_link_updates_its_article(db: Database) -> None:
    index = _index()
    (first,) = _store(db, [_feed_item("wire", "g1", f"<p>{TALKS}</p>", "https://wire.example/a/1")], index)
    changed = _feed_item("wire", "g1", f"<p>{TALKS} A late paragraph.</p>", "https://wire.example/b/1")
    (again,) = _store(db, [changed], index, NOW + timedelta(hours=1))
    assert (again.id, again.is_new, again.merged) == (first.id, False, False)
    with db.session() as session:
        row = session.get(ArticleRow, first.id)
        assert row is not None
        assert row.url == "https://wire.example/b/1" and row.text.endswith("A late paragraph.")
        assert [s.url for s in row.sightings] == ["https://wire.example/b/1"]
    assert _counts(db) == (1, 1)


def test_unrelated_stories_on_the_same_topic_stay_apart(db: Database) -> None:
    index = _index()
    items = [
        _seed_item(),
        _feed_item("wire", "t", f"<p>{TALKS}</p>", "https://wire.example/talks"),
        _feed_item("wire", "g", f"<p>{GRAIN}</p>", "https://wire.example/grain"),
    ]
    assert [s.is_new for s in _store(db, items, index)] == [True, True, True]
    assert _counts(db) == (3, 3)


def test_home_page_links_do_not_merge_stories(db: Database) -> None:
    index = _index()
    items = [
        _feed_item("wire", "t", f"<p>{TALKS}</p>", "https://wire.example/"),
        _feed_item("wire", "g", f"<p>{GRAIN}</p>", "https://wire.example/"),
    ]
    assert [s.is_new for s in _store(db, items, index)] == [True, True]


def test_the_index_is_rebuilt_from_stored_signatures_after_a_restart(db: Database) -> None:
    _store(db, [_seed_item()], _index())
    with db.session() as session:
        restarted = load_index(session, _index(), NOW + timedelta(days=1))
    assert len(restarted) == 1
    copy = _feed_item("wire", "wire-77", _edited_html_copy(), "https://wire.example/77")
    (merged,) = _store(db, [copy], restarted, NOW + timedelta(days=1))
    assert merged.merged and merged.how == "near"


def test_near_duplicates_outside_the_window_are_new_articles(db: Database) -> None:
    _store(db, [_seed_item()], _index())
    later = NOW + timedelta(days=8)
    with db.session() as session:
        restarted = load_index(session, _index(), later)
    assert len(restarted) == 0
    copy = _feed_item("wire", "wire-77", _edited_html_copy(), "https://wire.example/77")
    (stored,) = _store(db, [copy], restarted, later)
    assert stored.is_new and not stored.merged


def test_an_item_without_a_date_gets_its_first_seen_time(db: Database) -> None:
    (stored,) = _store(
        db, [_feed_item("wire", "g1", f"<p>{TALKS}</p>", "https://wire.example/a/1")], _index()
    )
    with db.session() as session:
        row = session.get(ArticleRow, stored.id)
        assert row is not None and row.published_at == NOW == row.first_seen_at


def test_a_link_seen_on_two_articles_joins_the_first_one_on_every_backend(db: Database) -> None:
    index = _index()
    (talks,) = _store(db, [_feed_item("wire", "t", f"<p>{TALKS}</p>", "https://wire.example/talks")], index)
    (grain,) = _store(db, [_feed_item("paper", "g", f"<p>{GRAIN}</p>", "https://paper.example/grain")], index)
    # The wire republishes its item under the paper's link: two articles now have a sighting there
    # (and on PostgreSQL the updated row moves to the end of the table).
    moved = _feed_item("wire", "t", f"<p>{TALKS} Updated.</p>", "https://paper.example/grain")
    _store(db, [moved], index, NOW + timedelta(hours=1))
    third = _feed_item("mail", "m", "<p>A short note on the day's news.</p>", "https://paper.example/grain")
    (merged,) = _store(db, [third], index, NOW + timedelta(hours=2))
    assert merged.merged and merged.how == "link"
    assert merged.id == talks.id != grain.id  # the link's first sighting decides, not the row order
