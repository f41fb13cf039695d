"""Polling feeds through the service: Retry-After, backoff, moves, 410, 304, and `newswatch sources`."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.config import Config
from core.db import ArticleRow, Database, SourceState
from ingest.polling import backoff, first_poll_offset
from ingest.sources.feed import parse_retry_after
from newswatch.service import PollOutcome, Service
from newswatch.settings import CONTEXT
from tests.conftest import HttpServer, Served, Workspace

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>
<item><title>Harbour strike ends</title><link>https://news.example/1</link><guid>h-1</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><description>Dockers return.</description></item>
</channel></rss>"""
START = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def make_config(sources: list[dict[str, Any]], **fetch: Any) -> Config:
    return Config.model_validate(
        {"fetch": {"allow_private_addresses": True, "timeout": "5s", **fetch}, "sources": sources},
        context=CONTEXT,
    )


def poll_all(config: Config, db: Database, clock: Clock) -> list[PollOutcome]:
    async def go() -> list[PollOutcome]:
        async with Service(config, db, now=clock) as service:
            return [await service.poll(s) for s in config.sources]

    return asyncio.run(go())


def state(db: Database, name: str = "wire") -> SourceState:
    with db.session() as session:
        found = session.get(SourceState, name)
        assert found is not None
        session.expunge(found)
        return found


def test_304_updates_only_the_poll_record(http_server: HttpServer, db: Database) -> None:
    http_server.routes["/rss"] = Served(RSS, etag='"e1"')
    config = make_config([{"name": "wire", "feed": http_server.url("/rss")}])
    clock = Clock()
    [first] = poll_all(config, db, clock)
    assert first.new == 1 and state(db).etag == '"e1"' and state(db).http_status == 200
    clock.now += timedelta(minutes=15)
    [second] = poll_all(config, db, clock)
    assert second.ok and second.items == 0 and second.new == 0
    after = state(db)
    assert after.last_status == "not modified" and after.http_status == 304
    assert after.last_polled_at == clock.now and after.articles_seen == 1
    assert http_server.gets[-1].headers["If-None-Match"] == '"e1"'


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [(429, "600"), (503, "Wed, 25 Nov 2026 06:10:00 GMT")],
)
def test_retry_after_is_respected(
    http_server: HttpServer, db: Database, status: int, retry_after: str
) -> None:
    http_server.routes["/rss"] = Served(b"busy", status=status, headers={"Retry-After": retry_after})
    config = make_config([{"name": "wire", "feed": http_server.url("/rss")}])
    clock = Clock()
    [failed] = poll_all(config, db, clock)
    assert not failed.ok and f"HTTP {status}" in (failed.error or "")
    window = state(db).retry_not_before
    assert window is not None and abs((window - START) - timedelta(minutes=10)) < timedelta(seconds=61)

    clock.now = START + timedelta(minutes=5)
    [skipped] = poll_all(config, db, clock)
    assert skipped.ok and skipped.skipped is not None and len(http_server.gets) == 1

    http_server.routes["/rss"] = Served(RSS)
    clock.now = window + timedelta(seconds=1)
    [polled] = poll_all(config, db, clock)
    assert polled.ok and polled.new == 1 and len(http_server.gets) == 2
    assert state(db).retry_not_before is None


def test_backoff_grows_per_failure_and_resets_on_success(http_server: HttpServer, db: Database) -> None:
    http_server.routes["/rss"] = Served(b"oops", status=500)
    config = make_config([{"name": "wire", "feed": http_server.url("/rss")}], backoff="1m", max_backoff="6h")
    clock = Clock()
    waits = []
    for failures in range(1, 6):
        poll_all(config, db, clock)
        current = state(db)
        assert current.failures == failures and current.http_status == 500
        assert current.retry_not_before is not None
        wait = current.retry_not_before - clock.now
        assert (
            timedelta(seconds=30 * 2 ** (failures - 1)) <= wait <= timedelta(seconds=60 * 2 ** (failures - 1))
        )
        waits.append(wait)
        clock.now = current.retry_not_before + timedelta(seconds=1)
    assert waits[-1] > waits[0] * 4

    http_server.routes["/rss"] = Served(RSS)
    [ok] = poll_all(config, db, clock)
    assert ok.ok and state(db).failures == 0 and state(db).retry_not_before is None


def test_backoff_is_capped_and_jittered() -> None:
    rand = random.Random(7)
    waits = {backoff(40, timedelta(minutes=1), timedelta(hours=6), rand) for _ in range(50)}
    assert max(waits) <= timedelta(hours=6) and min(waits) >= timedelta(hours=3)
    assert len(waits) > 40  # jitter: not all the same
    assert backoff(0, timedelta(minutes=1), timedelta(hours=6)) == timedelta(0)


def test_first_polls_of_1000_sources_are_spread_out() -> None:
    offsets = [first_poll_offset(f"feed-{i}", timedelta(minutes=15), 1000) for i in range(1000)]
    per_second: dict[int, int] = {}
    for offset in offsets:
        per_second[int(offset.total_seconds())] = per_second.get(int(offset.total_seconds()), 0) + 1
    assert max(offsets) <= timedelta(seconds=50)
    assert max(per_second.values()) <= 45  # ~20 a second on average, never all at once
    assert first_poll_offset("feed-1", timedelta(minutes=15), 1000) == offsets[1]  # stable across starts


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120", START) == timedelta(seconds=120)
    assert parse_retry_after("Wed, 25 Nov 2026 06:01:00 GMT", START) == timedelta(minutes=1)
    assert parse_retry_after("Wed, 25 Nov 2026 05:00:00 GMT", START) == timedelta(0)
    assert parse_retry_after("soon", START) is None
    assert parse_retry_after(None, START) is None


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_rewrites_the_stored_url(
    http_server: HttpServer, db: Database, status: int
) -> None:
    http_server.routes["/old"] = Served(b"", status=status, headers={"Location": "/new"})
    http_server.routes["/new"] = Served(RSS)
    config = make_config([{"name": "wire", "feed": http_server.url("/old")}])
    clock = Clock()
    poll_all(config, db, clock)
    assert state(db).current_url == http_server.url("/new")
    clock.now += timedelta(minutes=15)
    poll_all(config, db, clock)
    assert [g.path for g in http_server.gets] == ["/old", "/new", "/new"]


def test_410_disables_the_source_loudly(
    http_server: HttpServer, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.routes["/rss"] = Served(b"", status=410)
    config = make_config([{"name": "wire", "feed": http_server.url("/rss")}])
    clock = Clock()
    with caplog.at_level(logging.ERROR):
        poll_all(config, db, clock)
    assert any("DISABLED" in r.getMessage() and "410 Gone" in r.getMessage() for r in caplog.records)
    assert state(db).disabled
    clock.now += timedelta(days=30)
    [skipped] = poll_all(config, db, clock)
    assert skipped.skipped == "disabled after 410 Gone" and len(http_server.gets) == 1

    http_server.routes["/moved"] = Served(RSS)  # a new URL in the config starts afresh
    config = make_config([{"name": "wire", "feed": http_server.url("/moved")}])
    [polled] = poll_all(config, db, clock)
    assert polled.ok and polled.new == 1 and not state(db).disabled


def test_a_bad_source_never_stops_the_others(http_server: HttpServer, db: Database) -> None:
    http_server.routes["/rss"] = Served(RSS)
    http_server.routes["/broken"] = Served(b"<rss><channel><title>", status=200)
    config = make_config(
        [
            {"name": "broken", "feed": http_server.url("/broken")},
            {"name": "down", "feed": http_server.url("/missing")},
            {"name": "wire", "feed": http_server.url("/rss")},
        ]
    )

    async def go() -> bool:
        async with Service(config, db, now=Clock()) as service:
            return (await service.run_once()).ok

    assert asyncio.run(go()) is False
    assert state(db, "wire").articles_seen == 1 and state(db, "wire").last_status == "ok"
    assert state(db, "down").http_status == 404 and "HTTP 404" in (state(db, "down").last_error or "")
    assert state(db, "broken").last_status == "error"


def test_per_source_user_agent_and_timeout(http_server: HttpServer, db: Database) -> None:
    http_server.routes["/rss"] = Served(RSS)
    http_server.routes["/drip"] = Served(RSS, drip=0.3)
    config = make_config(
        [
            {
                "name": "wire",
                "feed": http_server.url("/rss"),
                "user_agent": "Desk/1",
                "headers": {"X-A": "1"},
            },
            {"name": "slow", "feed": http_server.url("/drip"), "timeout": "0.1s"},
        ],
        deadline="20s",
    )
    poll_all(config, db, Clock())
    wire = next(g for g in http_server.gets if g.path == "/rss")
    assert wire.headers["User-Agent"] == "Desk/1" and wire.headers["X-A"] == "1"
    assert "ReadTimeout" in (state(db, "slow").last_error or "")


CLI_CONFIG = """
fetch:
  allow_private_addresses: true
  timeout: 5s
sources:
  - name: wire
    feed: {feed}
"""


def test_run_once_respects_retry_after_across_runs_and_sources_shows_it(
    workspace: Workspace, http_server: HttpServer
) -> None:
    http_server.routes["/rss"] = Served(b"", status=429, headers={"Retry-After": "3600"})
    workspace.write_config(CLI_CONFIG.format(feed=http_server.url("/rss")))
    first = workspace.cli("run", "--once")
    assert first.returncode == 1 and "HTTP 429" in first.stderr
    second = workspace.cli("run", "--once")
    assert second.returncode == 0, second.stderr
    assert len(http_server.gets) == 1  # the second run did not touch the server

    listed = workspace.cli("sources", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["name"] == "wire" and row["status"] == "error" and row["http_status"] == 429
    assert row["url"] == http_server.url("/rss") and "HTTP 429" in row["error"]
    assert row["retry_not_before"] is not None and row["next_poll"] is not None
    table = workspace.cli("sources", env={"COLUMNS": "250"})  # wide enough that no cell folds
    assert table.returncode == 0 and "HTTP 429" in table.stdout
    [line] = [line for line in table.stdout.splitlines() if line.startswith("wire ")]
    assert [cell.strip() for cell in line.split("│")][:4] == ["wire", "error", "429", "1"]


def test_unchanged_items_are_not_cleaned_again_and_a_changed_one_is(
    http_server: HttpServer, db: Database
) -> None:
    from ingest.parse import parse_feed
    from ingest.process import raw_hash
    from newswatch.pipeline import known_hashes

    http_server.routes["/rss"] = Served(RSS)  # no validators: every poll gets the whole feed
    config = make_config([{"name": "wire", "feed": http_server.url("/rss")}])

    async def poll() -> PollOutcome:
        async with Service(config, db, now=Clock()) as service:
            return await service.poll(config.sources[0])

    first = asyncio.run(poll())
    assert first.ok and first.new == 1
    items = parse_feed("wire", RSS, http_server.url("/rss"), "application/rss+xml")
    hashes = {item.key: raw_hash(item) for item in items}
    assert known_hashes(db, "wire") == hashes  # the next poll skips them all
    assert asyncio.run(poll()).new == 0

    edited = RSS.replace(b"</description>", b" Updated.</description>", 1)
    assert edited != RSS
    http_server.routes["/rss"] = Served(edited)
    changed = {i.key: raw_hash(i) for i in parse_feed("wire", edited, http_server.url("/rss"), "")}
    assert set(known_hashes(db, "wire").items()).isdisjoint(changed.items())
    outcome = asyncio.run(poll())
    assert outcome.ok and outcome.updated == 1  # the edited item was cleaned and stored again
    assert known_hashes(db, "wire") == changed


NUL_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>
<item><guid>h-1&#0;</guid><title>Harbour&#0; strike ends</title><link>https://news.example/1&#0;</link>
<category>Ports&#0;</category><description>Dockers&#0; return.</description></item>
</channel></rss>"""
NUL_JSON = (
    b'{"version": "https://jsonfeed.org/version/1.1", "title": "W", "items": [{"id": "h-1\\u0000",'
    b' "url": "https://news.example/1\\u0000", "title": "Harbour\\u0000 strike ends",'
    b' "tags": ["Ports\\u0000"], "content_text": "Dockers\\u0000 return."}]}'
)


@pytest.mark.parametrize(
    ("body", "content_type"), [(NUL_RSS, "application/rss+xml"), (NUL_JSON, "application/feed+json")]
)
def test_a_nul_character_in_a_feed_is_dropped_so_every_backend_stores_the_item(
    http_server: HttpServer, db: Database, body: bytes, content_type: str
) -> None:
    # `&#0;` (read by the lenient parser) and JSON's \u0000 decode to NUL, which PostgreSQL text
    # cannot hold; twice, so the second poll finds the item unchanged by its stored key.
    http_server.routes["/rss"] = Served(body, content_type=content_type)
    config = make_config([{"name": "wire", "feed": http_server.url("/rss")}])
    clock = Clock()
    [first] = poll_all(config, db, clock)
    assert first.ok and first.new == 1, first.error
    clock.now += timedelta(minutes=15)
    [second] = poll_all(config, db, clock)
    assert second.ok and second.new == 0 and second.updated == 0
    with db.session() as session:
        [row] = session.scalars(select(ArticleRow))
        [sighting] = row.sightings
        stored = (sighting.item_key, row.url, row.title, row.text, list(row.topics))
    key, *text = stored
    assert key.endswith("h-1") and "\x00" not in key  # feedparser resolves an RSS guid against the feed
    assert text == ["https://news.example/1", "Harbour strike ends", "Dockers return.", ["Ports"]]


# JSON escapes a database cannot store: lone surrogates (no UTF-8 exists for one) in one item, NUL in
# the other. A lone surrogate made SQLite and psycopg raise UnicodeEncodeError, which stopped the poll.
UNSTORABLE_JSON = (
    b'{"version": "https://jsonfeed.org/version/1.1", "title": "W", "items": [{"id": "h-1\\ud800",'
    b' "url": "https://news.example/1", "title": "Harbour\\udc00 strike ends", "tags": ["Ports\\ud800"],'
    b' "content_text": "Dockers\\udfff return to the harbour."}, {"id": "h-2\\u0000",'
    b' "url": "https://news.example/2\\u0000", "title": "Ferry\\u0000 timetable",'
    b' "content_text": "Ferries\\u0000 keep their winter timetable until April."}]}'
)


def test_a_json_feed_with_lone_surrogates_or_nul_polls_and_every_backend_stores_it(
    http_server: HttpServer, db: Database
) -> None:
    http_server.routes["/feed.json"] = Served(UNSTORABLE_JSON, content_type="application/feed+json")
    config = make_config([{"name": "wire", "feed": http_server.url("/feed.json")}])
    clock = Clock()
    [first] = poll_all(config, db, clock)
    assert first.ok and first.new == 2, first.error
    clock.now += timedelta(minutes=15)
    [second] = poll_all(config, db, clock)  # found unchanged by the keys stored
    assert second.ok and second.new == 0 and second.updated == 0
    with db.session() as session:
        stored = {
            row.sightings[0].item_key: (row.url, row.title, row.text, list(row.topics))
            for row in session.scalars(select(ArticleRow))
        }
    assert stored == {
        "h-1\ufffd": (
            "https://news.example/1",
            "Harbour\ufffd strike ends",
            "Dockers\ufffd return to the harbour.",
            ["Ports\ufffd"],
        ),
        "h-2": (
            "https://news.example/2",
            "Ferry timetable",
            "Ferries keep their winter timetable until April.",
            [],
        ),
    }
