"""Storage of articles, their sightings, and each source's poll state.

Each cleaned article is looked up at three levels before it becomes a new article: identity (the
same source item, or the same canonical link), exact content (the same normalised text), and
near-duplicate content (MinHash + LSH). A match on any level is recorded as a sighting of the
existing article, so the outbox key (rule, article, channel) keeps alerts at one per story.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, bindparam, select, update
from sqlalchemy.orm import Session

from core.db import ArticleRow, Base, SightingRow, SourceHealth, SourceState, utcnow
from ingest.dedup import NearDuplicateIndex, fingerprint, signature
from ingest.models import Article, RawItem

FIRST, LINK, EXACT, NEAR = "first", "link", "exact", "near"


@dataclass(frozen=True)
class Stored:
    """An article that was new, changed or seen again in this poll, with its database id.

    `merged` says the item was a duplicate of an article already stored (a new sighting of it).
    """

    id: int
    article: Article
    is_new: bool
    merged: bool = False
    how: str = FIRST


def store_articles(
    session: Session,
    articles: Iterable[Article],
    now: datetime,
    index: NearDuplicateIndex | None = None,
) -> list[Stored]:
    """Store new articles, update changed ones and record duplicates as sightings; unchanged items
    are left alone and not returned. `index` enables near-duplicate merging (and is kept current)."""
    stored = []
    for article in articles:
        result = _store_one(session, article, now, index)
        if result is not None:
            stored.append(result)
    return stored


def _store_one(
    session: Session, article: Article, now: datetime, index: NearDuplicateIndex | None
) -> Stored | None:
    sighting = session.scalar(
        select(SightingRow).where(SightingRow.source == article.source, SightingRow.item_key == article.key)
    )
    if sighting is not None:
        sighting.last_seen_at = now
        sighting.url = article.url or sighting.url
        row = sighting.article
        owns = row.source == article.source and row.item_key == article.key
        if not owns or row.content_hash == article.content_hash:
            return None  # a duplicate seen again, or an unchanged item: nothing to do
        _fill(row, article, now)
        session.flush()
        _reindex(index, row)
        return Stored(row.id, article, is_new=False)

    text_hash = fingerprint(article.title, article.text)
    sig = signature(article.text)
    match = _find_duplicate(session, article, text_hash, sig, now, index)
    if match is not None:
        row, how, score = match
        session.add(_sighting(row, article, how, now, score))
        session.flush()
        return Stored(row.id, article, is_new=False, merged=True, how=how)

    row = ArticleRow(source=article.source, item_key=article.key, first_seen_at=now)
    session.add(row)
    _fill(row, article, now, text_hash, sig)
    session.add(_sighting(row, article, FIRST, now))
    session.flush()
    _reindex(index, row)
    return Stored(row.id, article, is_new=True)


def _sighting(
    row: ArticleRow, article: Article, how: str, now: datetime, similarity: float | None = None
) -> SightingRow:
    """The record that `article` (one source's item) was seen as the stored `row`, and how."""
    return SightingRow(
        article=row,
        source=article.source,
        item_key=article.key,
        url=article.url,
        how=how,
        similarity=similarity,
        first_seen_at=now,
        last_seen_at=now,
    )


def _find_duplicate(
    session: Session,
    article: Article,
    text_hash: str,
    sig: tuple[int, ...] | None,
    now: datetime,
    index: NearDuplicateIndex | None,
) -> tuple[ArticleRow, str, float | None] | None:
    if article.url is not None and urlsplit(article.url).path not in ("", "/"):
        # A bare home-page link says nothing about which story it is (some feeds link every item there).
        # The link's first sighting decides: without the order, PostgreSQL returns whichever row
        # comes first in the table, and an updated row moves to the end.
        first = select(SightingRow).where(SightingRow.url == article.url).order_by(SightingRow.id).limit(1)
        seen = session.scalar(first)
        if seen is not None:
            return seen.article, LINK, None
    same_text = session.scalar(
        select(ArticleRow).where(ArticleRow.text_hash == text_hash).order_by(ArticleRow.id).limit(1)
    )
    if same_text is not None:
        return same_text, EXACT, 1.0
    if index is not None and sig is not None:
        best = index.best_match(sig, now)
        if best is not None:
            row = session.get(ArticleRow, best[0])
            if row is not None:
                return row, NEAR, round(best[1], 4)
            index.remove(best[0])  # indexed in a transaction that was rolled back
    return None


def _fill(
    row: ArticleRow,
    article: Article,
    now: datetime,
    text_hash: str | None = None,
    sig: tuple[int, ...] | None = None,
) -> None:
    row.url = article.url
    row.title = article.title
    row.text = article.text
    row.summary = article.summary
    row.topics = list(article.topics)
    row.html = article.html
    row.language = article.language
    row.published_at = article.published_at or row.published_at or now
    row.updated_at = now
    row.content_hash = article.content_hash
    row.text_hash = text_hash or fingerprint(article.title, article.text)
    fresh = sig if sig is not None else signature(article.text)
    row.signature = list(fresh) if fresh is not None else None


def _reindex(index: NearDuplicateIndex | None, row: ArticleRow) -> None:
    if index is None:
        return
    if row.signature is None:
        index.remove(row.id)
    else:
        index.add(row.id, row.signature, row.first_seen_at)


def load_index(session: Session, index: NearDuplicateIndex, now: datetime) -> NearDuplicateIndex:
    """Fill `index` from the signatures of articles first seen within its window (at start);
    articles stored before signatures existed get theirs computed and saved here."""
    since = ArticleRow.first_seen_at >= now - index.window
    legacy = select(ArticleRow).where(since, ArticleRow.text_hash.is_(None))
    for row in session.scalars(legacy.execution_options(yield_per=500)):
        row.text_hash = fingerprint(row.title, row.text)
        sig = signature(row.text)
        row.signature = list(sig) if sig is not None else None
    session.flush()
    # Only the three columns the index needs, streamed: not every article's text at once.
    query = select(ArticleRow.id, ArticleRow.signature, ArticleRow.first_seen_at).where(
        since, ArticleRow.signature.is_not(None)
    )
    for article_id, sig, seen_at in session.execute(query.execution_options(yield_per=1000)):
        if sig is not None:  # a JSON null is not SQL NULL on every backend
            index.add(article_id, sig, seen_at)
    return index


def raw_hash(item: RawItem) -> str:
    """A fingerprint of an item exactly as its source gave it: the same means nothing to clean again."""
    digest = hashlib.sha256()
    published = item.published_at.isoformat() if item.published_at else ""
    for part in (item.key, item.title or "", item.url or "", published, "\x1f".join(item.tags), item.content):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def unchanged(session: Session, source: str, hashes: dict[str, str]) -> set[str]:
    """The keys (of `hashes`: item key -> raw hash) of items `source` gave before, unchanged since."""
    same = set[str]()
    for of_items in _sightings_of(source, list(hashes)):
        query = select(SightingRow.item_key, SightingRow.raw_hash).where(of_items)
        same.update(key for key, known in session.execute(query) if known == hashes[key])
    return same


def remember_raw(session: Session, source: str, hashes: dict[str, str]) -> None:
    """Record the raw hash of each item just stored (or found unchanged after cleaning)."""
    table = Base.metadata.tables["sightings"]
    statement = (
        update(table)
        .where(table.c.source == bindparam("b_source"), table.c.item_key == bindparam("b_key"))
        .values(raw_hash=bindparam("b_hash"))
    )
    rows = [{"b_source": source, "b_key": key, "b_hash": value} for key, value in hashes.items()]
    if rows:
        session.connection().execute(statement, rows)


def seen_again(session: Session, source: str, keys: Iterable[str], now: datetime) -> None:
    """Record that `source` still carries these items (found unchanged, so not stored again): their
    sightings' `last_seen_at` is what retention keeps an article by."""
    for of_items in _sightings_of(source, list(keys)):
        session.execute(
            update(SightingRow)
            .where(of_items)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )


def _sightings_of(source: str, keys: Sequence[str]) -> Iterator[ColumnElement[bool]]:
    """Conditions that pick `source`'s sightings of `keys`, each with at most 500 keys in its IN list."""
    for start in range(0, len(keys), 500):
        yield and_(SightingRow.source == source, SightingRow.item_key.in_(keys[start : start + 500]))


def recent_articles(session: Session, limit: int) -> list[ArticleRow]:
    """The newest stored articles, newest first."""
    query = select(ArticleRow).order_by(ArticleRow.published_at.desc(), ArticleRow.id.desc())
    return list(session.scalars(query.limit(limit)))


def article_dict(row: ArticleRow) -> dict[str, Any]:
    """The public JSON shape of an article (`articles --json` and the webhook payload)."""
    return {
        "id": row.id,
        "title": row.title,
        "url": row.url,
        "source": row.source,
        "published_at": row.published_at.isoformat(),
        "first_seen_at": row.first_seen_at.isoformat(),
        "topics": list(row.topics),
        "summary": row.summary,
        "text": row.text,
        "html": row.html,
        "language": row.language,
        "sources": [
            {
                "source": s.source,
                "url": s.url,
                "seen_at": s.first_seen_at.isoformat(),
                "how": s.how,
                **({"similarity": s.similarity} if s.similarity is not None else {}),
            }
            for s in row.sightings
        ],
    }


def source_state(session: Session, name: str, location: str, now: datetime | None = None) -> SourceState:
    """The stored state of a source, created on first use.

    Backoff and health belong to where a source reads from, not only to its name: when its `feed:`
    or `directory:` changes, its failures, retry window, validators, moves and 410 mark are dropped,
    and its health is tracked afresh from now (an open unhealthy flag stays, so `recovered` follows)."""
    state = session.get(SourceState, name)
    if state is None:
        state = SourceState(name=name, location=location, failures=0, articles_seen=0)
        session.add(state)
    elif state.location != location:
        state.failures = 0
        state.retry_not_before = None
        state.next_poll_at = None
        state.disabled = False
        state.etag = state.last_modified = state.current_url = None
        state.last_error = None
        state.last_status = None
        state.http_status = None
        state.last_success_at = None
        health = session.get(SourceHealth, name)
        if health is not None:
            health.tracked_since = now or utcnow()
    state.location = location
    return state
