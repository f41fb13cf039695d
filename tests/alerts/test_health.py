"""Feed health: one `source.unhealthy` event when a source fails or goes quiet, one `source.recovered`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from alerts.health import unhealthy_reason
from core.config import SourceConfig
from core.db import Database
from newswatch.service import Service
from tests.conftest import HttpServer, Served, Workspace

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
{items}</channel></rss>"""
ITEM = (
    "<item><guid>{guid}</guid><title>{title}</title><pubDate>Sun, 01 Nov 2026 10:00:00 GMT</pubDate></item>"
)

CONFIG = """\
fetch: {{allow_private_addresses: true}}
sources:
  - name: desk
    directory: ../seeds
  - name: wire
    feed: {feed}
    stale_after: 2d
channels:
  - name: ops
    webhook: {hook}
    secret: {secret}
health:
  notify: [ops]
"""


def feed(*titles: str) -> bytes:
    items = "".join(ITEM.format(guid=f"g{i}", title=t) for i, t in enumerate(titles))
    return RSS.format(items=items).encode()


def test_unhealthy_and_recovered_are_each_sent_once(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    http_server.routes["/rss"] = Served(feed("First"))
    workspace.write_config(
        CONFIG.format(feed=http_server.url("/rss"), hook=http_server.url("/ops"), secret=webhook_secret)
    )
    config = workspace.load_config()
    clock = [T0]
    db = Database(config.database)

    async def poll_all_at(when: datetime) -> None:
        clock[0] = when
        async with Service(config, db, now=lambda: clock[0]) as service:
            for source in config.sources:
                await service.poll(source)

    def events() -> list[dict[str, object]]:
        receiver = Webhook(webhook_secret)
        return [receiver.verify(r.body, r.headers) for r in http_server.received]

    try:
        asyncio.run(poll_all_at(T0))  # both sources deliver articles
        http_server.routes["/rss"] = Served(b"down", status=500)
        asyncio.run(poll_all_at(T0 + timedelta(days=1)))  # wire fails, but only for a day
        assert http_server.received == []

        # Day 4: wire has failed for over 2 days, desk has had nothing new for over 3 days.
        asyncio.run(poll_all_at(T0 + timedelta(days=4)))
        first = events()
        assert sorted((e["type"], e["data"]["source"]) for e in first) == [  # type: ignore[index]
            ("source.unhealthy", "desk"),
            ("source.unhealthy", "wire"),
        ]
        wire = next(e for e in first if e["data"]["source"] == "wire")  # type: ignore[index]
        assert "no successful poll since 2026-11-01T12:00:00+00:00: HTTP 500" in wire["data"]["reason"]  # type: ignore[index]
        desk = next(e for e in first if e["data"]["source"] == "desk")  # type: ignore[index]
        assert desk["data"]["reason"].startswith("no new articles since 2026-11-01T12:00")  # type: ignore[index]

        # Still unhealthy an hour later: nothing more is sent.
        asyncio.run(poll_all_at(T0 + timedelta(days=4, hours=1)))
        assert len(http_server.received) == 2

        # Both come back: one recovered event each, and then quiet again.
        http_server.routes["/rss"] = Served(feed("First", "Second"))
        (workspace.seeds / "new.txt").write_text("A new story\n\nBody.\n", encoding="utf-8")
        asyncio.run(poll_all_at(T0 + timedelta(days=5)))
        asyncio.run(poll_all_at(T0 + timedelta(days=5, hours=1)))
        later = events()[2:]
        assert sorted((e["type"], e["data"]["source"]) for e in later) == [  # type: ignore[index]
            ("source.recovered", "desk"),
            ("source.recovered", "wire"),
        ]
        assert all(set(e) == {"type", "timestamp", "data"} for e in events())  # the article.matched envelope
        assert json.loads(http_server.received[0].body)["timestamp"].startswith("2026-11-05T12:00")
    finally:
        db.close()


SOURCE = SourceConfig(name="s", feed="https://example.org/rss", stale_after=timedelta(days=3))


@pytest.mark.parametrize(
    ("success_days_ago", "article_days_ago", "expected"),
    [
        (0, 0, None),
        (2.9, 2.9, None),
        (3.1, 0, "no successful poll since"),
        (0, 3.1, "no new articles since"),
        (None, None, "no successful poll since"),  # never worked since it was first tracked 10 days ago
    ],
)
def test_unhealthy_reason(
    success_days_ago: float | None, article_days_ago: float | None, expected: str | None
) -> None:
    now = T0 + timedelta(days=10)

    def ago(days: float | None) -> datetime | None:
        return None if days is None else now - timedelta(days=days)

    reason = unhealthy_reason(SOURCE, now, T0, ago(success_days_ago), ago(article_days_ago), "boom")
    assert (reason is None) if expected is None else (reason is not None and reason.startswith(expected))


def test_health_notify_must_name_a_channel(bare_workspace: Workspace) -> None:
    bare_workspace.write_config("health: {notify: [nowhere]}\n")
    result = bare_workspace.cli("check")
    assert result.returncode == 2
    assert "health.notify[0]: unknown channel 'nowhere'" in result.stderr
