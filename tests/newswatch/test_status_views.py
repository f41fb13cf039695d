"""What the status pages stand on, without a browser: the article filter, the poll and delivery
history, redaction, the time words, and the endpoint's answers (read-only, strict headers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import delete, func, inspect, select

from alerts.outbox import mark_failed, mark_sent
from core.db import MIGRATIONS, AlertRow, ArticleRow, Database, DeliveryAttemptRow, PollRow
from newswatch.article_filter import filter_articles
from newswatch.pipeline import POLLS_KEPT, record_poll
from newswatch.service import Service
from newswatch.status import redact_text, redact_url
from newswatch.web import StatusServer, absolute, duration, relative
from tests.conftest import Workspace

NOW = datetime(2026, 12, 2, 14, 5, 9, tzinfo=UTC)


def _article(source: str, key: str, title: str, text: str, published: datetime) -> ArticleRow:
    return ArticleRow(
        source=source,
        item_key=key,
        url=f"https://{source}.example/{key}",
        title=title,
        text=text,
        published_at=published,
        first_seen_at=NOW,
        updated_at=NOW,
        content_hash=key,
    )


def _alert(article_id: int, rule: str, channel: str = "hook") -> AlertRow:
    return AlertRow(
        rule=rule,
        article_id=article_id,
        channel=channel,
        message_id=f"msg_{article_id}_{rule}_{channel}",
        matched=[],
        created_at=NOW,
        next_attempt_at=NOW,
    )


def test_filter_articles_by_source_rule_and_text_newest_first_a_page_at_a_time(db: Database) -> None:
    with db.session() as session:
        rows = [
            _article("wire", "a", "Rates rise", "The bank raised rates by 0.5%.", NOW - timedelta(hours=3)),
            _article("wire", "b", "PUTIN speaks", "Vladimir Putin spoke.", NOW - timedelta(hours=1)),
            _article("desk", "c", "snake_case names", "Putin_x is not a word.", NOW - timedelta(hours=2)),
            _article("desk", "d", "Weather", "Rain, then sun: 50% chance.", NOW - timedelta(hours=4)),
        ]
        session.add_all(rows)
        session.flush()
        session.add_all([_alert(rows[1].id, "kremlin"), _alert(rows[1].id, "kremlin", "mail")])
        session.add(_alert(rows[2].id, "names"))

    def titles(**kwargs: object) -> list[str]:
        with db.session() as session:
            page = filter_articles(session, **kwargs)  # type: ignore[arg-type]
        return [a.title for a in page.articles]

    assert titles() == ["PUTIN speaks", "snake_case names", "Rates rise", "Weather"]  # by date
    assert titles(source="desk") == ["snake_case names", "Weather"]
    assert titles(rule="kremlin") == ["PUTIN speaks"]  # once, though it alerted on two channels
    assert titles(text="putin") == ["PUTIN speaks", "snake_case names"]  # any case, title or text
    assert titles(text="  putin  ", source="wire", rule="kremlin") == ["PUTIN speaks"]
    # The text filter is `articles --search`: a prefix, an exclusion, a phrase.
    assert titles(text="puti*") == ["PUTIN speaks", "snake_case names"]
    assert titles(text="putin -spoke") == ["snake_case names"]
    assert titles(text='"then sun"') == ["Weather"] and titles(text='"sun then"') == []
    # A query the search language refuses is a plain substring; LIKE's wildcards are plain characters.
    assert titles(text="%") == ["Rates rise", "Weather"]
    assert titles(text="0.5%") == ["Rates rise"]
    assert titles(rule="nobody") == [] and titles(text="nowhere") == []

    with db.session() as session:
        first = filter_articles(session, page=1, per_page=3)
        second = filter_articles(session, page=2, per_page=3)
        past_the_end = filter_articles(session, page=99, per_page=3)
        empty = filter_articles(session, text="nowhere", page=5)
    assert (first.total, first.pages, first.first, first.last) == (4, 2, 1, 3)
    assert [a.title for a in second.articles] == ["Weather"] and (second.first, second.last) == (4, 4)
    assert past_the_end.page == 2 and past_the_end.articles == second.articles
    assert (empty.total, empty.page, empty.pages, empty.first) == (0, 1, 1, 0)
    assert first.articles[0].rules == ("kremlin",)
    assert first.articles[0].published_at == NOW - timedelta(hours=1)  # read back in UTC


def test_each_source_keeps_its_newest_polls_only(db: Database) -> None:
    with db.session() as session:
        for i in range(POLLS_KEPT + 7):
            record_poll(session, "wire", NOW + timedelta(minutes=i), "ok", 200, i)
        record_poll(session, "desk", NOW, "error", None, 0, "boom")
    with db.session() as session:
        wire = session.scalars(select(PollRow.new_articles).where(PollRow.source == "wire")).all()
        desk = session.scalar(select(func.count()).select_from(PollRow).where(PollRow.source == "desk"))
    assert sorted(wire) == list(range(7, POLLS_KEPT + 7))  # the oldest seven went
    assert desk == 1


def test_each_delivery_attempt_is_kept_with_its_outcome_and_goes_with_its_alert(db: Database) -> None:
    with db.session() as session:
        article = _article("wire", "a", "Putin", "Putin.", NOW)
        session.add(article)
        session.flush()
        alerts = [_alert(article.id, "kremlin"), _alert(article.id, "kremlin", "mail")]
        session.add_all(alerts)
        session.flush()
        ids = [a.id for a in alerts]
    with db.session() as session:
        mark_failed(session, ids[0], "webhook hook: HTTP 503", NOW, timedelta(seconds=30))
        mark_failed(session, ids[1], "refused", NOW, None)  # dead at once
        mark_sent(session, [ids[0]], NOW + timedelta(seconds=30))
    with db.session() as session:
        history = [
            (a.alert_id, a.outcome, a.error, a.at)
            for a in session.scalars(select(DeliveryAttemptRow).order_by(DeliveryAttemptRow.id))
        ]
    assert history == [
        (ids[0], "failed", "webhook hook: HTTP 503", NOW),
        (ids[1], "dead", "refused", NOW),
        (ids[0], "sent", None, NOW + timedelta(seconds=30)),
    ]
    with db.session() as session:  # retention deletes alerts; their attempts go with them
        session.execute(delete(AlertRow).where(AlertRow.id == ids[0]))
    with db.session() as session:
        left = session.scalars(select(DeliveryAttemptRow.alert_id)).all()
    assert left == [ids[1]]


def test_urls_and_errors_are_shown_without_their_secrets() -> None:
    assert redact_url("https://user:hunter2@feeds.example/rss?token=abc&page=2&api_key=k") == (
        "https://user:[redacted]@feeds.example/rss?token=[redacted]&page=2&api_key=[redacted]"
    )
    assert redact_url("https://abc123@feeds.example/rss") == "https://[redacted]@feeds.example/rss"
    assert redact_url("https://feeds.example/rss?page=2") == "https://feeds.example/rss?page=2"
    assert redact_url("/srv/feeds/desk") == "/srv/feeds/desk"
    assert redact_text("cannot fetch https://x.example/f?sig=s3cr3t: timed out, see https://y.example/.") == (
        "cannot fetch https://x.example/f?sig=[redacted]: timed out, see https://y.example/."
    )
    assert redact_text(None) is None


def test_times_read_as_a_person_says_them() -> None:
    assert relative(NOW - timedelta(seconds=42), NOW) == "42 s ago"
    assert relative(NOW - timedelta(minutes=5, seconds=59), NOW) == "5 min ago"
    assert relative(NOW + timedelta(hours=3, minutes=1), NOW) == "in 3 h"
    assert relative(NOW - timedelta(days=2, hours=5), NOW) == "2 d ago"
    assert relative(NOW - timedelta(days=400), NOW) == "2025-10-28"
    assert absolute(NOW) == "2026-12-02 14:05:09 UTC"
    assert absolute(NOW.astimezone(timezone(timedelta(hours=-3, minutes=-30)))) == "2026-12-02 14:05:09 UTC"
    assert [duration(timedelta(seconds=s)) for s in (2, 900, 5400, 86400)] == [
        "2 s",
        "15 min",
        "1 h 30 min",
        "1 d",
    ]


@pytest.fixture
def endpoint(workspace: Workspace) -> Iterator[str]:
    workspace.write_config(
        "sources:\n  - {name: desk, directory: ../seeds}\n"
        "channels:\n  - {name: out, console: true}\n"
        "rules:\n  - {name: kremlin, people: [Vladimir Putin], notify: [out]}\n"
    )
    config = workspace.load_config()
    service = Service(config, Database(config.database))
    server = StatusServer(service, ("127.0.0.1", 0))
    server.start()
    yield "http://{}:{}".format(*server.address)
    server.close()
    service.db.close()


def test_the_endpoint_only_reads_and_sends_strict_headers(endpoint: str) -> None:
    page = httpx.get(endpoint + "/?source=desk&rule=kremlin&q=x&page=1")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<script src="/static/status.js" defer></script>' in page.text
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline for the CSP to refuse
    for path, kind in (("/static/status.js", "text/javascript"), ("/static/status.css", "text/css")):
        static = httpx.get(endpoint + path)
        assert static.status_code == 200 and static.headers["content-type"].startswith(kind)
    assert httpx.get(endpoint + "/sources/desk").status_code == 200
    for missing in ("/sources/nowhere", "/articles/1", "/articles/x", "/articles/-1", "/static/nothing.js"):
        assert httpx.get(endpoint + missing).status_code == 404, missing
    bad = httpx.get(endpoint + "/?page=two")
    assert (bad.status_code, bad.text) == (400, "page must be a whole number from 1, not 'two'\n")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert httpx.request(method, endpoint + "/").status_code == 501, method


@pytest.mark.empty_database
def test_migration_0019c_goes_down_and_up_and_matches_the_model(database_url: str) -> None:
    db = Database(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0013")
        assert {"polls", "delivery_attempts"}.isdisjoint(inspect(db.engine).get_table_names())
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        inspector = inspect(db.engine)
        for table in (PollRow.__table__, DeliveryAttemptRow.__table__):
            assert {c["name"] for c in inspector.get_columns(table.name)} == {c.name for c in table.columns}
            assert {i["name"] for i in inspector.get_indexes(table.name)} == {i.name for i in table.indexes}
    finally:
        db.close()
