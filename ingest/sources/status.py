"""What `newswatch sources` shows: each configured source beside its stored polling state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.config import SourceConfig
from core.db import SourceState


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def source_rows(session: Session, sources: Sequence[SourceConfig]) -> list[dict[str, Any]]:
    """One row per configured source: where it is polled, when, how it went, and when next."""
    rows = []
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
            }
        )
    return rows
