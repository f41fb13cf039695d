"""Read-only views of the running node for the status page, the metrics gauges and shutdown.

What the pages show of sources, polls and alerts goes through here: source locations and every error
are redacted (`redact_url`, `redact_text`). Articles' own links are public and shown as they are."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select, text

from alerts.outbox import FAILED, PENDING
from core import metrics
from core.config import Config
from core.db import (
    AlertRow,
    ArticleRow,
    Database,
    DeliveryAttemptRow,
    PollRow,
    SourceHealth,
    SourceState,
    WebSubRow,
    utcnow,
)
from ingest.sources.status import subscriptions
from newswatch.logs import REDACTED

log = logging.getLogger(__name__)


SECRET_QUERY_KEY = re.compile(r"secret|password|passwd|token|auth|key|sig", re.IGNORECASE)
URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """`url` for display: a password in it, and the values of query parameters whose names look like
    secrets (token, key, sig...), replaced by [redacted]. A path or file name is left as it is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = (
        "&".join(
            f"{key}={REDACTED}" if SECRET_QUERY_KEY.search(key) and sep else f"{key}{sep}{value}"
            for key, sep, value in (pair.partition("=") for pair in parts.query.split("&"))
        )
        if parts.query
        else ""
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str | None) -> str | None:
    """An error message for display, with every URL in it redacted (`redact_url`)."""
    if text is None:
        return None

    def redact(match: re.Match[str]) -> str:
        url = match.group()
        kept = url.rstrip(".,;:!?)]}")  # the sentence's punctuation after the URL
        return redact_url(kept) + url[len(kept) :]

    return URL_IN_TEXT.sub(redact, text)


@dataclass(frozen=True)
class SourceView:
    """One row of the status page's source table."""

    name: str
    location: str  # redacted
    enabled: bool
    health: str  # ok, error, unhealthy, disabled, gone, new
    last_status: str | None  # ok, not modified, error, gone
    http_status: int | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    failures: int  # failed polls in a row
    last_error: str | None
    articles_seen: int
    websub: str | None = None  # its WebSub subscription's state (and lease end), when it has one


@dataclass(frozen=True)
class PollView:
    """One recent poll of a source."""

    started_at: datetime
    outcome: str
    http_status: int | None
    new_articles: int
    error: str | None


@dataclass(frozen=True)
class SourceDetail:
    """What the page of one source shows besides its articles."""

    source: SourceView
    configured: bool  # False: a source stored but no longer in the config
    every: timedelta | None
    current_url: str | None  # where a permanent redirect moved the feed (redacted)
    retry_not_before: datetime | None
    tracked_since: datetime | None
    unhealthy_since: datetime | None
    unhealthy_reason: str | None
    polls: tuple[PollView, ...]


@dataclass(frozen=True)
class AttemptView:
    """One delivery attempt of an alert."""

    at: datetime
    outcome: str
    error: str | None


@dataclass(frozen=True)
class AlertView:
    """One alert: its delivery state, and (on an article's page) the matched terms and attempts."""

    id: int
    rule: str
    channel: str
    status: str
    attempts: int
    article_id: int
    title: str
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None
    batch: str | None
    matched: tuple[dict[str, Any], ...] = ()
    history: tuple[AttemptView, ...] = ()


@dataclass(frozen=True)
class SightingView:
    """One source item seen as (part of) an article."""

    source: str
    url: str | None
    how: str
    similarity: float | None
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class MatchView:
    """One rule that matched an article, with its hits (the same on every channel it notifies)."""

    rule: str
    channels: tuple[str, ...]
    hits: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ArticleDetail:
    """What the page of one article shows."""

    id: int
    title: str
    url: str | None
    source: str
    published_at: datetime
    first_seen_at: datetime
    updated_at: datetime
    language: str | None
    topics: tuple[str, ...]
    summary: str
    text: str
    sightings: tuple[SightingView, ...]
    matches: tuple[MatchView, ...]
    alerts: tuple[AlertView, ...]
    text_source: str = "feed"  # feed, or page (full_text: the linked page's text)
    page_error: str | None = None  # why a wanted page was not used (URLs redacted)


def database_ok(db: Database) -> bool:
    """True when the database answers a trivial query."""
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # any failure here means "not ready"
        log.warning("readiness: database not reachable", exc_info=True)
        return False
    return True


def _health(enabled: bool, state: SourceState | None, flag: SourceHealth | None) -> str:
    if not enabled:
        return "disabled"
    if state is not None and state.disabled:
        return "gone"
    if flag is not None and flag.unhealthy_since is not None:
        return "unhealthy"
    if state is None or state.last_status is None:
        return "new"
    return "error" if state.last_status in ("error", "gone") else "ok"


def _source_view(
    name: str,
    location: str,
    enabled: bool,
    state: SourceState | None,
    flag: SourceHealth | None,
    next_poll: datetime | None,
    subscription: WebSubRow | None = None,
) -> SourceView:
    return SourceView(
        name=name,
        location=redact_url(location),
        enabled=enabled,
        health=_health(enabled, state, flag),
        last_status=state.last_status if state else None,
        http_status=state.http_status if state else None,
        last_polled_at=state.last_polled_at if state else None,
        last_success_at=state.last_success_at if state else None,
        # The scheduler's (or cluster's) time; else what the last poll planned.
        next_poll_at=next_poll or (state.next_poll_at if state and enabled and not state.disabled else None),
        failures=state.failures if state else 0,
        last_error=redact_text((state.last_error if state else None) or (flag.reason if flag else None)),
        articles_seen=state.articles_seen if state else 0,
        websub=_websub(subscription),
    )


def _websub(row: WebSubRow | None) -> str | None:
    if row is None:
        return None
    if row.state == "subscribed" and row.expires_at is not None:
        return f"subscribed until {row.expires_at:%Y-%m-%d %H:%M}Z"
    return row.state


def sources(db: Database, config: Config, next_polls: dict[str, datetime]) -> list[SourceView]:
    """Every configured source with its stored state, health and next scheduled poll."""
    with db.session() as session:
        states = {s.name: s for s in session.scalars(select(SourceState))}
        flags = {h.name: h for h in session.scalars(select(SourceHealth))}
        pushes = subscriptions(session)
        return [
            _source_view(
                source.name,
                source.location,
                source.enabled,
                states.get(source.name),
                flags.get(source.name),
                next_polls.get(source.name),
                pushes.get(source.name),
            )
            for source in config.sources
        ]


def source_detail(
    db: Database, config: Config, name: str, next_polls: dict[str, datetime], polls: int = 20
) -> SourceDetail | None:
    """One source: its state, health and newest `polls` polls; None when it is neither configured
    nor stored."""
    configured = next((s for s in config.sources if s.name == name), None)
    with db.session() as session:
        state = session.get(SourceState, name)
        flag = session.get(SourceHealth, name)
        if configured is None and state is None:
            return None
        rows = session.scalars(
            select(PollRow).where(PollRow.source == name).order_by(PollRow.id.desc()).limit(polls)
        ).all()
        view = _source_view(
            name,
            configured.location if configured else state.location if state else "",
            configured.enabled if configured else False,
            state,
            flag,
            next_polls.get(name),
            subscriptions(session).get(name),
        )
        return SourceDetail(
            source=view,
            configured=configured is not None,
            every=configured.every if configured else None,
            current_url=redact_url(state.current_url) if state and state.current_url else None,
            retry_not_before=state.retry_not_before if state else None,
            tracked_since=flag.tracked_since if flag else None,
            unhealthy_since=flag.unhealthy_since if flag else None,
            unhealthy_reason=redact_text(flag.reason) if flag else None,
            polls=tuple(
                PollView(r.started_at, r.outcome, r.http_status, r.new_articles, redact_text(r.error))
                for r in rows
            ),
        )


def _alert_view(
    alert: AlertRow, title: str, history: Sequence[DeliveryAttemptRow] = (), full: bool = False
) -> AlertView:
    return AlertView(
        id=alert.id,
        rule=alert.rule,
        channel=alert.channel,
        status=alert.status,
        attempts=alert.attempts,
        article_id=alert.article_id,
        title=title,
        created_at=alert.created_at,
        sent_at=alert.sent_at,
        next_attempt_at=alert.next_attempt_at,
        last_error=redact_text(alert.last_error),
        batch=alert.batch,
        matched=tuple(alert.matched) if full else (),
        history=tuple(AttemptView(a.at, a.outcome, redact_text(a.error)) for a in history),
    )


def recent_alerts(db: Database, limit: int = 20) -> list[AlertView]:
    """The newest alerts with their delivery state."""
    with db.session() as session:
        rows = session.execute(
            select(AlertRow, ArticleRow.title)
            .join(ArticleRow, AlertRow.article_id == ArticleRow.id)
            .order_by(AlertRow.id.desc())
            .limit(limit)
        ).all()
        return [_alert_view(alert, title) for alert, title in rows]


def article_detail(db: Database, article_id: int) -> ArticleDetail | None:
    """One article with its sightings, the rules it matched and its alerts with their delivery
    attempts; None when there is no such article."""
    with db.session() as session:
        article = session.get(ArticleRow, article_id)
        if article is None:
            return None
        alerts = session.scalars(
            select(AlertRow).where(AlertRow.article_id == article_id).order_by(AlertRow.id)
        ).all()
        history: dict[int, list[DeliveryAttemptRow]] = {}
        if alerts:
            for attempt in session.scalars(
                select(DeliveryAttemptRow)
                .where(DeliveryAttemptRow.alert_id.in_([a.id for a in alerts]))
                .order_by(DeliveryAttemptRow.id)
            ):
                history.setdefault(attempt.alert_id, []).append(attempt)
        matches: dict[str, MatchView] = {}
        for alert in alerts:
            seen = matches.get(alert.rule)
            channels = (*seen.channels, alert.channel) if seen else (alert.channel,)
            hits = seen.hits if seen and seen.hits else tuple(alert.matched)
            matches[alert.rule] = MatchView(alert.rule, channels, hits)
        return ArticleDetail(
            id=article.id,
            title=article.title,
            url=article.url,
            source=article.source,
            published_at=article.published_at,
            first_seen_at=article.first_seen_at,
            updated_at=article.updated_at,
            language=article.language,
            topics=tuple(str(t) for t in article.topics or ()),
            summary=article.summary,
            text=article.text,
            sightings=tuple(
                SightingView(s.source, s.url, s.how, s.similarity, s.first_seen_at, s.last_seen_at)
                for s in article.sightings
            ),
            matches=tuple(matches.values()),
            alerts=tuple(_alert_view(a, article.title, history.get(a.id, ()), full=True) for a in alerts),
            text_source=article.text_source,
            page_error=redact_text(article.page_error),
        )


def outbox_figures(
    db: Database, now: datetime | None = None
) -> tuple[dict[tuple[str, str], int], int, float]:
    """(alerts by (channel, state), alerts waiting, age in seconds of the oldest waiting alert)."""
    now = now or utcnow()
    with db.session() as session:
        counts = {
            (channel, status): int(count)
            for channel, status, count in session.execute(
                select(AlertRow.channel, AlertRow.status, func.count()).group_by(
                    AlertRow.channel, AlertRow.status
                )
            )
        }
        oldest = session.scalar(
            select(AlertRow.created_at)
            .where(AlertRow.status.in_((PENDING, FAILED)))
            .order_by(AlertRow.created_at)
            .limit(1)
        )
    depth = sum(n for (_channel, status), n in counts.items() if status in (PENDING, FAILED))
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return counts, depth, max(age, 0.0)


def refresh_metrics(db: Database) -> None:
    """Set the outbox gauges from the database (called on each scrape)."""
    metrics.set_outbox(*outbox_figures(db))


def record_left_pending(db: Database) -> int:
    """At shutdown: log how many alerts are left in the outbox for the next start; return that count."""
    try:
        _counts, depth, age = outbox_figures(db)
    except Exception:  # shutting down; report and carry on
        log.warning("could not read the outbox at shutdown", exc_info=True)
        return -1
    if depth:
        log.warning(
            "%d alerts left pending in the outbox; they are sent on the next start",
            depth,
            extra={"pending": depth, "oldest_age_seconds": round(age, 1)},
        )
    else:
        log.info("outbox empty at shutdown", extra={"pending": 0})
    return depth
