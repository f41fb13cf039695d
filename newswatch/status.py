"""Read-only views of the running node for the status page, the metrics gauges and shutdown."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from alerts.outbox import FAILED, PENDING, listing
from core import metrics
from core.config import Config
from core.db import AlertRow, ArticleRow, Database, SourceHealth, SourceState, WebSubRow, utcnow
from ingest.sources.status import subscriptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceView:
    """One row of the status page's source table."""

    name: str
    location: str
    enabled: bool
    health: str  # ok, error, unhealthy, disabled, new
    last_polled_at: str | None
    last_success_at: str | None
    next_poll_at: str | None
    last_error: str | None
    articles_seen: int
    websub: str | None = None  # the WebSub subscription's state (and lease end), when it has one


def database_ok(db: Database) -> bool:
    """True when the database answers a trivial query."""
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # any failure here means "not ready"
        log.warning("readiness: database not reachable", exc_info=True)
        return False
    return True


def sources(db: Database, config: Config, next_polls: dict[str, datetime]) -> list[SourceView]:
    """Every configured source with its stored state, health and next scheduled poll."""
    with db.session() as session:
        states = {s.name: s for s in session.scalars(select(SourceState))}
        flags = {h.name: h for h in session.scalars(select(SourceHealth))}
        pushes = subscriptions(session)
        views = []
        for source in config.sources:
            state, flag = states.get(source.name), flags.get(source.name)
            if not source.enabled:
                health = "disabled"
            elif flag is not None and flag.unhealthy_since is not None:
                health = "unhealthy"
            elif state is None or state.last_status is None:
                health = "new"
            else:
                health = "error" if state.last_status == "error" else "ok"
            views.append(
                SourceView(
                    name=source.name,
                    location=source.location,
                    enabled=source.enabled,
                    health=health,
                    last_polled_at=_iso(state.last_polled_at if state else None),
                    last_success_at=_iso(state.last_success_at if state else None),
                    next_poll_at=_iso(next_polls.get(source.name)),
                    last_error=(state.last_error if state else None) or (flag.reason if flag else None),
                    articles_seen=state.articles_seen if state else 0,
                    websub=_websub(pushes.get(source.name)),
                )
            )
    return views


def recent_alerts(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest alerts with their delivery state."""
    with db.session() as session:
        return listing(session, limit=limit)


def recent_articles(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest articles, each with the rules that matched it."""
    with db.session() as session:
        rows = session.execute(
            select(
                ArticleRow.id, ArticleRow.title, ArticleRow.url, ArticleRow.source, ArticleRow.published_at
            )
            .order_by(ArticleRow.first_seen_at.desc(), ArticleRow.id.desc())
            .limit(limit)
        ).all()
        ids = [row.id for row in rows]
        rules: dict[int, set[str]] = {}
        if ids:
            for article_id, rule in session.execute(
                select(AlertRow.article_id, AlertRow.rule).where(AlertRow.article_id.in_(ids))
            ):
                rules.setdefault(article_id, set()).add(rule)
    return [
        {
            "id": row.id,
            "title": row.title,
            "url": row.url,
            "source": row.source,
            "published_at": _iso(row.published_at),
            "rules": sorted(rules.get(row.id, ())),
        }
        for row in rows
    ]


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


def _websub(row: WebSubRow | None) -> str | None:
    if row is None:
        return None
    if row.state == "subscribed" and row.expires_at is not None:
        return f"subscribed until {row.expires_at:%Y-%m-%d %H:%M}Z"
    return row.state


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None
