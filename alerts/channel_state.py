"""Per-channel delivery state: disabled after HTTP 410 (until a send-test succeeds), rate buckets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.ratelimit import Bucket
from core.db import ChannelStateRow


def _row(session: Session, name: str) -> ChannelStateRow:
    row = session.get(ChannelStateRow, name)
    if row is None:
        row = ChannelStateRow(name=name)
        session.add(row)
    return row


def disabled(session: Session) -> dict[str, str]:
    """The disabled channels and why."""
    query = select(ChannelStateRow.name, ChannelStateRow.disabled_reason).where(
        ChannelStateRow.disabled_at.is_not(None)
    )
    return {name: reason or "" for name, reason in session.execute(query)}


def disable(session: Session, name: str, reason: str, now: datetime) -> None:
    """Stop delivering to a channel (its alerts wait, unsent)."""
    row = _row(session, name)
    row.disabled_at = now
    row.disabled_reason = reason


def enable(session: Session, name: str) -> bool:
    """Deliver to a channel again; True when it had been disabled."""
    row = session.get(ChannelStateRow, name)
    if row is None or row.disabled_at is None:
        return False
    row.disabled_at = None
    row.disabled_reason = None
    return True


def bucket(session: Session, name: str, *, lock: bool = False) -> Bucket | None:
    """The channel's rate-limit bucket as last saved. With `lock`, its row stays locked (PostgreSQL)
    until the transaction ends, so drains on several nodes take tokens from one bucket in turn."""
    if lock:
        dialect = session.get_bind().dialect.name
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(ChannelStateRow).values(name=name).on_conflict_do_nothing())
        row = session.get(ChannelStateRow, name, with_for_update=True, populate_existing=True)
    else:
        row = session.get(ChannelStateRow, name)
    if row is None or row.tokens is None or row.tokens_at is None:
        return None
    return Bucket(row.tokens, row.tokens_at)


def save_bucket(session: Session, name: str, value: Bucket) -> None:
    """Remember the channel's bucket."""
    row = _row(session, name)
    row.tokens = value.tokens
    row.tokens_at = value.at
