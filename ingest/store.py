"""Storage of articles and of each source's poll state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.models import Article
from newswatch.db import ArticleRow, SourceState


@dataclass(frozen=True)
class Stored:
    """An article that was new or changed in this poll, with its database id."""

    id: int
    article: Article
    is_new: bool


def store_articles(session: Session, articles: Iterable[Article], now: datetime) -> list[Stored]:
    """Insert new articles and update changed ones; unchanged ones are left alone and not returned."""
    stored = []
    for article in articles:
        row = session.scalar(
            select(ArticleRow).where(ArticleRow.source == article.source, ArticleRow.item_key == article.key)
        )
        if row is not None and row.content_hash == article.content_hash:
            continue
        is_new = row is None
        if row is None:
            row = ArticleRow(source=article.source, item_key=article.key, first_seen_at=now)
            session.add(row)
        row.url = article.url
        row.title = article.title
        row.text = article.text
        row.summary = article.summary
        row.topics = list(article.topics)
        row.published_at = article.published_at or row.published_at or now
        row.updated_at = now
        row.content_hash = article.content_hash
        session.flush()
        stored.append(Stored(row.id, article, is_new))
    return stored


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
    }


def source_state(session: Session, name: str, location: str) -> SourceState:
    """The stored state of a source, created on first use."""
    state = session.get(SourceState, name)
    if state is None:
        state = SourceState(name=name, location=location, failures=0, articles_seen=0)
        session.add(state)
    state.location = location
    return state
