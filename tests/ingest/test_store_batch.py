"""The batched store (`store_batch`) against the per-item reference (tests/ingest/reference_store.py):
the same articles, sightings, merges and results, on a table of tricky cases and on generated polls,
on both backends. Each path runs in a transaction that is rolled back, so both see the same start."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import ArticleRow, Database, SightingRow
from ingest.clean import clean
from ingest.dedup import NearDuplicateIndex, fingerprint, signature
from ingest.models import Article, ContentKind, RawItem
from ingest.process import Prepared
from ingest.store import Stored, store_batch
from tests.ingest import reference_store

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)

STORY = (
    "Ukrainian and Russian negotiators met in Istanbul on Tuesday for a third round of talks. "
    "Officials from both sides described the meeting as constructive but said no agreement had been "
    "reached on a ceasefire. Vladimir Putin was not present, and Volodymyr Zelenskyy said he would "
    "only meet the Russian leader once a framework deal was ready for signature."
)
# The same story with a few words edited: a near duplicate.
COPY = STORY.replace("Tuesday", "Wednesday").replace("constructive", "useful")
OTHER = (
    "Ships carrying Ukrainian grain left Odesa on Wednesday under a deal brokered by Turkey and the "
    "United Nations. Russia said it would not attack the convoy, while Kyiv warned that mines in the "
    "Black Sea remained a danger. Vladimir Putin and Volodymyr Zelenskyy both claimed credit for "
    "keeping the corridor open through the winter months."
)
UPDATED = STORY + " A fourth round is planned for next month in Geneva."
# The first three sentences only (a teaser): contained in STORY, which replaces its text.
TEASER = STORY[: STORY.index(" Vladimir")]
TEXTS = (STORY, COPY, OTHER, UPDATED, TEASER, "Short note.")
URLS = (None, "https://news.example/a/talks", "https://news.example/b/grain", "https://news.example/")

Item = tuple[str, str, str | None, str]  # source, key, url, text
StoreFn = Callable[[Session, list[Article], datetime, NearDuplicateIndex], list[Stored]]


def _article(item: Item) -> Article:
    source, key, url, text = item
    return clean(RawItem(source, key, f"<p>{text}</p>", ContentKind.HTML, title="Talks", url=url))


def _batched(
    session: Session, articles: list[Article], now: datetime, index: NearDuplicateIndex
) -> list[Stored]:
    """`store_batch` per run of one source's items (a poll is one source's), in order."""
    stored: list[Stored] = []
    for source, run in groupby(articles, key=lambda a: a.source):
        items = [Prepared(a, "", fingerprint(a.title, a.text), signature(a.text)) for a in run]
        stored.extend(store_batch(session, source, items, now, index))
    return stored


def _reference(
    session: Session, articles: list[Article], now: datetime, index: NearDuplicateIndex
) -> list[Stored]:
    return reference_store.store_articles(session, articles, now, index)


def _outcome(db: Database, store: StoreFn, polls: Sequence[Iterable[Item]]) -> dict[str, Any]:
    """Store `polls` in turn (one call each, a minute apart) and describe what the database holds,
    with ids replaced by each article's (source, item key) so the two paths compare."""
    index = NearDuplicateIndex(0.5, timedelta(days=7))
    with Session(db.engine) as session:
        results = []
        for number, poll in enumerate(polls):
            at = NOW + timedelta(minutes=number)
            results.append(store(session, [_article(i) for i in poll], at, index))
        session.flush()
        names = {
            row.id: (row.source, row.item_key)
            for row in session.execute(select(ArticleRow.id, ArticleRow.source, ArticleRow.item_key))
        }
        articles = sorted(
            (r.source, r.item_key, r.title, r.text, r.url, r.content_hash, r.text_hash, r.updated_at)
            for r in session.scalars(select(ArticleRow))
        )
        sightings = sorted(
            (
                s.source,
                s.item_key,
                names[s.article_id],
                s.how,
                s.url,
                s.similarity,
                s.containment,
                s.checked,
                s.last_seen_at,
            )
            for s in session.scalars(select(SightingRow))
        )
        said = [
            [(names[s.id], s.article.key, s.is_new, s.merged, s.how) for s in result] for result in results
        ]
        indexed = sorted(names[i] for i in names if i in index)
        session.rollback()
    return {"articles": articles, "sightings": sightings, "results": said, "indexed": indexed}


def _agree(db: Database, polls: Sequence[Sequence[Item]]) -> dict[str, Any]:
    reference = _outcome(db, _reference, polls)
    batched = _outcome(db, _batched, polls)
    assert batched == reference
    return batched


A, B = "wire", "desk"
TALKS_URL, GRAIN_URL, HOME = URLS[1], URLS[2], URLS[3]


def test_the_same_story_twice_in_one_batch_is_one_article_with_two_sightings(db: Database) -> None:
    out = _agree(db, [[(A, "1", None, STORY), (A, "2", None, STORY)]])
    assert len(out["articles"]) == 1
    assert [s[3] for s in out["sightings"]] == ["first", "exact"]


def test_a_link_duplicate_and_a_near_duplicate_in_one_batch_join_the_first(db: Database) -> None:
    out = _agree(db, [[(A, "1", TALKS_URL, STORY), (B, "9", TALKS_URL, OTHER), (B, "10", None, COPY)]])
    assert len(out["articles"]) == 1
    assert sorted(s[3] for s in out["sightings"]) == ["first", "link", "near"]


def test_an_update_in_the_same_batch_as_its_original_is_stored_as_the_update(db: Database) -> None:
    out = _agree(db, [[(A, "1", None, STORY), (A, "1", None, UPDATED)]])
    assert len(out["articles"]) == 1 and out["articles"][0][3].endswith("in Geneva.")
    assert out["results"][0][1][2:] == (False, False, "first")  # the second is an update


def test_an_update_of_a_stored_article_and_its_copy_in_a_later_batch(db: Database) -> None:
    out = _agree(
        db,
        [
            [(A, "1", TALKS_URL, STORY), (A, "2", GRAIN_URL, OTHER)],
            [(A, "1", TALKS_URL, UPDATED), (B, "5", None, COPY), (B, "6", GRAIN_URL, "Short note.")],
            [(B, "5", None, COPY), (A, "2", GRAIN_URL, OTHER)],  # seen again, unchanged
        ],
    )
    assert len(out["articles"]) == 2


def test_a_teaser_gives_way_to_the_full_story_in_one_batch_and_across_batches(db: Database) -> None:
    out = _agree(db, [[(A, "1", None, TEASER), (B, "2", None, STORY)], [(B, "3", None, UPDATED)]])
    assert len(out["articles"]) == 1 and out["articles"][0][3] == UPDATED  # the longest text won
    near = [s for s in out["sightings"] if s[3] == "near"]
    assert len(near) == 2 and all(s[6] is not None and s[6] >= 0.8 and s[7] for s in near)


def test_home_page_links_and_a_changed_link_behave_as_one_at_a_time(db: Database) -> None:
    _agree(
        db,
        [
            [(A, "1", HOME, STORY), (B, "2", HOME, OTHER), (A, "3", TALKS_URL, "Short note.")],
            [(A, "3", GRAIN_URL, "Short note."), (B, "4", GRAIN_URL, COPY), (B, "5", TALKS_URL, OTHER)],
        ],
    )


ITEMS = st.tuples(
    st.sampled_from((A, B)),
    st.sampled_from(("1", "2", "3", "4")),
    st.sampled_from(URLS),
    st.sampled_from(TEXTS),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(polls=st.lists(st.lists(ITEMS, max_size=6), min_size=1, max_size=3))
def test_generated_polls_store_as_the_per_item_path_does(db: Database, polls: list[list[Item]]) -> None:
    _agree(db, polls)


@pytest.mark.parametrize("size", [1, 3])
def test_batches_of_any_size_give_the_same_result(db: Database, size: int) -> None:
    """One poll split into batches (as the pipeline does for a big feed) stores the same."""
    poll = [
        (A, "1", TALKS_URL, STORY),
        (B, "2", None, COPY),
        (A, "3", GRAIN_URL, OTHER),
        (A, "1", None, UPDATED),
    ]
    whole = _outcome(db, _batched, [poll])
    split = _outcome(db, _batched, [poll[i : i + size] for i in range(0, len(poll), size)])
    assert [a[:7] for a in split["articles"]] == [a[:7] for a in whole["articles"]]
    assert [s[:8] for s in split["sightings"]] == [s[:8] for s in whole["sightings"]]
