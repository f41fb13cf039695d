"""Per-rule cooldown (re-alerts of a story spaced out) and max_per_hour, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from alerts.delivery import overflow_digest
from alerts.models import Match
from alerts.outbox import SENT, Wait, enqueue, enqueue_update, listing
from alerts.rules import CompiledRule, compile_rules, notes
from alerts.throttle import decide
from core.config import RuleConfig, SourceConfig
from core.db import AlertRow, Database
from ingest.models import Article
from ingest.store import store_articles
from newswatch.service import Service
from newswatch.settings import CONTEXT
from tests.conftest import HttpServer, Served, Workspace, one_story_rss

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _rule(**fields: object) -> CompiledRule:
    config = RuleConfig.model_validate(
        {"name": "r", "people": ["Putin"], "notify": ["c"], **fields},
        context=CONTEXT,
    )
    return compile_rules([config])[0]


def _articles(session: Session, count: int) -> list[int]:
    articles = [Article("s", f"k{i}", f"t{i}", "Putin", "", (), None, NOW, f"h{i}") for i in range(count)]
    return [stored.id for stored in store_articles(session, articles, NOW)]


def _sent(session: Session, article_id: int, at: datetime) -> None:
    session.execute(update(AlertRow).where(AlertRow.article_id == article_id).values(status=SENT, sent_at=at))


@pytest.mark.parametrize(
    ("case", "sent_minutes_ago", "update", "expected"),
    [
        (
            "an update within the cooldown is held until it ends",
            30,
            True,
            (None, NOW + timedelta(minutes=90)),
        ),
        ("an update after the cooldown goes at once", 121, True, (None, NOW)),
        (
            "an update before the first alert went out refreshes it at once",
            None,
            True,
            (None, NOW),
        ),
        ("a match that is not an update is not held", 30, False, (None, NOW)),
    ],
)
def test_cooldown_spaces_out_the_re_alerts_of_an_updated_article(
    db: Database, case: str, sent_minutes_ago: int | None, update: bool, expected: Wait
) -> None:
    rule = _rule(cooldown="2h", on_update=True)
    with db.session() as session:
        [article] = _articles(session, 1)
        enqueue(session, Match(rule.name, article, ()), rule.notify, NOW - timedelta(hours=3))
        if sent_minutes_ago is not None:
            _sent(session, article, NOW - timedelta(minutes=sent_minutes_ago))
        assert decide(session, rule, Match(rule.name, article, ()), NOW, update=update) == expected, case


def test_a_held_update_keeps_the_cooldown_of_the_alert_sent_before_it(db: Database) -> None:
    """Re-queuing an alert keeps when it was last sent, so a second update is held to the same time."""
    rule = _rule(cooldown="2h", on_update=True)
    with db.session() as session:
        [article] = _articles(session, 1)
        match = Match(rule.name, article, ())
        enqueue(session, match, rule.notify, NOW - timedelta(hours=1))
        _sent(session, article, NOW - timedelta(minutes=30))
        held = decide(session, rule, match, NOW, update=True)
        enqueue_update(session, match, rule.notify, NOW, held)
        later = decide(session, rule, match, NOW + timedelta(minutes=20), update=True)
        [alert] = listing(session)
    assert held == later == (None, NOW + timedelta(minutes=90))
    assert alert["status"] == "pending" and alert["next_attempt_at"] == held[1].isoformat()


def test_max_per_hour_holds_back_alerts_over_the_limit(db: Database) -> None:
    rule = _rule(max_per_hour=2)
    with db.session() as session:
        ids = _articles(session, 4)
        waits = []
        for article_id, minutes in zip(ids, (0, 1, 2, 61), strict=True):
            at = NOW + timedelta(minutes=minutes)
            wait = decide(session, rule, Match(rule.name, article_id, ()), at, update=False)
            enqueue(session, Match(rule.name, article_id, ()), rule.notify, at, wait)
            waits.append(wait)
    # The third goes into the rule's hourly digest; the fourth comes after the first left the hour.
    hourly = overflow_digest(rule.name, NOW + timedelta(minutes=2))
    assert waits == [
        (None, NOW),
        (None, NOW + timedelta(minutes=1)),
        hourly,
        (None, NOW + timedelta(minutes=61)),
    ]


def test_check_notes_a_cooldown_that_can_do_nothing() -> None:
    rules = [
        RuleConfig.model_validate(
            {"name": "plain", "people": ["Putin"], "notify": ["c"], "cooldown": "1h"},
            context=CONTEXT,
        ),
        RuleConfig.model_validate(
            {"name": "updates", "people": ["Putin"], "notify": ["c"], "cooldown": "1h", "on_update": True},
            context=CONTEXT,
        ),
    ]
    assert notes(rules) == [
        "rule 'plain': `cooldown` only spaces out the re-alerts of `on_update: true`;"
        " without it an article alerts once per rule anyway"
    ]


def _wire_with_a_cooldown(
    workspace: Workspace, http_server: HttpServer
) -> tuple[Service, SourceConfig, list[datetime]]:
    """A service on a clock (set `clock[0]`) polling one served story, whose rule has on_update and
    a 1h cooldown and alerts a webhook on `http_server`."""
    http_server.routes["/rss.xml"] = Served(one_story_rss("Vladimir Putin spoke."))
    workspace.write_config(
        f"""\
fetch: {{allow_private_addresses: true}}
sources: [{{name: wire, feed: "{http_server.url("/rss.xml")}"}}]
channels: [{{name: desk, webhook: "{http_server.url("/hook")}"}}]
rules:
  - {{name: kremlin, people: [Vladimir Putin], notify: [desk], on_update: true, cooldown: 1h}}
"""
    )
    config = workspace.load_config()
    clock = [NOW]
    service = Service(config, Database(config.database), now=lambda: clock[0])
    source = config.sources[0]
    return service, source, clock


def test_updates_within_the_cooldown_go_out_once_when_it_ends_with_the_latest_text(
    workspace: Workspace, http_server: HttpServer
) -> None:
    service, source, clock = _wire_with_a_cooldown(workspace, http_server)

    async def poll_and_deliver(minutes: int, text: str | None = None) -> None:
        clock[0] = NOW + timedelta(minutes=minutes)
        if text is not None:
            http_server.routes["/rss.xml"] = Served(one_story_rss(text))
            assert (await service.poll(source)).alerts == 1
        await service.deliver()

    async def go() -> None:
        async with service:
            await poll_and_deliver(0, "Vladimir Putin spoke.")
            await poll_and_deliver(10, "Vladimir Putin spoke again.")  # held until 60
            await poll_and_deliver(40, "Vladimir Putin spoke a third time.")  # still held until 60
            await poll_and_deliver(59)
            assert len(http_server.received) == 1
            await poll_and_deliver(61)  # the cooldown is over: the latest version goes out, once
            await poll_and_deliver(90)

    asyncio.run(go())
    texts = [
        {hit["snippet"] for hit in json.loads(request.body)["data"]["matched"] if hit["field"] == "text"}
        for request in http_server.received
    ]
    assert texts == [{"Vladimir Putin spoke."}, {"Vladimir Putin spoke a third time."}]


def test_an_update_queued_while_the_last_alert_was_in_flight_waits_out_the_cooldown(
    workspace: Workspace, http_server: HttpServer
) -> None:
    """The update is queued before the first message is acknowledged, so no send is on record yet
    when it is decided; the acknowledgement records the send and holds the update for the cooldown."""
    service, source, clock = _wire_with_a_cooldown(workspace, http_server)
    http_server.post_delay = 1.0  # the first message is in flight when the update is stored

    async def go() -> None:
        async with service:
            await service.poll(source)
            delivery = asyncio.create_task(service.deliver())
            while not http_server.received:
                await asyncio.sleep(0.02)
            http_server.routes["/rss.xml"] = Served(one_story_rss("Vladimir Putin spoke again."))
            assert (await service.poll(source)).alerts == 1
            await delivery
            http_server.post_delay = 0.0
            clock[0] = NOW + timedelta(minutes=30)
            await service.deliver()
            assert len(http_server.received) == 1  # held: the first went out at NOW
            clock[0] = NOW + timedelta(minutes=61)
            await service.deliver()

    asyncio.run(go())
    assert len(http_server.received) == 2
    assert b"spoke again" in http_server.received[1].body
    with service.db.session() as session:
        [alert] = listing(session)
    assert alert["status"] == "sent" and alert["sent_at"] == (NOW + timedelta(minutes=61)).isoformat()
