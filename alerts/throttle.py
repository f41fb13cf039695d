"""Per-rule alert limits: `cooldown` (re-alerts of one story spaced out) and `max_per_hour`.

A story is one article: deduplication merges every copy of it into one article (the copies become
its sightings), and the outbox holds one alert per (rule, article, channel), so a story alerts once
per rule. Only a rule with `on_update` alerts a story again, when its article changes; `cooldown`
spaces those re-alerts out: within `cooldown` of the last alert sent for the story, an update is
held and sent when the cooldown ends, carrying the latest hits (so the last update is never lost).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.delivery import overflow_digest
from alerts.models import Match
from alerts.outbox import Wait
from alerts.rules import CompiledRule
from core.db import AlertRow

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


def decide(session: Session, rule: CompiledRule, match: Match, now: datetime, *, update: bool) -> Wait:
    """When the rule's cooldown and hourly limit let `match`'s alerts go out, and in which digest
    (None: alone); `update`: the match is for an updated article that alerts again (`on_update`)."""
    if update and rule.cooldown is not None:
        last_sent = session.scalar(
            select(func.max(AlertRow.sent_at)).where(
                AlertRow.rule == rule.name, AlertRow.article_id == match.article_id
            )
        )
        if last_sent is not None and last_sent > now - rule.cooldown:
            due = last_sent + rule.cooldown
            log.info(
                "rule %s: article %d updated within its cooldown; alert held until %s",
                rule.name,
                match.article_id,
                due.isoformat(),
            )
            return None, due
    if rule.max_per_hour is not None:
        count = select(func.count(func.distinct(AlertRow.article_id))).where(
            AlertRow.rule == rule.name,
            AlertRow.article_id != match.article_id,
            AlertRow.created_at > now - HOUR,
        )
        if int(session.execute(count).scalar_one()) >= rule.max_per_hour:
            log.warning(
                "rule %s: over max_per_hour=%d; alert for article %d goes into the hourly digest",
                rule.name,
                rule.max_per_hour,
                match.article_id,
            )
            return overflow_digest(rule.name, now)
    return None, now
