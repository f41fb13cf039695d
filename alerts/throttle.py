"""Per-rule alert limits: `cooldown` (one alert per story and rule) and `max_per_hour`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.models import Match
from alerts.rules import CompiledRule
from newswatch.db import AlertRow

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


def story_articles(session: Session, article_id: int) -> list[int]:
    """The ids of the articles that tell the same story as `article_id`.

    The one place that knows what a story is. Deduplication merges every copy of a story into
    one article (the copies become its sightings), so a story is exactly one article.
    """
    return [article_id]


class Verdict(StrEnum):
    """What becomes of a match under its rule's limits."""

    SEND = "send"
    SUPPRESS = "suppress"  # the story was alerted within the cooldown
    DIGEST = "digest"  # over max_per_hour: goes into the rule's hourly digest, never dropped


def allowed(
    session: Session,
    rule: CompiledRule,
    match: Match,
    now: datetime,
    story: Callable[[Session, int], list[int]] = story_articles,
) -> bool:
    """Whether `match` may become alerts sent on their own now (see `verdict`)."""
    return verdict(session, rule, match, now, story) is Verdict.SEND


def verdict(
    session: Session,
    rule: CompiledRule,
    match: Match,
    now: datetime,
    story: Callable[[Session, int], list[int]] = story_articles,
) -> Verdict:
    """What the rule's cooldown and hourly limit make of `match` now."""
    if rule.cooldown is not None:
        recent = select(AlertRow.id).where(
            AlertRow.rule == rule.name,
            AlertRow.article_id.in_(story(session, match.article_id)),
            AlertRow.article_id != match.article_id,
            AlertRow.created_at > now - rule.cooldown,
        )
        if session.execute(recent.limit(1)).first() is not None:
            log.info("rule %s: story already alerted within its cooldown", rule.name)
            return Verdict.SUPPRESS
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
            return Verdict.DIGEST
    return Verdict.SEND
