"""Service wiring: poll a source -> clean -> store -> match -> outbox, and drain the outbox."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from alerts import channel_state, throttle
from alerts.channels import Channel, make_channel
from alerts.delivery import DeliveryPlan, DeliveryReport, deliver_due
from alerts.outbox import enqueue, enqueue_many, enqueue_update
from alerts.rules import Matcher
from alerts.signing import new_message_id
from core import metrics
from core.config import Config, SourceConfig
from core.db import Database, error_reason, utcnow
from core.errors import SourceError
from ingest.boilerplate import compile_boilerplate
from ingest.clean import clean
from ingest.dedup import NearDuplicateIndex
from ingest.http import make_client
from ingest.models import RawItem
from ingest.polling import backoff, first_poll_offset
from ingest.sources.directory import read_directory
from ingest.sources.feed import FeedFetchError, fetch_feed, parse_retry_after
from ingest.store import (
    load_index,
    raw_hash,
    remember_raw,
    seen_again,
    source_state,
    store_articles,
    unchanged,
)
from newswatch.retention import Pruned, prune

log = logging.getLogger(__name__)

DELIVERY_EVERY = timedelta(seconds=5)
# Retention runs hourly, first a minute after start (not at once: start-up loads the dedup index).
PRUNE_EVERY = timedelta(hours=1)
PRUNE_FIRST = timedelta(minutes=1)
# Under `run --once`, retries falling due within this long are waited for and made in the same run.
EARLY_RETRY_WINDOW = timedelta(seconds=10)
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
    skipped: str | None = None  # why the source was not polled (disabled, or inside its retry window)
    merged: int = 0  # duplicates of stored articles, recorded as sightings


class Service:
    """One Newswatch node: its config, database, HTTP clients and channels."""

    def __init__(self, config: Config, db: Database, now: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.db = db
        self.now = now
        self.use_rules(config)
        self._feed_client: httpx.AsyncClient | None = None
        self._hook_client: httpx.AsyncClient | None = None
        self.channels: dict[str, Channel] = {}
        self._delivering = asyncio.Lock()
        self._fetching = asyncio.Semaphore(config.fetch.concurrency)
        self._index: NearDuplicateIndex | None = None
        self.scheduler: AsyncIOScheduler | None = None
        # Set when `run_forever` starts stopping: a prune in its thread ends at its next batch.
        self._stopping = threading.Event()

    def use_rules(self, config: Config) -> None:
        """Build what the config's rules, cleaning and delivery settings compile to (at start and on
        reload): the one matcher over every rule, the boilerplate list, the delivery plan."""
        self.matcher = Matcher(config.rules)
        self.boilerplate = compile_boilerplate(
            config.cleaning.boilerplate, replace_defaults=config.cleaning.replace_default_boilerplate
        )
        self.delivery_plan = DeliveryPlan.from_config(config)

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
            if state.feed_url != source.feed:  # a new URL in the config starts afresh
                state.feed_url, state.current_url, state.disabled = source.feed, None, False
                state.retry_not_before = None
            etag, last_modified = state.etag, state.last_modified
            url = state.current_url or source.feed
            skip = _skip_reason(state.disabled, state.retry_not_before, started)
        if skip is not None:
            log.info("skipped: %s", skip, extra=context)
            return PollOutcome(source.name, ok=True, skipped=skip)
        try:
            async with self._fetching:
                items, etag, last_modified, status, moved_to = await self._fetch(
                    source, url, etag, last_modified
                )
            hashes = {item.key: raw_hash(item) for item in items}
            with self.db.session() as session:
                same = unchanged(session, source.name, hashes)
            # Items exactly as stored last time are not cleaned, deduplicated or matched again.
            fresh = [item for item in items if item.key not in same]
            articles = [clean(item, self.boilerplate, base=url) for item in fresh]
        except SourceError as exc:
            self._record_failure(source, exc, started)
            metrics.poll_done(source.name, "error", time.monotonic() - clock)
            await self.check_health(source)
            return PollOutcome(source.name, ok=False, error=exc.reason)

        with self.db.session() as session:  # articles, matches and outbox in one transaction
            stored = store_articles(session, articles, started, self._near_duplicates(session, started))
            remember_raw(session, source.name, {item.key: hashes[item.key] for item in fresh})
            if status != 304:  # a full read: the items left unchanged are still in the feed too
                seen_again(session, source.name, same, started)
            merged_levels = [s.how for s in stored if s.merged]
            merged = len(merged_levels)
            stored = [s for s in stored if not s.merged]  # a duplicate's story has been matched already
            rules = {rule.name: rule for rule in self.matcher.rules}
            alerts, batch = 0, []
            for item in stored:
                for match in self.matcher.match(item.article, item.id):
                    rule = rules[match.rule]
                    metrics.rule_matched(rule.name)
                    # An updated article alerts again only for a rule with `on_update`.
                    update = rule.config.on_update and not item.is_new
                    if not update and rule.max_per_hour is None:  # nothing to hold or count
                        batch.append((match, rule.notify))
                        continue
                    # A limited rule counts the alerts already written, so each is written at once.
                    wait = throttle.decide(session, rule, match, started, update=update)
                    alerts += (enqueue_update if update else enqueue)(
                        session, match, rule.notify, started, wait
                    )
            alerts += enqueue_many(session, batch, started)
            state = source_state(session, source.name, source.location)
            new = sum(1 for s in stored if s.is_new)
            state.last_polled_at = started
            state.last_success_at = started
            state.last_status = "not modified" if status == 304 else "ok"
            state.last_error = None
            state.failures = 0
            state.retry_not_before = None
            state.next_poll_at = started + source.every
            state.http_status = status if source.feed is not None else None
            state.articles_seen += new
            state.etag, state.last_modified = etag, last_modified
            if status != 304:
                state.items_read_at = started  # sightings last seen now are what the feed carries
            if moved_to is not None and moved_to != state.current_url:
                log.warning("feed moved permanently to %s; polled there from now on", moved_to, extra=context)
                state.current_url = moved_to
        outcome = PollOutcome(source.name, True, len(items), new, len(stored) - new, alerts, merged=merged)
        label = "not_modified" if status == 304 else "ok"
        metrics.poll_done(source.name, label, time.monotonic() - clock, outcome.new, outcome.updated)
        for level in merged_levels:
            metrics.duplicate_merged(level)
        await self.check_health(source)
        log.info(
            "polled: %d items, %d new, %d updated, %d duplicates merged, %d alerts queued",
            outcome.items,
            outcome.new,
            outcome.updated,
            outcome.merged,
            outcome.alerts,
            extra=context,
        )
        return outcome

    def _record_failure(self, source: SourceConfig, exc: SourceError, started: datetime) -> None:
        """Store a failed poll: its error and status, and the window before the next try."""
        context = {"source": source.name}
        fetch = self.config.fetch
        status = getattr(exc, "status", None)
        with self.db.session() as session:
            state = source_state(session, source.name, source.location)
            state.last_polled_at = started
            state.last_status = "error"
            state.last_error = exc.reason
            state.http_status = status
            state.failures += 1
            wait = backoff(state.failures, fetch.backoff, fetch.max_backoff)
            retry_after = None
            if isinstance(exc, FeedFetchError):
                retry_after = parse_retry_after(exc.retry_after, started)
            if retry_after is not None:
                wait = min(retry_after, fetch.max_backoff)
            state.retry_not_before = started + wait
            state.next_poll_at = max(started + source.every, state.retry_not_before)
            if isinstance(exc, FeedFetchError) and exc.gone:
                state.disabled = True
                state.last_status = "gone"
                log.error(
                    "DISABLED: %s answered 410 Gone; this source will not be polled again until its"
                    " feed URL changes in the config",
                    state.current_url or source.feed,
                    extra=context,
                )
                return
        log.error("poll failed: %s (next try in %ds)", exc.reason, wait.total_seconds(), extra=context)

    def _near_duplicates(self, session: Session, now: datetime) -> NearDuplicateIndex:
        """The LSH index of recent articles: rebuilt from stored signatures on first use, then kept."""
        if self._index is None:
            dedup = self.config.dedup
            self._index = load_index(session, NearDuplicateIndex(dedup.threshold, dedup.window), now)
            log.info("dedup index loaded: %d recent articles", len(self._index))
        else:
            self._index.prune(now)
        return self._index

    async def _fetch(
        self, source: SourceConfig, url: str | None, etag: str | None, last_modified: str | None
    ) -> tuple[list[RawItem], str | None, str | None, int, str | None]:
        fetch = self.config.fetch
        if source.directory is not None:
            items = await asyncio.to_thread(
                read_directory, source.name, source.directory, max_bytes=fetch.max_bytes
            )
            return items, None, None, 200, None
        assert url is not None and self._feed_client is not None
        headers = dict(source.headers)
        if source.user_agent:
            headers["User-Agent"] = source.user_agent
        result = await fetch_feed(
            self._feed_client,
            source.name,
            url,
            etag=etag,
            last_modified=last_modified,
            headers=headers,
            max_bytes=fetch.max_bytes,
            deadline=fetch.fetch_deadline.total_seconds(),
            timeout=source.timeout.total_seconds() if source.timeout is not None else None,
            max_redirects=fetch.max_redirects,
        )
        return result.items, result.etag, result.last_modified, result.status, result.moved_to

    async def check_health(self, source: SourceConfig) -> None:
        """Raise or clear the source's health event (alerts/health.py); never raises."""
        from alerts.health import check_source

        await check_source(self.db, self.channels, self.config.health.notify, source, self.now())

    async def deliver(self, linger: timedelta = timedelta(0)) -> DeliveryReport:
        """Send what the outbox holds that is due (one drain at a time); see `deliver_due` on linger."""
        async with self._delivering:
            return await deliver_due(self.db, self.channels, self.now, self.delivery_plan, linger=linger)

    async def send_test(self, channel: str) -> str:
        """Send a test event to `channel` and return its id; success re-enables a disabled channel."""
        message_id = new_message_id()
        await self.channels[channel].send_test(message_id)
        with self.db.session() as session:
            if channel_state.enable(session, channel):
                log.warning("channel enabled again after a successful test", extra={"channel": channel})
        return message_id

    async def prune(self, *, dry_run: bool = False) -> Pruned:
        """Delete what `retention` lets go (newswatch/retention.py), in a thread so a big prune does
        not hold up polls and deliveries; pruned ids leave the near-duplicate index too. It stops
        between batches once the service is stopping or this call is cancelled."""
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()

        def forget(ids: Sequence[int]) -> None:  # the index belongs to the event loop's thread
            loop.call_soon_threadsafe(self._forget, ids)

        def should_stop() -> bool:
            return self._stopping.is_set() or cancelled.is_set()

        names = [s.name for s in self.config.sources]
        now = self.now()
        try:
            return await asyncio.to_thread(
                prune,
                self.db,
                self.config.retention,
                names,
                now,
                dry_run=dry_run,
                forget=forget,
                should_stop=should_stop,
            )
        except asyncio.CancelledError:
            # Cancelling the await leaves the thread running, and asyncio.run waits for it at exit.
            cancelled.set()
            raise

    def _forget(self, ids: Sequence[int]) -> None:
        if self._index is not None:
            for article_id in ids:
                self._index.remove(article_id)

    async def prune_on_schedule(self) -> None:
        """The periodic job (single-node and distributed): prune when retention is set; an error is
        logged and the next run tries again."""
        if not self.config.retention.enabled:
            return
        try:
            await self.prune()
        except SQLAlchemyError as exc:
            log.error("prune failed: %s; the next run tries again", error_reason(exc))

    async def poll_many(self, sources: Sequence[SourceConfig]) -> list[PollOutcome]:
        """Poll `sources` once each, `fetch.concurrency` at a time, and return their outcomes in order.
        Only that many polls exist at once, so 10,000 sources cost no more memory than 20."""
        outcomes: list[PollOutcome | None] = [None] * len(sources)
        queue = iter(enumerate(sources))

        async def worker() -> None:
            for index, source in queue:
                outcomes[index] = await self.poll(source)

        await asyncio.gather(*(worker() for _ in range(min(self.config.fetch.concurrency, len(sources)))))
        return [o for o in outcomes if o is not None]

    async def run_once(self) -> bool:
        """Poll every enabled source once, then deliver; True when nothing failed."""
        outcomes = await self.poll_many([s for s in self.config.sources if s.enabled])
        report = await self.deliver(linger=EARLY_RETRY_WINDOW)
        return all(o.ok for o in outcomes) and report.ok

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Poll each source on its own schedule and deliver continuously until `stop` is set."""
        scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler = scheduler
        self._stopping.clear()
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
        scheduler.add_job(
            self.prune_on_schedule,
            IntervalTrigger(seconds=PRUNE_EVERY.total_seconds()),
            id="prune",
            name="prune",
            max_instances=1,
            coalesce=True,
            next_run_time=now + PRUNE_FIRST,
        )
        scheduler.start()
        polls = sum(1 for job in scheduler.get_jobs() if job.id.startswith("poll:"))
        log.info("running: %d sources scheduled; stop with Ctrl-C or SIGTERM", polls)
        try:
            await stop.wait()
        finally:
            grace = self.config.shutdown_grace.total_seconds()
            log.info("stopping: no new polls; in-flight work gets %.0f s to finish", grace)
            # Pause (no new polls) rather than shut down: shutdown cancels the jobs that are running.
            scheduler.pause()
            self._stopping.set()  # nothing waits for a prune: it ends at its next batch
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
            self.poll_and_deliver,
            IntervalTrigger(seconds=seconds, jitter=min(seconds / 10, 60)),
            args=[source],
            id=f"poll:{source.name}",
            name=f"poll {source.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(seconds),
            replace_existing=True,
            # Spread the first polls so many sources do not start in the same second.
            next_run_time=now + first_poll_offset(source.name, source.every, len(self.config.sources)),
        )

    async def poll_and_deliver(self, source: SourceConfig) -> PollOutcome:
        """The scheduled job: poll, and send what the poll matched at once, not at the next tick."""
        outcome = await self.poll(source)
        if outcome.alerts:
            await self.deliver()
        return outcome


def _skip_reason(disabled: bool, retry_not_before: datetime | None, now: datetime) -> str | None:
    if disabled:
        return "disabled after 410 Gone"
    if retry_not_before is not None and now < retry_not_before:
        return f"waiting until {retry_not_before:%Y-%m-%d %H:%M:%S}Z (Retry-After or backoff)"
    return None


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
