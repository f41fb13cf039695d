"""A token bucket per channel: pure arithmetic, the state lives in the `channel_state` table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.config import RateLimit


@dataclass(frozen=True)
class Bucket:
    """Tokens left at a moment; one token sends one message (an alert or a whole digest)."""

    tokens: float
    at: datetime


def _capacity(limit: RateLimit) -> float:
    return float(limit.burst or limit.count)


def _per_second(limit: RateLimit) -> float:
    return limit.count / limit.per.total_seconds()


def refill(bucket: Bucket | None, limit: RateLimit, now: datetime) -> Bucket:
    """The bucket at `now`: full when new, else topped up by the time passed, up to its capacity."""
    if bucket is None:
        return Bucket(_capacity(limit), now)
    elapsed = max((now - bucket.at).total_seconds(), 0.0)
    return Bucket(min(_capacity(limit), bucket.tokens + elapsed * _per_second(limit)), now)


def take(bucket: Bucket | None, limit: RateLimit, now: datetime) -> tuple[bool, Bucket]:
    """Take one token if there is one: (taken, the bucket after)."""
    current = refill(bucket, limit, now)
    if current.tokens >= 1.0:
        return True, Bucket(current.tokens - 1.0, now)
    return False, current


def next_token_at(bucket: Bucket | None, limit: RateLimit, now: datetime) -> datetime:
    """When the bucket will next hold a whole token."""
    current = refill(bucket, limit, now)
    missing = max(1.0 - current.tokens, 0.0)
    return now + timedelta(seconds=missing / _per_second(limit))
