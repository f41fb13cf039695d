"""The outbox: alerts written in the transaction that stores the match, then drained by delivery."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.models import Alert, Match
from alerts.signing import new_message_id
from ingest.store import article_dict
from newswatch.db import AlertRow, ArticleRow

PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"
STATUSES = (PENDING, SENT, FAILED, DEAD)


def enqueue(session: Session, match: Match, channels: tuple[str, ...], now: datetime) -> int:
    """Add one alert per channel for `match`, unless that (rule, article, channel) already has one.

    Returns how many new alerts were written.
    """
    rows = [
        {
            "rule": match.rule,
            "article_id": match.article_id,
            "channel": channel,
            "status": PENDING,
            "attempts": 0,
            "message_id": new_message_id(),
            "matched": [hit.as_dict() for hit in match.hits],
            "created_at": now,
            "next_attempt_at": now,
        }
        for channel in channels
    ]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(AlertRow).values(rows).on_conflict_do_nothing(index_elements=["rule", "article_id", "channel"])
    )
    result: Any = session.execute(statement)
    return int(result.rowcount or 0)


def due(session: Session, now: datetime, limit: int = 100) -> list[Alert]:
    """Alerts waiting to be sent (new, or failed and due for a retry), oldest first."""
    query = (
        select(AlertRow, ArticleRow)
        .join(ArticleRow, AlertRow.article_id == ArticleRow.id)
        .where(AlertRow.status.in_((PENDING, FAILED)), AlertRow.next_attempt_at <= now)
        .order_by(AlertRow.id)
        .limit(limit)
    )
    return [
        Alert(
            id=alert.id,
            message_id=alert.message_id,
            rule=alert.rule,
            channel=alert.channel,
            attempts=alert.attempts,
            matched=list(alert.matched),
            article=article_dict(article),
            created_at=alert.created_at.isoformat(),
        )
        for alert, article in session.execute(query)
    ]


def mark_sent(session: Session, alert_id: int, now: datetime) -> None:
    """Record a delivery the channel acknowledged."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(status=SENT, sent_at=now, attempts=AlertRow.attempts + 1, last_error=None)
    )


def mark_failed(
    session: Session, alert_id: int, error: str, now: datetime, retry_in: timedelta | None
) -> None:
    """Record a failed attempt: to be retried after `retry_in`, or dead when that is None."""
    values: dict[str, Any] = {"attempts": AlertRow.attempts + 1, "last_error": error[:2000]}
    if retry_in is None:
        values["status"] = DEAD
    else:
        values["status"] = FAILED
        values["next_attempt_at"] = now + retry_in
    session.execute(update(AlertRow).where(AlertRow.id == alert_id).values(**values))


def listing(session: Session, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Alerts, newest first, with their delivery state and the article's title (for `alerts`)."""
    query = (
        select(AlertRow, ArticleRow.title, ArticleRow.url)
        .join(ArticleRow, AlertRow.article_id == ArticleRow.id)
        .order_by(AlertRow.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(AlertRow.status == status)
    return [
        {
            "id": alert.id,
            "rule": alert.rule,
            "channel": alert.channel,
            "status": alert.status,
            "attempts": alert.attempts,
            "article_id": alert.article_id,
            "title": title,
            "url": url,
            "matched": list(alert.matched),
            "created_at": alert.created_at.isoformat(),
            "sent_at": alert.sent_at.isoformat() if alert.sent_at else None,
            "next_attempt_at": alert.next_attempt_at.isoformat(),
            "last_error": alert.last_error,
            "message_id": alert.message_id,
        }
        for alert, title, url in session.execute(query)
    ]
