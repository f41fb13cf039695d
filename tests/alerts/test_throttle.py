"""Per-rule cooldown (re-alerts of a story spaced out) and max_per_hour, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from alerts.models import Match
from alerts.outbox import SENT, enqueue, enqueue_update, listing
from alerts.rules import CompiledRule, compile_rules
from alerts.throttle import Decision, Verdict, decide, notes
from ingest.models import Article
from ingest.store import store_articles
from newswatch.config import RuleConfig
from newswatch.db import AlertRow, Database
from newswatch.service import Service
from tests.alerts.test_on_update import rss
from tests.conftest import HttpServer, Served, Workspace

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _rule(**fields: object) -> CompiledRule:
    config = RuleConfig.model_validate({"name": "r", "people": ["Putin"], "notify": ["c"], **fields})
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
            Decision(Verdict.HOLD, NOW + timedelta(minutes=90)),
        ),
        ("an update after the cooldown goes at once", 121, True, Decision(Verdict.SEND, NOW)),
        (
            "an update before the first alert went out refreshes it at once",
            None,
            True,
            Decision(Verdict.SEND, NOW),
        ),
        ("a match that is not an update is not held", 30, False, Decision(Verdict.SEND, NOW)),
    ],
)
def test_cooldown_spaces_out_the_re_alerts_of_an_updated_article(
    db: Database, case: str, sent_minutes_ago: int | None, update: bool, expected: Decision
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
        enqueue_update(session, match, rule.notify, NOW, (None, held.due))
        later = decide(session, rule, match, NOW + timedelta(minutes=20), update=True)
        [alert] = listing(session)
    assert held == later == Decision(Verdict.HOLD, NOW + timedelta(minutes=90))
    assert alert["status"] == "pending" and alert["next_attempt_at"] == held.due.isoformat()


def test_max_per_hour_holds_back_alerts_over_the_limit(db: Database) -> None:
    rule = _rule(max_per_hour=2)
    with db.session() as session:
        ids = _articles(session, 4)
        verdicts = []
        for minute, article_id in enumerate([*ids[:3], ids[3]]):
            at = NOW + timedelta(minutes=61 if article_id == ids[3] else minute)
            decision = decide(session, rule, Match(rule.name, article_id, ()), at, update=False)
            if decision.verdict is Verdict.SEND:
                enqueue(session, Match(rule.name, article_id, ()), rule.notify, at)
            verdicts.append(decision.verdict)
    assert verdicts == [Verdict.SEND, Verdict.SEND, Verdict.DIGEST, Verdict.SEND]  # the first left the hour


def test_check_notes_a_cooldown_that_can_do_nothing() -> None:
    rules = [
        RuleConfig.model_validate({"name": "plain", "people": ["Putin"], "notify": ["c"], "cooldown": "1h"}),
        RuleConfig.model_validate(
            {"name": "updates", "people": ["Putin"], "notify": ["c"], "cooldown": "1h", "on_update": True}
        ),
    ]
    assert notes(rules) == [
        "rule 'plain': `cooldown` only spaces out the re-alerts of `on_update: true`;"
        " without it an article alerts once per rule anyway"
    ]


def test_updates_within_the_cooldown_go_out_once_when_it_ends_with_the_latest_text(
    workspace: Workspace, http_server: HttpServer
) -> None:
    http_server.routes["/rss.xml"] = Served(rss("Vladimir Putin spoke."))
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

    async def poll_and_deliver(minutes: int, text: str | None = None) -> None:
        clock[0] = NOW + timedelta(minutes=minutes)
        if text is not None:
            http_server.routes["/rss.xml"] = Served(rss(text))
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
