"""Service wiring: poll a source -> clean -> store -> match -> outbox, and drain the outbox."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from alerts.channels import Channel, make_channel
from alerts.delivery import DeliveryReport, deliver_due
from alerts.models import Match
from alerts.outbox import enqueue
from alerts.rules import compile_rules, match_article
from ingest.clean import clean
from ingest.http import make_client
from ingest.models import RawItem
from ingest.sources.directory import read_directory
from ingest.sources.feed import fetch_feed
from ingest.store import source_state, store_articles
from newswatch import metrics
from newswatch.config import Config, SourceConfig
from newswatch.db import Database, utcnow
from newswatch.errors import SourceError

log = logging.getLogger(__name__)

DELIVERY_EVERY = timedelta(seconds=5)
SHUTDOWN_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of one source did."""

    source: str
    ok: bool
    items: int = 0
    new: int = 0
    updated: int = 0
    alerts: int = 0
    error: str | None = None


class Service:
    """One Newswatch node: its config, database, HTTP clients and channels."""

    def __init__(self, config: Config, db: Database, now: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.db = db
        self.now = now
        self.rules = compile_rules(config.rules)
        self._feed_client: httpx.AsyncClient | None = None
        self._hook_client: httpx.AsyncClient | None = None
        self.channels: dict[str, Channel] = {}
        self._delivering = asyncio.Lock()
        self.scheduler: AsyncIOScheduler | None = None

    async def __aenter__(self) -> Service:
        self._feed_client = make_client(self.config.fetch)
        self._hook_client = httpx.AsyncClient(follow_redirects=False)
        self.channels = {c.name: make_channel(c, self._hook_client) for c in self.config.channels}
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for client in (self._feed_client, self._hook_client):
            if client is not None:
                await client.aclose()

    async def poll(self, source: SourceConfig) -> PollOutcome:
        """Poll one source and store what is new; a failure is recorded, never raised."""
        context = {"source": source.name}
        started = self.now()
        clock = time.monotonic()
        with self.db.session() as session:
            state = source_state(session, source.name, source.location)
            etag, last_modified = state.etag, state.last_modified
        try:
            items, etag, last_modified, status = await self._fetch(source, etag, last_modified)
            articles = [clean(item) for item in items]
        except SourceError as exc:
            with self.db.session() as session:
                state = source_state(session, source.name, source.location)
                state.last_polled_at = started
                state.last_status = "error"
                state.last_error = exc.reason
                state.failures += 1
            log.error("poll failed: %s", exc.reason, extra=context)
            metrics.poll_done(source.name, "error", time.monotonic() - clock)
            await self.check_health(source)
            return PollOutcome(source.name, ok=False, error=exc.reason)

        alerts = 0
        with self.db.session() as session:  # articles, matches and outbox in one transaction
            stored = store_articles(session, articles, started)
            for item in stored:
                for rule in self.rules:
                    hits = match_article(rule, item.article)
                    if hits:
                        metrics.rule_matched(rule.name)
                        match = Match(rule.name, item.id, tuple(hits))
                        alerts += enqueue(session, match, rule.notify, started)
            state = source_state(session, source.name, source.location)
            new = sum(1 for s in stored if s.is_new)
            state.last_polled_at = started
            state.last_success_at = started
            state.last_status = "not modified" if status == 304 else "ok"
            state.last_error = None
            state.failures = 0
            state.articles_seen += new
            state.etag, state.last_modified = etag, last_modified
        outcome = PollOutcome(source.name, True, len(items), new, len(stored) - new, alerts)
        label = "not_modified" if status == 304 else "ok"
        metrics.poll_done(source.name, label, time.monotonic() - clock, outcome.new, outcome.updated)
        await self.check_health(source)
        log.info(
            "polled: %d items, %d new, %d updated, %d alerts queued",
            outcome.items,
            outcome.new,
            outcome.updated,
            outcome.alerts,
            extra=context,
        )
        return outcome

    async def _fetch(
        self, source: SourceConfig, etag: str | None, last_modified: str | None
    ) -> tuple[list[RawItem], str | None, str | None, int]:
        fetch = self.config.fetch
        if source.directory is not None:
            items = await asyncio.to_thread(
                read_directory, source.name, source.directory, max_bytes=fetch.max_bytes
            )
            return items, None, None, 200
        assert source.feed is not None and self._feed_client is not None
        result = await fetch_feed(
            self._feed_client,
            source.name,
            source.feed,
            etag=etag,
            last_modified=last_modified,
            headers=source.headers,
            max_bytes=fetch.max_bytes,
            deadline=fetch.timeout.total_seconds() * 2,
        )
        return result.items, result.etag, result.last_modified, result.status

    async def check_health(self, source: SourceConfig) -> None:
        """Raise or clear the source's health event (alerts/health.py); never raises."""
        from alerts.health import check_source

        await check_source(self.db, self.channels, self.config.health.notify, source, self.now())

    async def deliver(self) -> DeliveryReport:
        """Send what the outbox holds that is due (one drain at a time)."""
        async with self._delivering:
            return await deliver_due(self.db, self.channels, self.now)

    async def run_once(self) -> bool:
        """Poll every enabled source once, then deliver; True when nothing failed."""
        sources = [s for s in self.config.sources if s.enabled]
        outcomes = await asyncio.gather(*(self.poll(s) for s in sources))
        report = await self.deliver()
        return all(o.ok for o in outcomes) and report.ok

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Poll each source on its own schedule and deliver continuously until `stop` is set."""
        scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler = scheduler
        now = self.now()
        for source in self.config.sources:
            if source.enabled:
                self.schedule_poll(source, now)
        scheduler.add_job(
            self.deliver,
            IntervalTrigger(seconds=DELIVERY_EVERY.total_seconds()),
            id="deliver",
            name="deliver",
            max_instances=1,
            coalesce=True,
            next_run_time=now,
        )
        scheduler.start()
        log.info("running: %d sources scheduled; stop with Ctrl-C or SIGTERM", len(scheduler.get_jobs()) - 1)
        try:
            await stop.wait()
        finally:
            grace = self.config.shutdown_grace.total_seconds()
            log.info("stopping: no new polls; in-flight work gets %.0f s to finish", grace)
            # Pause (no new polls) rather than shut down: shutdown cancels the jobs that are running.
            scheduler.pause()
            await _finish_running_jobs(grace)
            scheduler.shutdown(wait=False)
            from newswatch.status import record_left_pending

            record_left_pending(self.db)
            log.info("stopped")

    def schedule_poll(self, source: SourceConfig, now: datetime) -> None:
        """Add (or replace) the interval job that polls `source`."""
        assert self.scheduler is not None
        seconds = source.every.total_seconds()
        self.scheduler.add_job(
            self.poll,
            IntervalTrigger(seconds=seconds, jitter=min(seconds / 10, 60)),
            args=[source],
            id=f"poll:{source.name}",
            name=f"poll {source.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(seconds),
            replace_existing=True,
            # Spread the first polls so many sources do not start in the same second.
            next_run_time=now + timedelta(seconds=random.uniform(0, min(seconds / 10, 5))),
        )


async def _finish_running_jobs(grace: float) -> None:
    """Give jobs already running a few seconds to finish, then cancel them."""
    current = asyncio.current_task()
    running = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if not running:
        return
    _done, pending = await asyncio.wait(running, timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)
        log.warning("stopped %d unfinished jobs; their work will be redone next start", len(pending))
