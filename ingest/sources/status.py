"""What `newswatch sources` shows: each configured source beside its stored polling state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import SourceConfig
from core.db import SourceState, WebSubRow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def websub_view(row: WebSubRow | None) -> dict[str, Any] | None:
    """A source's WebSub subscription as `sources --json` and the status page show it."""
    if row is None:
        return None
    return {
        "state": row.state,
        "pending": row.pending,
        "hub": row.hub,
        "topic": row.topic,
        "lease_expires": _iso(row.expires_at),
        "renews_at": _iso(row.renew_at),
        "retry_at": _iso(row.retry_at),
        "pushes": row.pushes,
        "last_push": _iso(row.last_push_at),
        "error": row.last_error,
    }


def subscriptions(session: Session) -> dict[str, WebSubRow]:
    """Each source's WebSub subscription: the one in use, else one being unsubscribed."""
    found: dict[str, WebSubRow] = {}
    for row in session.scalars(select(WebSubRow).order_by(WebSubRow.created_at)):
        if row.source not in found or found[row.source].state == "unsubscribing":
            found[row.source] = row
    return found


def source_rows(session: Session, sources: Sequence[SourceConfig]) -> list[dict[str, Any]]:
    """One row per configured source: where it is polled, when, how it went, and when next, and
    its WebSub subscription (None when it has none)."""
    rows = []
    subscribed = subscriptions(session)
    for source in sources:
        state = session.get(SourceState, source.name)
        fresh = state is not None and state.feed_url == source.feed
        status = "never polled"
        if not source.enabled:
            status = "off in config"
        elif state is not None and state.last_status:
            status = state.last_status
        if state is not None and fresh and state.disabled:
            status = "disabled (410 Gone)"
        rows.append(
            {
                "name": source.name,
                "url": (state.current_url if fresh and state and state.current_url else None)
                or source.location,
                "configured_url": source.location,
                "enabled": source.enabled and not (fresh and state is not None and state.disabled),
                "status": status,
                "http_status": state.http_status if state else None,
                "last_poll": _iso(state.last_polled_at) if state else None,
                "last_success": _iso(state.last_success_at) if state else None,
                "next_poll": _iso(state.next_poll_at) if state else None,
                "retry_not_before": _iso(state.retry_not_before) if state else None,
                "failures": state.failures if state else 0,
                "articles_seen": state.articles_seen if state else 0,
                "error": state.last_error if state else None,
                "websub": websub_view(subscribed.get(source.name)),
            }
        )
    return rows
