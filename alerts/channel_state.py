"""Per-channel delivery state: disabled after HTTP 410 (until a send-test succeeds), rate buckets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
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


def bucket(session: Session, name: str) -> Bucket | None:
    """The channel's rate-limit bucket as last saved."""
    row = session.get(ChannelStateRow, name)
    if row is None or row.tokens is None or row.tokens_at is None:
        return None
    return Bucket(row.tokens, row.tokens_at)


def save_bucket(session: Session, name: str, value: Bucket) -> None:
    """Remember the channel's bucket."""
    row = _row(session, name)
    row.tokens = value.tokens
    row.tokens_at = value.at
