"""Retention (newswatch/retention.py) on SQLite and PostgreSQL: what goes, what stays, and how."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import OperationalError

from alerts.models import Match
from alerts.outbox import enqueue, mark_failed, mark_sent
from core.config import RetentionSettings
from core.db import MIGRATIONS, AlertRow, ArticleRow, Database, SightingRow, SourceState, utcnow
from ingest.models import Article
from ingest.store import store_articles
from newswatch.retention import Forget, Pruned, ShouldStop, prune
from newswatch.service import PRUNE_EVERY, Service
from newswatch.settings import load_config
from tests.conftest import Workspace

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=60)
DAY = timedelta(days=1)
MONTH = RetentionSettings.model_validate({"articles": "30d", "alerts": "30d"})
ARTICLES_ONLY = RetentionSettings.model_validate({"articles": "30d"})


def _article(name: str, source: str = "wire", text: str | None = None) -> Article:
    body = text or f"{name}: " + " ".join(f"{name}-word-{i}" for i in range(30))
    return Article(
        source=source,
        key=f"item-{name}",
        title=name,
        text=body,
        summary="",
        topics=(),
        url=f"http://{source}.example/{name}",
        published_at=None,
        content_hash=f"hash-{name}",
    )


def _store(db: Database, article: Article, at: datetime) -> int:
    with db.session() as session:
        (stored,) = store_articles(session, [article], at)
        return stored.id


def _seen(db: Database, article: Article, at: datetime) -> None:
    """`article`'s item seen again, unchanged, at `at`."""
    with db.session() as session:
        assert store_articles(session, [article], at) == []


def _read(db: Database, source: str, at: datetime | None) -> None:
    """Record a poll of `source` that read its items at `at` (None: never read in full)."""
    with db.session() as session:
        state = session.get(SourceState, source) or SourceState(name=source, location="x")
        state.failures, state.articles_seen, state.items_read_at = 0, 0, at
        session.add(state)


def _alert(db: Database, article_id: int, state: str, at: datetime) -> int:
    """An alert for `article_id` that reached `state` at `at`."""
    digest = ("hook:daily:2026-07-01", at + DAY) if state == "digest" else None
    created = at - timedelta(hours=1)
    with db.session() as session:
        enqueue(session, Match("r", article_id, ()), ("hook",), created, digest)
        alert_id = session.scalar(select(AlertRow.id).where(AlertRow.article_id == article_id))
        assert alert_id is not None
        if state == "sent":
            mark_sent(session, alert_id, at)
        elif state == "dead":
            mark_failed(session, alert_id, "HTTP 500", created, None)
        elif state == "failed":
            mark_failed(session, alert_id, "HTTP 500", created, timedelta(hours=2))
        return alert_id


def _ids(db: Database, key: object) -> set[int]:
    with db.session() as session:
        return set(session.scalars(select(key)))  # type: ignore[call-overload]


# (case, alert state, when it got there, alert stays, article stays). Every article is quiet: first
# and last seen at T0, its source read since without it. Retention is 30d for both; now is T0 + 60d.
ALERT_CASES = [
    ("sent-long-ago", "sent", NOW - 31 * DAY, False, False),
    ("sent-recently", "sent", NOW - 29 * DAY, True, True),
    ("dead-long-ago", "dead", NOW - 31 * DAY, False, False),
    ("failed-awaiting-retry", "failed", NOW - 45 * DAY, True, True),
    ("pending", "pending", NOW - 45 * DAY, True, True),
    ("pending-in-a-digest", "digest", NOW - 45 * DAY, True, True),
]


def test_finished_old_alerts_go_and_unfinished_ones_keep_their_articles(db: Database) -> None:
    articles, alerts = {}, {}
    for case, state, at, _, _ in ALERT_CASES:
        articles[case] = _store(db, _article(case), T0)
        alerts[case] = _alert(db, articles[case], state, at)
    _read(db, "wire", T0 + DAY)

    pruned = prune(db, MONTH, ["wire"], NOW)

    kept_alerts, kept_articles = _ids(db, AlertRow.id), _ids(db, ArticleRow.id)
    assert {c for c, *_ in ALERT_CASES if alerts[c] in kept_alerts} == {c for c, *r in ALERT_CASES if r[2]}
    assert {c for c, *_ in ALERT_CASES if articles[c] in kept_articles} == {
        c for c, *r in ALERT_CASES if r[3]
    }
    assert (pruned.alerts, pruned.articles) == (2, 2)


# (case, source, first seen, last seen, when its source last read its items, article stays);
# retention.articles is 30d and now is T0 + 60d.
ARTICLE_CASES = [
    ("quiet", "wire", T0, T0, T0 + DAY, False),
    ("seen-recently", "recent", T0, T0 + 45 * DAY, T0 + 50 * DAY, True),
    ("first-seen-recently", "new", T0 + 50 * DAY, T0 + 50 * DAY, T0 + 51 * DAY, True),
    ("still-in-a-feed-answering-304", "steady", T0, T0, T0, True),
    ("source-not-read-since-upgrade", "legacy", T0, T0, None, True),
    ("source-no-longer-configured", "removed", T0, T0, T0, False),
]


def test_articles_go_when_no_source_carries_them_any_more(db: Database) -> None:
    ids = {}
    for case, source, first, last, read, _ in ARTICLE_CASES:
        ids[case] = _store(db, _article(case, source), first)
        if last != first:
            _seen(db, _article(case, source), last)
        _read(db, source, read)
    configured = [source for _, source, *_ in ARTICLE_CASES if source != "removed"]

    would = prune(db, ARTICLES_ONLY, configured, NOW, dry_run=True)
    assert len(_ids(db, ArticleRow.id)) == len(ARTICLE_CASES)  # a dry run deletes nothing
    pruned = prune(db, ARTICLES_ONLY, configured, NOW)

    kept = _ids(db, ArticleRow.id)
    assert {case for case, *_ in ARTICLE_CASES if ids[case] in kept} == {
        case for case, *rest in ARTICLE_CASES if rest[-1]
    }
    assert would.dry_run and not pruned.dry_run
    assert (would.articles, would.alerts) == (pruned.articles, pruned.alerts) == (2, 0)
    with db.session() as session:  # the pruned articles' sightings went with them
        orphans = select(func.count()).select_from(SightingRow).where(SightingRow.article_id.not_in(kept))
        assert session.scalar(orphans) == 0


def test_a_copy_still_carried_by_another_source_keeps_the_story(db: Database) -> None:
    story = _article("story", "wire")
    article_id = _store(db, story, T0)
    copy = _article("copy", "paper", text=story.text)  # the same text: merged as a sighting
    with db.session() as session:
        (merged,) = store_articles(session, [copy], T0)
    assert merged.merged and merged.id == article_id
    _read(db, "wire", T0 + DAY)  # the wire dropped it; the paper still carries it (304s since)
    _read(db, "paper", T0)

    assert prune(db, MONTH, ["wire", "paper"], NOW).articles == 0
    _read(db, "paper", T0 + 2 * DAY)  # now the paper dropped it too
    assert prune(db, MONTH, ["wire", "paper"], NOW).articles == 1


def test_with_alerts_kept_forever_an_alerted_article_stays(db: Database) -> None:
    alerted, _plain = _store(db, _article("alerted"), T0), _store(db, _article("plain"), T0)
    _alert(db, alerted, "sent", T0)
    _read(db, "wire", T0 + DAY)
    pruned = prune(db, ARTICLES_ONLY, ["wire"], NOW)
    assert (pruned.alerts, pruned.articles) == (0, 1)
    assert _ids(db, ArticleRow.id) == {alerted}


def test_nothing_goes_without_retention(db: Database) -> None:
    article_id = _store(db, _article("a"), T0)
    _alert(db, article_id, "sent", T0)
    _read(db, "wire", T0 + DAY)
    pruned = prune(db, RetentionSettings(), ["wire"], NOW + 1000 * DAY)
    assert (pruned.alerts, pruned.articles) == (0, 0)
    assert _ids(db, ArticleRow.id) == {article_id}


def test_a_big_prune_goes_in_batches_and_reports_each_batch(db: Database) -> None:
    ids = [_store(db, _article(f"n{n}"), T0) for n in range(7)]
    _read(db, "wire", T0 + DAY)
    batches: list[list[int]] = []
    pruned = prune(db, MONTH, ["wire"], NOW, forget=lambda gone: batches.append(list(gone)), batch=3)
    assert pruned.articles == 7
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(i for b in batches for i in b) == ids


def test_a_prune_told_to_stop_ends_after_the_batch_it_is_in(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [_store(db, _article(f"n{n}"), T0) for n in range(7)]
    _read(db, "wire", T0 + DAY)
    batches: list[list[int]] = []
    with caplog.at_level(logging.INFO, logger="newswatch.retention"):
        pruned = prune(
            db,
            MONTH,
            ["wire"],
            NOW,
            forget=lambda gone: batches.append(list(gone)),
            should_stop=lambda: bool(batches),  # true once the first batch of articles has gone
            batch=3,
        )
    assert (pruned.alerts, pruned.articles, pruned.stopped) == (0, 3, True)
    assert batches == [ids[:3]] and _ids(db, ArticleRow.id) == set(ids[3:])
    assert "pruned 0 alerts and 3 articles; stopped early, the rest goes at the next run" in caplog.messages
    assert prune(db, MONTH, ["wire"], NOW, should_stop=lambda: False).articles == 4  # the next run


def test_a_prune_stopped_among_the_alerts_leaves_the_articles(db: Database) -> None:
    article_ids = [_store(db, _article(f"n{n}"), T0) for n in range(3)]
    alert_ids = [_alert(db, article_id, "sent", T0) for article_id in article_ids]
    _read(db, "wire", T0 + DAY)
    asked = [0]

    def second_ask() -> bool:  # true from the second batch on
        asked[0] += 1
        return asked[0] > 1

    pruned = prune(db, MONTH, ["wire"], NOW, should_stop=second_ask, batch=2)
    assert (pruned.alerts, pruned.articles, pruned.stopped) == (2, 0, True)
    assert _ids(db, AlertRow.id) == set(alert_ids[2:]) and _ids(db, ArticleRow.id) == set(article_ids)


@pytest.mark.only_backend("postgresql", reason="SQLite has no row locks: a writer locks the whole file")
def test_a_row_being_written_is_left_for_the_next_run(db: Database, database_url: str) -> None:
    """PostgreSQL: a batch skips rows another transaction holds instead of waiting for them."""
    busy, idle = _store(db, _article("busy"), T0), _store(db, _article("idle"), T0)
    _read(db, "wire", T0 + DAY)
    with psycopg.connect(database_url.replace("+psycopg", "")) as other:
        other.execute("SELECT id FROM articles WHERE id = %s FOR UPDATE", (busy,))
        assert prune(db, MONTH, ["wire"], NOW).articles == 1  # did not wait for `other`
    assert _ids(db, ArticleRow.id) == {busy}
    assert prune(db, MONTH, ["wire"], NOW).articles == 1  # the next run takes it
    assert idle not in _ids(db, ArticleRow.id)


@pytest.mark.empty_database
def test_migration_0010_goes_down_and_up_and_matches_the_model(database_url: str) -> None:
    db = Database(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        for target in ("0009", "head"):
            with db.engine.begin() as connection:
                cfg.attributes["connection"] = connection
                (command.downgrade if target == "0009" else command.upgrade)(cfg, target)
        inspector = inspect(db.engine)
        indexes = {
            i["name"]: i["column_names"] for t in ("alerts", "articles") for i in inspector.get_indexes(t)
        }
        assert indexes["ix_alerts_article_id"] == ["article_id"]
        assert indexes["ix_alerts_status_sent"] == ["status", "sent_at"]
        assert indexes["ix_articles_first_seen_at"] == ["first_seen_at"]
        assert "items_read_at" in {c["name"] for c in inspector.get_columns("sources")}
    finally:
        db.close()


CONFIG = """\
database: sqlite:///newswatch.db
sources: [{{name: desk, directory: ../seeds}}]
channels: [{{name: terminal, console: true}}]
rules: [{{name: r, people: [Vladimir Putin], notify: [terminal], cooldown: 6h, on_update: true}}]
{extra}
"""

# (case, config lines, the one-line error)
BAD_RETENTION = [
    ("not-a-duration", "retention: {articles: soon}", "retention.articles: 'soon' is not a duration"),
    ("zero", "retention: {alerts: 0}", "retention.alerts: a duration must be greater than zero"),
    ("too-short", "retention: {articles: 30m}", "retention.articles: 30m is too short; keep at least 1h"),
    (
        "shorter-than-dedup-window",
        "retention: {articles: 2d}",
        "retention.articles: 2d is shorter than dedup.window (7d); a copy of a pruned story would alert",
    ),
    (
        "shorter-than-an-on-update-cooldown",
        "retention: {alerts: 2h}",
        "retention.alerts: 2h is shorter than rules[0].cooldown of rule 'r' (6h), which spaces its"
        " on_update re-alerts from the last alert sent",
    ),
    ("unknown-key", "retention: {articles: 90d, sightings: 1d}", "retention.sightings: unknown key"),
]


@pytest.mark.parametrize(
    ("extra", "message"), [c[1:] for c in BAD_RETENTION], ids=[c[0] for c in BAD_RETENTION]
)
def test_bad_retention_is_a_config_error_exit_2(bare_workspace: Workspace, extra: str, message: str) -> None:
    bare_workspace.write_config(CONFIG.format(extra=extra))
    result = bare_workspace.cli("check")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_cooldown_without_on_update_does_not_bound_alert_retention(bare_workspace: Workspace) -> None:
    # Such a cooldown changes nothing (`check` notes it), so it counts no alerts a prune could take.
    bare_workspace.write_config(
        CONFIG.format(extra="retention: {alerts: 2h}").replace(", on_update: true", "")
    )
    result = bare_workspace.cli("check")
    assert result.returncode == 0, result.stderr
    assert "retention" not in result.stderr and "only spaces out the re-alerts" in result.stderr


@pytest.mark.parametrize(
    ("extra", "articles", "alerts"),
    [
        ("", None, None),  # keep forever unless told
        ("retention: {articles: 90d}", timedelta(days=90), None),
        ("retention: {articles: 90d, alerts: 30d}", timedelta(days=90), timedelta(days=30)),
        ("retention: {articles: null, alerts: 6h}", None, timedelta(hours=6)),
    ],
)
def test_retention_defaults_to_keeping_everything(
    bare_workspace: Workspace, extra: str, articles: timedelta | None, alerts: timedelta | None
) -> None:
    retention = load_config(bare_workspace.write_config(CONFIG.format(extra=extra))).retention
    assert (retention.articles, retention.alerts) == (articles, alerts)
    assert retention.enabled == (articles is not None or alerts is not None)


def test_run_schedules_an_hourly_prune(workspace: Workspace, database_url: str) -> None:
    workspace.write_config(CONFIG.format(extra="retention: {articles: 30d}"))
    config = load_config(workspace.config, environ={"NEWSWATCH_DATABASE_URL": database_url})
    config = config.model_copy(update={"sources": []})  # nothing to poll: only the schedule matters
    db = Database(config.database)
    started = utcnow()
    service = Service(config, db, now=lambda: started)  # the clock the schedule is set by
    jobs = []

    async def watch(stop: asyncio.Event) -> None:
        while service.scheduler is None or not service.scheduler.running:
            await asyncio.sleep(0.01)
        jobs.append(service.scheduler.get_job("prune"))
        stop.set()

    async def go() -> None:
        stop = asyncio.Event()
        async with service:
            watcher = asyncio.create_task(watch(stop))
            await service.run_forever(stop)
            await watcher

    try:
        asyncio.run(go())
    finally:
        db.close()
    (job,) = jobs
    assert job.trigger.interval == PRUNE_EVERY == timedelta(hours=1)
    assert job.next_run_time == started + timedelta(minutes=1)  # first a minute after start
    assert job.func == service.prune_on_schedule


def test_the_service_prunes_and_its_index_forgets_pruned_articles(
    workspace: Workspace, database_url: str
) -> None:
    workspace.write_config(
        CONFIG.format(extra="dedup: {window: 30d}\nretention: {articles: 30d, alerts: 30d}")
    )
    config = load_config(workspace.config, environ={"NEWSWATCH_DATABASE_URL": database_url})
    db = Database(config.database)
    clock = [T0]
    service = Service(config, db, now=lambda: clock[0])

    async def go() -> None:
        async with service:
            await service.poll(config.sources[0])  # the seed, first seen at T0; the index holds it
            await service.deliver()
            assert service._index is not None and len(service._index) == 1
            _read(db, "desk", T0 + DAY)  # its file left the folder
            clock[0] = T0 + 32 * DAY  # out of the window, but the index has not been pruned since
            await service.prune_on_schedule()

    try:
        asyncio.run(go())
        assert _ids(db, ArticleRow.id) == set() and _ids(db, AlertRow.id) == set()
        assert service._index is not None and len(service._index) == 0
    finally:
        db.close()


def test_a_failed_scheduled_prune_is_one_log_line_and_the_next_run_tries_again(
    bare_workspace: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bare_workspace.write_config(CONFIG.format(extra="retention: {articles: 30d}"))
    service = Service(bare_workspace.load_config(), cast(Database, None))  # prune never reaches it

    def failing(*args: Any, **kwargs: Any) -> Pruned:
        driver = Exception("canceling statement due to lock timeout\nCONTEXT:  while deleting")
        raise OperationalError("DELETE FROM articles", {}, driver)

    monkeypatch.setattr("newswatch.service.prune", failing)
    with caplog.at_level(logging.ERROR, logger="newswatch.service"):
        asyncio.run(service.prune_on_schedule())  # raises nothing: the job stays scheduled
    assert caplog.messages == [
        "prune failed: canceling statement due to lock timeout CONTEXT: while deleting;"
        " the next run tries again"
    ]


class SlowPrune:
    """Stands in for retention.prune in the service: the real prune, one row a batch, whose stop
    check after the first batch waits (up to 10 s) for the service to say stop."""

    def __init__(self) -> None:
        self.first_batch = threading.Event()
        self.done = threading.Event()
        self.result: Pruned | None = None

    def __call__(self, *args: Any, should_stop: ShouldStop, forget: Forget, **kwargs: Any) -> Pruned:
        def forget_and_tell(ids: Sequence[int]) -> None:
            forget(ids)
            self.first_batch.set()

        def stop_check() -> bool:
            deadline = time.monotonic() + 10
            while self.first_batch.is_set() and not should_stop() and time.monotonic() < deadline:
                time.sleep(0.01)
            return should_stop()

        self.result = prune(*args, should_stop=stop_check, forget=forget_and_tell, **{**kwargs, "batch": 1})
        self.done.set()
        return self.result


def _prune_service(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> tuple[Service, SlowPrune]:
    """A service with nothing to poll, over 20 articles that have left every feed, pruning slowly."""
    workspace.write_config(CONFIG.format(extra="retention: {articles: 30d}\nshutdown_grace: 10s"))
    config = workspace.load_config().model_copy(update={"sources": []})
    db = Database(config.database)
    for n in range(20):
        _store(db, _article(f"n{n}", "gone"), utcnow() - 60 * DAY)
    slow = SlowPrune()
    monkeypatch.setattr("newswatch.service.prune", slow)
    return Service(config, db), slow


def test_stopping_the_service_stops_a_running_prune_at_its_next_batch(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, slow = _prune_service(workspace, monkeypatch)

    async def go() -> tuple[Pruned, float]:
        stop = asyncio.Event()
        async with service:
            pruning = asyncio.create_task(service.prune())  # as the hourly job starts it

            async def sigterm_once_it_has_begun() -> None:
                await asyncio.to_thread(slow.first_batch.wait, 10)
                stop.set()

            signal = asyncio.create_task(sigterm_once_it_has_begun())
            await service.run_forever(stop)
            await signal
            return await pruning, time.monotonic()

    try:
        pruned, stopped_at = asyncio.run(go())
        left = len(_ids(service.db, ArticleRow.id))
    finally:
        service.db.close()
    assert (pruned.articles, pruned.stopped, left) == (1, True, 19)
    assert time.monotonic() - stopped_at < 1  # asyncio.run waited for no thread at exit


def test_a_cancelled_prune_stops_its_thread_at_the_next_batch(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, slow = _prune_service(workspace, monkeypatch)

    async def go() -> None:
        async with service:
            pruning = asyncio.create_task(service.prune())
            await asyncio.to_thread(slow.first_batch.wait, 10)
            pruning.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pruning

    try:
        asyncio.run(go())
        assert slow.done.wait(5) and slow.result is not None
        assert (slow.result.articles, slow.result.stopped) == (1, True)
        assert len(_ids(service.db, ArticleRow.id)) == 19
    finally:
        service.db.close()


@pytest.mark.only_backend("postgresql", reason="distributed mode (procrastinate) runs on PostgreSQL only")
def test_distributed_prune_is_hourly_and_deferred_once_across_nodes(
    workspace: Workspace, database_url: str
) -> None:
    from procrastinate.periodic import PeriodicDeferrer

    from newswatch.distributed import ensure_schema, make_app

    workspace.write_config(CONFIG.format(extra="retention: {articles: 30d, alerts: 30d}"))
    config = workspace.load_config()
    db = Database(database_url)
    ensure_schema(database_url)
    article_id = _store(db, _article("old", "desk"), T0)
    _read(db, "desk", T0 + DAY)
    nodes = [make_app(Service(config, db, now=lambda: NOW)) for _ in range(2)]
    periodic = nodes[0].periodic_registry.periodic_tasks[("newswatch.prune", "prune")]
    start = datetime(2026, 6, 1, 9, 30, tzinfo=UTC).timestamp()
    runs = [periodic.croniter.get_next(float, start + n * 3600) for n in range(3)]
    assert [datetime.fromtimestamp(r, UTC).strftime("%H:%M:%S") for r in runs] == [
        "10:17:00",
        "11:17:00",
        "12:17:00",
    ]

    async def go() -> int:
        tick = runs[0] + 1  # both nodes' periodic deferrers wake just after 10:17
        for app in nodes:
            async with app.open_async():
                deferrer = PeriodicDeferrer(app.periodic_registry)
                await deferrer.defer_jobs(t for t in deferrer.get_previous_tasks(tick) if t[0] is periodic)
        async with nodes[0].open_async():
            await nodes[0].tasks["newswatch.prune"].func(timestamp=int(runs[0]))
        with psycopg.connect(database_url.replace("+psycopg", "")) as connection:
            row = connection.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'newswatch.prune'"
            ).fetchone()
        assert row is not None
        return int(row[0])

    try:
        assert asyncio.run(go()) == 1
        assert article_id not in _ids(db, ArticleRow.id)
    finally:
        db.close()
