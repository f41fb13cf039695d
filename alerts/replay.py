"""Replaying rules over stored articles or files, sending nothing: `newswatch rules test|explain`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.rules import Matcher
from core.db import ArticleRow
from core.errors import ConfigError
from ingest.clean import clean
from ingest.models import Article, ContentKind, RawItem


def as_article(row: ArticleRow) -> Article:
    """A stored article in the shape the matcher reads."""
    return Article(
        row.source,
        row.item_key,
        row.title,
        row.text,
        row.summary,
        tuple(row.topics),
        row.url,
        row.published_at,
        row.content_hash,
    )


def stored_articles(session: Session, since: datetime) -> list[tuple[int, Article]]:
    """Stored articles first seen at or after `since`, oldest first, with their ids."""
    query = select(ArticleRow).where(ArticleRow.first_seen_at >= since).order_by(ArticleRow.id)
    return [(row.id, as_article(row)) for row in session.scalars(query)]


def stored_article(session: Session, article_id: int) -> Article:
    """One stored article by id; ConfigError (a usage error) when there is none."""
    row = session.get(ArticleRow, article_id)
    if row is None:
        raise ConfigError(f"no stored article has id {article_id}; see `newswatch articles`")
    return as_article(row)


def file_articles(paths: Sequence[Path]) -> list[tuple[int, Article]]:
    """Articles read from files as the fixture source reads them (headline, body, `Topics:`)."""
    articles = []
    for number, path in enumerate(paths, start=1):
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        articles.append((number, clean(RawItem("file", str(path), content, ContentKind.FIXTURE))))
    return articles


def replay(
    matcher: Matcher, articles: Iterable[tuple[int, Article]], only: str | None = None
) -> list[dict[str, Any]]:
    """Per rule: how many articles it would alert on, and those would-be alerts with their hits."""
    names = [rule.name for rule in matcher.rules]
    if only is not None and only not in names:
        raise ConfigError(f"no rule is named {only!r} (rules: {', '.join(names) or 'none defined'})")
    report: dict[str, dict[str, Any]] = {
        name: {"rule": name, "hits": 0, "alerts": []} for name in names if only in (None, name)
    }
    for article_id, article in articles:
        for match in matcher.match(article, article_id):
            if match.rule in report:
                entry = report[match.rule]
                entry["hits"] += 1
                entry["alerts"].append(
                    {
                        "article_id": article_id,
                        "title": article.title,
                        "source": article.source,
                        "matched": [hit.as_dict() for hit in match.hits],
                    }
                )
    return list(report.values())
