"""Feed health: a source failing or silent for longer than `stale_after` raises one event, and one more
when it recovers. Events go straight to the configured channels (they belong to no article)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from alerts.channels import Channel
from alerts.models import Alert
from alerts.signing import new_message_id
from core.config import SourceConfig
from core.db import ArticleRow, Database, SourceHealth, SourceState
from core.errors import DeliveryError

log = logging.getLogger(__name__)

UNHEALTHY, RECOVERED = "source.unhealthy", "source.recovered"
HEALTH_RULE = "source-health"


@dataclass(frozen=True)
class HealthAlert(Alert):
    """A feed-health event, shaped like an alert so every channel can send it as it is."""

    kind: str = UNHEALTHY
    detail: dict[str, Any] = field(default_factory=dict)

    def event(self) -> dict[str, Any]:
        """The webhook body: the same envelope as `article.matched`, with the source in `data`."""
        return {"type": self.kind, "timestamp": self.created_at, "data": self.detail}


def unhealthy_reason(
    source: SourceConfig,
    now: datetime,
    tracked_since: datetime,
    last_success: datetime | None,
    last_article: datetime | None,
    last_error: str | None,
) -> str | None:
    """Why the source is unhealthy at `now`, or None when it is healthy."""
    ok_since = last_success or tracked_since
    if now - ok_since > source.stale_after:
        cause = f": {last_error}" if last_error else ""
        return f"no successful poll since {ok_since.isoformat()}{cause}"
    # Articles from before tracking (re)started, at a source's old location, say nothing of its new one.
    new_since = max(last_article, tracked_since) if last_article else tracked_since
    if now - new_since > source.stale_after:
        return f"no new articles since {new_since.isoformat()}"
    return None


async def check_source(
    db: Database, channels: Mapping[str, Channel], notify: Sequence[str], source: SourceConfig, now: datetime
) -> str | None:
    """Update the source's health; send and return the event type when it changed, else None."""
    with db.session() as session:
        health = session.get(SourceHealth, source.name)
        if health is None:
            health = SourceHealth(name=source.name, tracked_since=now)
            session.add(health)
        state = session.get(SourceState, source.name)
        last_article = session.scalar(
            select(func.max(ArticleRow.first_seen_at)).where(ArticleRow.source == source.name)
        )
        reason = unhealthy_reason(
            source,
            now,
            health.tracked_since,
            state.last_success_at if state else None,
            last_article,
            state.last_error if state else None,
        )
        kind: str | None = None
        if reason is not None and health.unhealthy_since is None:
            kind, health.unhealthy_since, health.reason = UNHEALTHY, now, reason
            detail: dict[str, Any] = {"source": source.name, "location": source.location, "reason": reason}
        elif reason is None and health.unhealthy_since is not None:
            detail = {
                "source": source.name,
                "location": source.location,
                "unhealthy_since": health.unhealthy_since.isoformat(),
                "was": health.reason,
            }
            kind, health.unhealthy_since, health.reason = RECOVERED, None, None
    if kind is None:
        return None
    context = {"source": source.name, "event": kind}
    if kind == UNHEALTHY:
        log.warning("source is unhealthy: %s", reason, extra=context)
    else:
        log.info("source recovered", extra=context)
    for name in notify:
        await _send(channels.get(name), name, kind, detail, now)
    return kind


async def _send(channel: Channel | None, name: str, kind: str, detail: dict[str, Any], now: datetime) -> None:
    context = {"source": detail["source"], "channel": name, "event": kind}
    if channel is None:
        log.error("health event not sent: channel is not configured", extra=context)
        return
    what = "is unhealthy" if kind == UNHEALTHY else "has recovered"
    summary = detail.get("reason") or f"healthy again (was: {detail.get('was')})"
    alert = HealthAlert(
        id=0,
        message_id=new_message_id(),
        rule=HEALTH_RULE,
        channel=name,
        attempts=0,
        matched=[],
        article={
            "id": 0,
            "title": f"Source {detail['source']!r} {what}",
            "url": None,
            "source": detail["source"],
            "published_at": now.isoformat(),
            "first_seen_at": now.isoformat(),
            "topics": [],
            "summary": summary,
            "text": summary,
        },
        created_at=now.isoformat(),
        kind=kind,
        detail={**detail, "at": now.isoformat()},
    )
    try:
        await channel.send(alert)
    except DeliveryError as exc:
        log.error("health event not delivered: %s", exc, extra=context)
        return
    log.info("health event delivered", extra=context)
