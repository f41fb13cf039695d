"""Digests and rate limits, in process with a clock the test moves, against the real receiver."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook

from alerts.outbox import listing
from core.db import Database
from newswatch.service import Service
from tests.conftest import HttpServer, Served, Workspace


class Clock:
    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value


def rss(count: int) -> bytes:
    items = "".join(
        f"<item><guid>n-{i}</guid><title>Putin story {i}</title><link>http://wire.example/{i}</link>"
        f"<pubDate>Tue, 24 Nov 2026 09:{i:02d}:00 GMT</pubDate>"
        f"<description>Vladimir Putin said thing {i}.</description></item>"
        for i in range(count)
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>'
    return f"{head}{items}</channel></rss>".encode()


def setup(
    workspace: Workspace, http_server: HttpServer, secret: str, count: int, channel: str, rule: str = ""
) -> Service:
    http_server.routes["/rss.xml"] = Served(rss(count))
    workspace.write_config(
        f"""\
fetch: {{allow_private_addresses: true}}
sources: [{{name: wire, feed: "{http_server.url("/rss.xml")}"}}]
channels:
  - name: slack
    webhook: {http_server.url("/hook")}
    secret: {secret}
{channel}
rules:
  - name: kremlin
    people: [Vladimir Putin]
    notify: [slack]
{rule}
"""
    )
    config = workspace.load_config()
    return Service(config, Database(config.database))


def run(service: Service, clock: Clock, *, poll: bool) -> None:
    async def go() -> None:
        async with service:
            if poll:
                await service.poll(service.config.sources[0])
            await service.deliver()

    service.now = clock
    asyncio.run(go())


def statuses(service: Service) -> list[str]:
    with service.db.session() as session:
        return sorted(row["status"] for row in listing(session))


def test_an_hourly_rule_digest_gathers_the_hours_alerts_into_one_message(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    service = setup(workspace, http_server, webhook_secret, 4, "", "    digest: hourly")
    clock = Clock(datetime(2026, 11, 25, 9, 20, tzinfo=UTC))
    run(service, clock, poll=True)
    assert http_server.received == []  # held for the digest
    assert statuses(service) == ["pending"] * 4

    clock.value = datetime(2026, 11, 25, 9, 59, tzinfo=UTC)
    run(service, clock, poll=False)
    assert http_server.received == []  # the hour is not over

    clock.value = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)
    run(service, clock, poll=False)
    [request] = http_server.received
    event = Webhook(webhook_secret).verify(request.body, request.headers)
    assert event["type"] == "article.digest"
    assert event["data"]["period"] == "rule:kremlin:hourly:2026-11-25T09:00"
    assert event["data"]["count"] == 4
    assert sorted(a["article"]["title"] for a in event["data"]["alerts"]) == [
        f"Putin story {i}" for i in range(4)
    ]
    assert statuses(service) == ["sent"] * 4
    run(service, clock, poll=False)
    assert len(http_server.received) == 1
    service.db.close()


def test_a_failed_digest_is_retried_with_the_same_webhook_id(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    service = setup(workspace, http_server, webhook_secret, 2, "    digest: daily")
    clock = Clock(datetime(2026, 11, 25, 9, 20, tzinfo=UTC))
    run(service, clock, poll=True)
    http_server.post_status = 503
    clock.value = datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC)
    run(service, clock, poll=False)
    http_server.post_status = 204
    clock.value += timedelta(seconds=6)
    run(service, clock, poll=False)
    first, second = http_server.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert json.loads(second.body)["data"]["count"] == 2
    assert statuses(service) == ["sent", "sent"]
    service.db.close()


def test_a_burst_beyond_the_rate_limit_goes_into_the_next_digest_and_nothing_is_dropped(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    service = setup(workspace, http_server, webhook_secret, 30, "    rate_limit: {count: 5, per: 1h}")
    clock = Clock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    run(service, clock, poll=True)
    receiver = Webhook(webhook_secret)
    events = [receiver.verify(r.body, r.headers) for r in http_server.received]
    assert [e["type"] for e in events] == ["article.matched"] * 5  # the burst allowance
    assert statuses(service).count("pending") == 25

    clock.value += timedelta(minutes=5)
    run(service, clock, poll=False)
    assert len(http_server.received) == 5  # no token yet (one per 12 minutes)

    clock.value += timedelta(minutes=8)
    run(service, clock, poll=False)
    digest = receiver.verify(http_server.received[5].body, http_server.received[5].headers)
    assert digest["type"] == "article.digest" and digest["data"]["count"] == 25
    assert statuses(service) == ["sent"] * 30
    titles = [e["data"]["article"]["title"] for e in events] + [
        a["article"]["title"] for a in digest["data"]["alerts"]
    ]
    assert sorted(titles) == sorted(f"Putin story {i}" for i in range(30))
    service.db.close()
