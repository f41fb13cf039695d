"""Per-rule cooldown (one alert per story) and max_per_hour, against a real outbox (each backend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from alerts.models import Match
from alerts.outbox import enqueue
from alerts.rules import CompiledRule, compile_rules
from alerts.throttle import allowed, story_articles
from ingest.models import Article
from ingest.store import store_articles
from newswatch.config import RuleConfig
from newswatch.db import Database

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _rule(**fields: object) -> CompiledRule:
    config = RuleConfig.model_validate({"name": "r", "people": ["Putin"], "notify": ["c"], **fields})
    return compile_rules([config])[0]


def _articles(session: Session, count: int) -> list[int]:
    articles = [Article("s", f"k{i}", f"t{i}", "Putin", "", (), None, NOW, f"h{i}") for i in range(count)]
    return [stored.id for stored in store_articles(session, articles, NOW)]


def _alert(session: Session, rule: CompiledRule, article_id: int, at: datetime) -> bool:
    match = Match(rule.name, article_id, ())
    ok = allowed(session, rule, match, at, story=lambda _s, _a: same_story)
    if ok:
        enqueue(session, match, rule.notify, at)
    return ok


same_story: list[int] = []


def test_a_story_is_one_article_until_stories_are_clustered(db: Database) -> None:
    with db.session() as session:
        assert story_articles(session, 42) == [42]


def test_cooldown_allows_one_alert_per_story_and_rule(db: Database) -> None:
    rule = _rule(cooldown="2h")
    with db.session() as session:
        first, second, third = _articles(session, 3)
        same_story[:] = [first, second, third]
        assert _alert(session, rule, first, NOW)
        assert not _alert(session, rule, second, NOW + timedelta(minutes=30))
        assert _alert(session, rule, third, NOW + timedelta(hours=3))  # the cooldown has passed


def test_without_cooldown_every_article_of_a_story_alerts(db: Database) -> None:
    rule = _rule()
    with db.session() as session:
        first, second = _articles(session, 2)
        same_story[:] = [first, second]
        assert _alert(session, rule, first, NOW)
        assert _alert(session, rule, second, NOW)


def test_max_per_hour_holds_back_alerts_over_the_limit(db: Database) -> None:
    rule = _rule(max_per_hour=2)
    with db.session() as session:
        ids = _articles(session, 4)
        same_story[:] = []
        results = [
            _alert(session, rule, article_id, NOW + timedelta(minutes=i))
            for i, article_id in enumerate(ids[:3])
        ]
        assert results == [True, True, False]
        assert _alert(session, rule, ids[3], NOW + timedelta(minutes=61))  # the first has left the hour
