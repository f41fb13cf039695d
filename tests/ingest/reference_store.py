"""The per-item store as it was before the batched one (ingest/store.py `store_batch`): slow, one
article at a time, and simple enough to trust. tests/ingest/test_store_batch.py holds the batched
store to the same articles, sightings, merges and results."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import ArticleRow, SightingRow
from ingest.dedup import Decision, NearDuplicateIndex, confirm, fingerprint, longer_of, signature
from ingest.models import Article
from ingest.store import EXACT, FIRST, LINK, NEAR, Stored


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
        row, how, score, decision = match
        session.add(_sighting(row, article, how, now, score, decision))
        if decision is not None and longer_of(row.text, article.text, decision, index.rules):
            row.text, row.text_hash, row.updated_at = article.text, text_hash, now
            row.text_source = article.text_source
            row.signature = list(sig) if sig is not None else None
            session.flush()
            _reindex(index, row)
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
    row: ArticleRow,
    article: Article,
    how: str,
    now: datetime,
    similarity: float | None = None,
    decision: Decision | None = None,
) -> SightingRow:
    """The record that `article` (one source's item) was seen as the stored `row`, and how."""
    return SightingRow(
        article=row,
        source=article.source,
        item_key=article.key,
        url=article.url,
        how=how,
        similarity=similarity,
        containment=decision.containment if decision is not None else None,
        checked=decision.check if decision is not None else None,
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
) -> tuple[ArticleRow, str, float | None, Decision | None] | None:
    if article.url is not None and urlsplit(article.url).path not in ("", "/"):
        # A bare home-page link says nothing about which story it is (some feeds link every item there).
        # The link's first sighting decides: without the order, PostgreSQL returns whichever row
        # comes first in the table, and an updated row moves to the end.
        first = select(SightingRow).where(SightingRow.url == article.url).order_by(SightingRow.id).limit(1)
        seen = session.scalar(first)
        if seen is not None:
            return seen.article, LINK, None, None
    same_text = session.scalar(
        select(ArticleRow).where(ArticleRow.text_hash == text_hash).order_by(ArticleRow.id).limit(1)
    )
    if same_text is not None:
        return same_text, EXACT, 1.0, None
    if index is not None and sig is not None:
        # One lookup for this item alone; candidates by estimate, then id; the first confirmed wins.
        for article_id, _estimate in index.query_many([sig], now)[0]:
            row = session.get(ArticleRow, article_id)
            if row is None:
                index.remove(article_id)  # indexed in a transaction that was rolled back
                continue
            decision = confirm(row.text, row.title, article.text, article.title, index.rules)
            if decision.same:
                return row, NEAR, decision.similarity, decision
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
    row.text_source = article.text_source
    row.page_error = article.page_error
    row.author = article.author
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
