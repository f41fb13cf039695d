"""End to end, on SQLite and PostgreSQL: retention prunes old data and a story still never alerts twice."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import AlertRow, ArticleRow, Database, SightingRow, SourceState
from newswatch.service import Service
from newswatch.settings import load_config
from tests.conftest import HttpServer, Served, Workspace

STORIES = {
    "a": ("Putin meets envoys", "Vladimir Putin met the envoys in the Kremlin on Tuesday morning."),
    "b": ("Putin signs decree", "Vladimir Putin signed a decree on grain exports late on Monday night."),
}

CONFIG = """\
database: sqlite:///newswatch.db
fetch: {{allow_private_addresses: true}}
retention: {{articles: 30d, alerts: 7d}}
sources: [{{name: wire, feed: "{feed}"}}]
channels: [{{name: newsroom, webhook: "{hook}"}}]
rules: [{{name: kremlin, people: [Vladimir Putin], notify: [newsroom]}}]
"""


def rss(*keys: str, edit: str = "") -> bytes:
    items = "".join(
        f"<item><guid>{key}</guid><title>{STORIES[key][0]}</title><link>http://wire.example/{key}</link>"
        f"<description>{STORIES[key][1]}{edit}</description></item>"
        for key in keys
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{items}</channel></rss>'.encode()
    )


@pytest.fixture
def wire(workspace: Workspace, http_server: HttpServer, database_url: str) -> Workspace:
    workspace.env["NEWSWATCH_DATABASE_URL"] = database_url
    workspace.write_config(CONFIG.format(feed=http_server.url("/rss.xml"), hook=http_server.url("/hook")))
    return workspace


def _alerted(http_server: HttpServer) -> list[str]:
    """The titles alerted, sorted: a channel's alerts go out concurrently, in no promised order."""
    return sorted(json.loads(r.body)["data"]["article"]["title"] for r in http_server.received)


def _service_on_a_clock(wire: Workspace) -> tuple[Service, list[datetime]]:
    """The runtime on the wire config, with a clock the test moves (`clock[0]`)."""
    config = load_config(wire.config, environ=wire.env)
    clock = [datetime(2026, 6, 1, 9, 0, tzinfo=UTC)]
    return Service(config, Database(config.database), now=lambda: clock[0]), clock


def test_an_old_item_its_feed_still_carries_is_kept_and_never_alerted_again(
    wire: Workspace, http_server: HttpServer
) -> None:
    """The runtime with a clock: a feed answering 304 for 100 days keeps its item."""
    http_server.routes["/rss.xml"] = Served(rss("a"), etag='"v1"')
    service, clock = _service_on_a_clock(wire)
    db, start = service.db, clock[0]
    wire_source = service.config.sources[0]

    async def go() -> list[tuple[int, int]]:
        counts = []
        async with service:
            await service.poll(wire_source)
            await service.deliver()
            clock[0] = start + timedelta(days=100)
            assert (await service.poll(wire_source)).items == 0  # 304: nothing read, nothing stored
            pruned = await service.prune()
            counts.append((pruned.alerts, pruned.articles))
            # The feed changes at last, still carrying the old item: only the new one is news.
            http_server.routes["/rss.xml"] = Served(rss("b", "a"), etag='"v2"')
            assert (await service.poll(wire_source)).new == 1
            await service.deliver()
            # Then the old item leaves the feed; 31 days on, it and its alert go, the other stays.
            http_server.routes["/rss.xml"] = Served(rss("b"), etag='"v3"')
            clock[0] = start + timedelta(days=101)
            await service.poll(wire_source)
            clock[0] = start + timedelta(days=131)
            pruned = await service.prune()
            counts.append((pruned.alerts, pruned.articles))
        return counts

    try:
        assert asyncio.run(go()) == [(0, 0), (1, 1)]
        with db.session() as session:
            assert session.scalars(select(ArticleRow.title)).all() == [STORIES["b"][0]]
            assert session.scalars(select(SightingRow.item_key)).all() == ["b"]
            assert len(session.scalars(select(AlertRow.id)).all()) == 1
    finally:
        db.close()
    assert _alerted(http_server) == [STORIES["a"][0], STORIES["b"][0]]


def test_an_alert_stays_while_its_article_can_still_change(wire: Workspace, http_server: HttpServer) -> None:
    """The outbox row is what stops an edited article alerting again for the same rule, so an old
    sent alert stays while its item is in the feed; the edit that comes 60 days on alerts nothing."""
    http_server.routes["/rss.xml"] = Served(rss("a"), etag='"v1"')
    service, clock = _service_on_a_clock(wire)
    db, start = service.db, clock[0]

    async def go() -> tuple[int, int, int]:
        async with service:
            await service.poll(service.config.sources[0])
            await service.deliver()
            clock[0] = start + timedelta(days=60)
            await service.poll(service.config.sources[0])  # 304
            pruned = await service.prune()
            http_server.routes["/rss.xml"] = Served(rss("a", edit=" A correction was added."), etag='"v2"')
            edited = await service.poll(service.config.sources[0])
            await service.deliver()
            return pruned.alerts, edited.updated, edited.alerts

    try:
        assert asyncio.run(go()) == (0, 1, 0)
    finally:
        db.close()
    assert _alerted(http_server) == [STORIES["a"][0]]


def _age(workspace: Workspace, days: int) -> None:
    """Move every stored time `days` into the past, as if it all happened then."""
    shift = timedelta(days=days)
    db = Database(load_config(workspace.config, environ=workspace.env).database)
    columns = {
        ArticleRow: ("published_at", "first_seen_at", "updated_at"),
        SightingRow: ("first_seen_at", "last_seen_at"),
        AlertRow: ("created_at", "next_attempt_at", "sent_at"),
        SourceState: ("last_polled_at", "last_success_at", "next_poll_at", "items_read_at"),
    }
    try:
        with db.session() as session:
            for table, names in columns.items():
                for row in session.scalars(select(table)):
                    for name in names:
                        if getattr(row, name) is not None:
                            setattr(row, name, getattr(row, name) - shift)
    finally:
        db.close()


def test_db_prune_from_the_cli_counts_deletes_and_the_next_run_sends_nothing_twice(
    wire: Workspace, http_server: HttpServer
) -> None:
    http_server.routes["/rss.xml"] = Served(rss("a", "b"))
    assert wire.cli("run", "--once").returncode == 0
    http_server.routes["/rss.xml"] = Served(rss("a"))  # b leaves the feed; a stays in it
    assert wire.cli("run", "--once").returncode == 0
    _age(wire, 100)

    dry = wire.cli("db", "prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == (
        "would prune 1 alerts (finished more than 7d ago) and 1 articles (not seen for 30d);"
        " nothing was deleted\n"
    )
    dry_json = wire.cli("db", "prune", "--dry-run", "--json")
    assert json.loads(dry_json.stdout) == {
        "dry_run": True,
        "alerts": 1,
        "articles": 1,
        "retention": {"articles": "30d", "alerts": "7d"},
    }
    assert len(json.loads(wire.cli("articles", "--json").stdout)) == 2  # the dry runs deleted nothing

    done = wire.cli("-v", "db", "prune")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "pruned 1 alerts (finished more than 7d ago) and 1 articles (not seen for 30d)\n"
    logged = [json.loads(line) for line in done.stderr.splitlines() if "pruned" in line]
    assert [(e["message"], e["alerts"], e["articles"], e["dry_run"]) for e in logged] == [
        ("pruned 1 alerts and 1 articles", 1, 1, False)
    ]
    assert [a["title"] for a in json.loads(wire.cli("articles", "--json").stdout)] == [STORIES["a"][0]]
    again = wire.cli("db", "prune", "--json")
    assert json.loads(again.stdout)["articles"] == 0

    # a's item was old but still in the feed, so it was kept: the next poll finds it, alerts nothing.
    assert wire.cli("run", "--once").returncode == 0
    assert _alerted(http_server) == [STORIES["a"][0], STORIES["b"][0]]
    assert len(json.loads(wire.cli("alerts", "--json").stdout)) == 1


def test_db_prune_without_retention_says_everything_is_kept(bare_workspace: Workspace) -> None:
    # It opens no database: an SQLite file is not created, and bare_workspace's unreachable
    # PostgreSQL database (the --json call) would fail the command if it were opened.
    bare_workspace.write_config("database: sqlite:///newswatch.db\n")
    sqlite = bare_workspace.root / "newswatch.db"
    result = bare_workspace.cli("db", "prune", env={"NEWSWATCH_DATABASE_URL": f"sqlite:///{sqlite}"})
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout == "nothing to prune: `retention` is not set, so articles and alerts are kept forever\n"
    )
    assert not sqlite.exists()
    as_json = json.loads(bare_workspace.cli("db", "prune", "--json").stdout)
    assert as_json == {
        "dry_run": False,
        "alerts": 0,
        "articles": 0,
        "retention": {"articles": None, "alerts": None},
    }
