"""Delivery: drain the outbox, one alert at a time, recording every attempt."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts import outbox
from alerts.channels import Channel
from newswatch import metrics
from newswatch.db import Database
from newswatch.errors import DeliveryError

log = logging.getLogger(__name__)

# The Standard Webhooks retry schedule: the wait before each retry after the first attempt.
RETRY_SCHEDULE = tuple(timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400))


@dataclass(frozen=True)
class DeliveryReport:
    """What one drain of the outbox did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.dead == 0


def retry_delay(attempts_made: int) -> timedelta | None:
    """How long to wait after the `attempts_made`-th failed attempt; None when none are left."""
    if attempts_made - 1 < len(RETRY_SCHEDULE):
        return RETRY_SCHEDULE[attempts_made - 1]
    return None


async def deliver_due(
    db: Database, channels: Mapping[str, Channel], now: Callable[[], datetime]
) -> DeliveryReport:
    """Send every alert that is due; each outcome is committed before the next alert is tried."""
    sent = failed = dead = 0
    with db.session() as session:
        alerts = outbox.due(session, now())
    for alert in alerts:
        context = {
            "alert_id": alert.id,
            "rule": alert.rule,
            "channel": alert.channel,
            "article_id": alert.article["id"],
        }
        channel = channels.get(alert.channel)
        try:
            if channel is None:
                raise DeliveryError(f"channel {alert.channel!r} is no longer configured", retryable=False)
            await channel.send(alert)
        except DeliveryError as exc:
            retry_in = retry_delay(alert.attempts + 1) if exc.retryable else None
            with db.session() as session:
                outbox.mark_failed(session, alert.id, str(exc), now(), retry_in)
            metrics.delivery_done(alert.channel, "dead" if retry_in is None else "failed")
            if retry_in is None:
                dead += 1
                log.error("alert is dead, no more retries: %s", exc, extra=context)
            else:
                failed += 1
                log.warning("delivery failed, retrying in %s: %s", retry_in, exc, extra=context)
            continue
        with db.session() as session:
            outbox.mark_sent(session, alert.id, now())
        sent += 1
        metrics.delivery_done(
            alert.channel, "sent", (now() - datetime.fromisoformat(alert.created_at)).total_seconds()
        )
        log.info("alert delivered", extra=context)
    return DeliveryReport(sent, failed, dead)
