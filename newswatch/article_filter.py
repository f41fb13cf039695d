"""Stored articles by source, rule and text, newest first, one page at a time (the status page's list).

`text_condition` is the one place that decides what a text query matches: the same full-text search
as `articles --search` (ingest/search.py: SQLite FTS5, PostgreSQL tsvector; phrases, `-word`,
`word*`), and a case-insensitive substring of the title or the text for a query it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from core.db import AlertRow, ArticleRow
from ingest.search import SearchError, matching

PER_PAGE = 25
MAX_PER_PAGE = 200
TEXT_MAX_LENGTH = 200  # a longer query is cut here
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class ArticleSummary:
    """One article in a list: what a row shows, and the rules that matched it (by its alerts)."""

    id: int
    title: str
    url: str | None
    source: str
    published_at: datetime
    first_seen_at: datetime
    rules: tuple[str, ...]


@dataclass(frozen=True)
class ArticlePage:
    """One page of a filtered list, and where it stands in the whole list."""

    articles: tuple[ArticleSummary, ...]
    page: int  # from 1
    per_page: int
    total: int  # articles matching the filter, on every page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The position of this page's first article in the whole list (from 1; 0 when empty)."""
        return (self.page - 1) * self.per_page + 1 if self.articles else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.articles)


def text_condition(text: str, dialect: str) -> ColumnElement[bool]:
    """What a text query matches on `dialect`: the articles `articles --search` finds for it, or,
    for a query the search language refuses (a lone `OR`, unbalanced quotes), those whose title or
    text contains it, ignoring case: a filter box never answers with an error."""
    try:
        return matching(text, dialect)
    except SearchError:
        pass
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(
        ArticleRow.title.ilike(pattern, escape="\\"),
        ArticleRow.text.ilike(pattern, escape="\\"),
    )


def _filtered(query: _Query, source: str | None, rule: str | None, text: str | None, dialect: str) -> _Query:
    if source:
        query = query.where(ArticleRow.source == source)
    if rule:
        query = query.where(exists().where(AlertRow.article_id == ArticleRow.id, AlertRow.rule == rule))
    text = (text or "").strip()[:TEXT_MAX_LENGTH]
    if text:
        query = query.where(text_condition(text, dialect))
    return query


def filter_articles(
    session: Session,
    source: str | None = None,
    rule: str | None = None,
    text: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> ArticlePage:
    """The articles of `source` that `rule` matched and that contain `text` (each None or empty:
    any), newest published first, the `page`-th `per_page` of them (a page past the end gives the
    last page)."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    dialect = session.get_bind().dialect.name
    total = session.scalar(_filtered(select(func.count(ArticleRow.id)), source, rule, text, dialect)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = session.execute(
        _filtered(
            select(
                ArticleRow.id,
                ArticleRow.title,
                ArticleRow.url,
                ArticleRow.source,
                ArticleRow.published_at,
                ArticleRow.first_seen_at,
            ),
            source,
            rule,
            text,
            dialect,
        )
        .order_by(ArticleRow.published_at.desc(), ArticleRow.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    ids = [row.id for row in rows]
    rules: dict[int, set[str]] = {}
    if ids:
        for article_id, name in session.execute(
            select(AlertRow.article_id, AlertRow.rule).where(AlertRow.article_id.in_(ids))
        ):
            rules.setdefault(article_id, set()).add(name)
    articles = tuple(
        ArticleSummary(
            id=row.id,
            title=row.title,
            url=row.url,
            source=row.source,
            published_at=row.published_at,
            first_seen_at=row.first_seen_at,
            rules=tuple(sorted(rules.get(row.id, ()))),
        )
        for row in rows
    )
    return ArticlePage(articles, page, per_page, total)
