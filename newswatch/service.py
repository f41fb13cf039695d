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

import aiohttp
import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from alerts import channel_state
from alerts.channels import Channel, make_channel
from alerts.channels.webhook import make_session
from alerts.delivery import DeliveryPlan, DeliveryReport, deliver_due
from alerts.rules import Matcher
from alerts.signing import new_message_id
from core import metrics
from core.config import Config, SourceConfig, WebSubSettings
from core.db import ArticleRow, Database, error_reason, utcnow
from core.errors import SourceError
from core.memory import limit_malloc_arenas
from ingest.boilerplate import compile_boilerplate
from ingest.dedup import MergeRules, NearDuplicateIndex
from ingest.discovery import FeedLinks, discover
from ingest.http import make_client
from ingest.pages import PageFetcher
from ingest.polling import first_poll_offset
from ingest.pool import shared_pool
from ingest.process import Job, Processed
from ingest.sources.feed import FeedFetchError
from ingest.store import load_index, refresh_index
from newswatch import pipeline
from newswatch.retention import Pruned, prune
from newswatch.websub import MAINTAIN_EVERY, WebSub, poll_every, pushed_sources

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
    dropped: int = 0  # items past fetch.max_items, not processed
    pages: int = 0  # linked pages whose text was used (full_text)
    pages_failed: int = 0  # linked pages wanted but not used: those items kept their feed's text


@dataclass(frozen=True)
class RunReport:
    """What `run --once` did: each source's poll, then the delivery of what they queued."""

    outcomes: tuple[PollOutcome, ...]
    delivery: DeliveryReport

    @property
    def ok(self) -> bool:
        """Nothing failed: every poll, and every delivery tried."""
        return all(o.ok for o in self.outcomes) and self.delivery.ok

    @property
    def polled(self) -> int:
        return sum(1 for o in self.outcomes if o.skipped is None)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    @property
    def new(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def updated(self) -> int:
        return sum(o.updated for o in self.outcomes)

    @property
    def merged(self) -> int:
        return sum(o.merged for o in self.outcomes)


class Service:
    """One Newswatch node: its config, database, HTTP clients and channels."""

    def __init__(self, config: Config, db: Database, now: Callable[[], datetime] = utcnow) -> None:
        limit_malloc_arenas()  # before the polling threads start: see core/memory.py
        self.config = config
        self.db = db
        self.now = now
        self.use_rules(config)
        self._feed_client: httpx.AsyncClient | None = None
        self._page_client: httpx.AsyncClient | None = None  # made at the first full_text poll
        self._pages: PageFetcher | None = None
        self._hook_client: aiohttp.ClientSession | None = None
        self.channels: dict[str, Channel] = {}
        self._delivering = asyncio.Lock()
        self._fetching = asyncio.Semaphore(config.fetch.concurrency)
        self._in_flight = asyncio.Semaphore(config.fetch.concurrency * 2)
        self._index: NearDuplicateIndex | None = None
        self._indexed_upto = 0  # the highest article id the index has looked at
        self.scheduler: AsyncIOScheduler | None = None
        # Subscriptions to WebSub hubs: set while the callback listener runs (newswatch/websub.py).
        self.websub: WebSub | None = None
        # What a push that queued alerts calls; None sends them at once (a distributed node wakes
        # its delivery loop instead).
        self.on_alerts: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        # Set when `run_forever` starts stopping: a prune or a big poll's store ends at its next batch.
        self._stopping = threading.Event()
        self.pool = shared_pool(config.pipeline.workers)
        self._store = pipeline.StoreContext(
            db,
            self.matcher,
            self._near_duplicates,
            config.pipeline.batch,
            threading.Lock(),
            self._stopping,
        )

    def use_rules(self, config: Config) -> None:
        """Build what the config's rules, cleaning and delivery settings compile to (at start and on
        reload): the one matcher over every rule, the boilerplate list, the delivery plan."""
        self.matcher = Matcher(config.rules)
        self.boilerplate = compile_boilerplate(
            config.cleaning.boilerplate, replace_defaults=config.cleaning.replace_default_boilerplate
        )
        self.delivery_plan = DeliveryPlan.from_config(config)
        if hasattr(self, "_store"):
            self._store.matcher = self.matcher

    async def __aenter__(self) -> Service:
        self._feed_client = make_client(self.config.fetch)
        self._hook_client = make_session()
        self.channels = {c.name: make_channel(c, self._hook_client) for c in self.config.channels}
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for client in (self._feed_client, self._page_client):
            if client is not None:
                await client.aclose()
        if self._hook_client is not None:
            await self._hook_client.close()

    def start_websub(self, settings: WebSubSettings) -> WebSub:
        """Subscribe to the hubs feeds advertise from now on (the callback listener is up)."""
        assert self._feed_client is not None, "use the service as `async with Service(...)`"
        self.websub = WebSub(settings, self.db, self._feed_client, self.config.fetch, self.now)
        return self.websub

    async def poll(self, source: SourceConfig) -> PollOutcome:
        """Poll one source through the pipeline's stages (newswatch/pipeline.py): fetch, process,
        store. Any failure is this source's alone: recorded with its backoff, logged, never raised."""
        context = {"source": source.name}
        started = self.now()
        clock = time.monotonic()
        websub = self.websub if source.feed is not None else None
        try:
            before = await asyncio.to_thread(
                pipeline.read_state, self.db, source, started, websub is not None
            )
            if before.skip is not None:
                log.info("skipped: %s", before.skip, extra=context)
                return PollOutcome(source.name, ok=True, skipped=before.skip)
            every = poll_every(source, self.config.websub, before.pushed)
            if every != source.every:  # the next poll is due after the fallback interval
                source = source.model_copy(update={"every": every})
            async with self._in_flight:  # bodies fetched and not yet processed stay bounded
                async with self._fetching:
                    began = time.perf_counter()
                    fetched = await pipeline.fetch(self._feed_client, source, before, self.config.fetch)
                    metrics.stage_time("fetch", time.perf_counter() - began)
                processed = await self._process(source, fetched, discover=websub is not None)
                metrics.stage_time("process", processed.seconds)
            # Outside the in-flight bound: a poll waiting on a polite host holds up no other poll.
            processed, pages = await self._full_text(source, processed)
            done = await asyncio.to_thread(pipeline.commit, self._store, source, fetched, processed, started)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one source's failure, whatever it is, stays its own
            return await self._failed(source, exc, started, clock)
        if websub is not None and fetched.status != 304 and not done.stopped:
            await self._discovered(websub, source, discover(fetched.link, processed.links, fetched.url))
        if done.stopped:
            return PollOutcome(source.name, ok=True, skipped="the service is stopping")
        outcome = PollOutcome(
            source.name,
            True,
            processed.items,
            done.new,
            done.updated,
            done.alerts,
            merged=len(done.merged_levels),
            dropped=processed.dropped,
            pages=pages.used,
            pages_failed=pages.failed,
        )
        label = "not_modified" if fetched.status == 304 else "ok"
        metrics.poll_done(source.name, label, time.monotonic() - clock, outcome.new, outcome.updated)
        for level in done.merged_levels:
            metrics.duplicate_merged(level)
        await self.check_health(source)
        if processed.dropped:
            log.warning(
                "%d items past fetch.max_items (%d) were not processed",
                processed.dropped,
                self.config.fetch.max_items,
                extra=context,
            )
        if pages.wanted:
            log.info(
                "full text: %d pages used, %d items kept their feed's text",
                pages.used,
                pages.failed,
                extra=context,
            )
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

    async def _discovered(self, websub: WebSub, source: SourceConfig, links: FeedLinks) -> None:
        """Subscribe to (or leave) the hub the polled feed names; a hub's trouble is never the poll's."""
        try:
            if await websub.after_poll(source, links):
                await self.sync_schedules()
        except Exception as exc:  # noqa: BLE001 - logged; the next poll tries again
            log.error("websub: subscription step failed: %s", exc, extra={"source": source.name})

    async def receive_push(
        self, source: SourceConfig, body: bytes, content_type: str, topic: str
    ) -> PollOutcome:
        """A body a WebSub hub pushed for `source`: the process and store stages of a poll (parse,
        clean, dedup, match, outbox; exactly once), without the fetch and without touching the
        source's poll record. Raises on failure: the callback answers 5xx and the hub retries."""
        started = self.now()
        fetched = pipeline.Fetched(200, body, topic, content_type, pushed=True)
        async with self._in_flight:
            processed = await self._process(source, fetched)
            metrics.stage_time("process", processed.seconds)
        done = await asyncio.to_thread(pipeline.commit, self._store, source, fetched, processed, started)
        if done.stopped:
            return PollOutcome(source.name, ok=True, skipped="the service is stopping")
        metrics.push_done(source.name, done.new, done.updated)
        for level in done.merged_levels:
            metrics.duplicate_merged(level)
        log.info(
            "pushed: %d items, %d new, %d updated, %d duplicates merged, %d alerts queued",
            processed.items,
            done.new,
            done.updated,
            len(done.merged_levels),
            done.alerts,
            extra={"source": source.name},
        )
        if done.alerts:
            self._alerts_queued()
        return PollOutcome(
            source.name,
            True,
            processed.items,
            done.new,
            done.updated,
            done.alerts,
            merged=len(done.merged_levels),
            dropped=processed.dropped,
        )

    def _alerts_queued(self) -> None:
        """Send what a push queued now, not at the next delivery tick."""
        if self.on_alerts is not None:
            self.on_alerts()
            return
        task: asyncio.Task[object] = asyncio.ensure_future(self.deliver())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def websub_maintain(self) -> None:
        """The periodic lease work (newswatch/websub.py `WebSub.maintain`); errors are logged."""
        websub = self.websub
        if websub is None:
            return
        try:
            await websub.maintain(self.config.sources)
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.error("websub: lease maintenance failed: %s", exc)
        await self.sync_schedules()

    async def sync_schedules(self) -> None:
        """Poll each source at the interval its subscription calls for (single node: the scheduler's
        jobs): `websub.fallback_every` while a hub pushes it, else its `every`. A source going back to
        its `every` is polled soon, since the pushes it missed are only in the feed."""
        scheduler = self.scheduler
        if scheduler is None or not scheduler.running or self.config.websub is None:
            return
        try:
            pushed = await asyncio.to_thread(self._pushed_now)
        except SQLAlchemyError as exc:
            log.error("websub: cannot read the subscriptions: %s", error_reason(exc))
            return
        enabled = [s for s in self.config.sources if s.enabled]
        for source in enabled:
            job = scheduler.get_job(f"poll:{source.name}")
            every = poll_every(source, self.config.websub, source.name in pushed)
            if job is None or getattr(job.trigger, "interval", every) == every:
                continue
            now = utcnow()
            if source.name in pushed:
                first = now + every
                log.info(
                    "websub: a hub pushes this source; polled every %s now",
                    every,
                    extra={"source": source.name},
                )
            else:
                first = now + first_poll_offset(source.name, every, len(enabled))
                log.info(
                    "websub: no hub pushes this source; polled every %s again",
                    every,
                    extra={"source": source.name},
                )
            self.schedule_poll(source, now, every=every, first=first)

    def _pushed_now(self) -> set[str]:
        with self.db.session() as session:
            return pushed_sources(session, self.now())

    async def _process(
        self, source: SourceConfig, fetched: pipeline.Fetched, *, discover: bool = False
    ) -> Processed:
        """The CPU stage in the process pool, under `pipeline.process_timeout`."""
        if fetched.status == 304:
            return Processed(0, 0, (), ())
        known = await asyncio.to_thread(pipeline.known_hashes, self.db, source.name)
        job = Job(
            source.name,
            body=fetched.body,
            url=fetched.url,
            content_type=fetched.content_type,
            items=fetched.items,
            known=known,
            boilerplate=self.boilerplate,
            max_items=self.config.fetch.max_items,
            discover=discover,
        )
        budget = self.config.pipeline.process_timeout.total_seconds()
        return await self.pool.run(job, budget)

    async def _full_text(
        self, source: SourceConfig, processed: Processed
    ) -> tuple[Processed, pipeline.Pages]:
        """The full-text stage (newswatch/pipeline.py `full_text`) for a source that wants pages."""
        if source.full_text == "never" or not processed.fresh:
            return processed, pipeline.Pages()
        if self._pages is None:
            self._page_client = make_client(self.config.fetch)
            self._pages = PageFetcher(self._page_client, self.config.fetch, self.config.full_text)
        processed, pages = await pipeline.full_text(
            self.db,
            self.pool,
            self._pages,
            source,
            processed,
            self.config.full_text,
            self.boilerplate,
            self.config.pipeline.process_timeout.total_seconds(),
        )
        metrics.stage_time("pages", pages.seconds)
        return processed, pages

    async def _failed(
        self, source: SourceConfig, exc: Exception, started: datetime, clock: float
    ) -> PollOutcome:
        """Record and log a failed poll; an unexpected exception's traceback goes to debug only."""
        context = {"source": source.name}
        if isinstance(exc, SourceError):
            error: SourceError = exc
        else:
            log.debug("poll failed unexpectedly", exc_info=exc, extra=context)
            error = SourceError(source.name, f"unexpected error: {type(exc).__name__}: {exc}")
        metrics.poll_done(source.name, "error", time.monotonic() - clock)
        try:
            wait = await asyncio.to_thread(
                pipeline.record_failure, self.db, source, error, started, self.config.fetch
            )
        except Exception as record_exc:
            log.debug("recording the failure failed", exc_info=record_exc, extra=context)
            log.error(
                "poll failed: %s (and it could not be recorded: %s)", error.reason, record_exc, extra=context
            )
            return PollOutcome(source.name, ok=False, error=error.reason)
        if isinstance(error, FeedFetchError) and error.gone:
            log.error(
                "DISABLED: the feed answered 410 Gone; this source will not be polled again until its"
                " feed URL changes in the config",
                extra=context,
            )
        else:
            log.error("poll failed: %s (next try in %ds)", error.reason, wait.total_seconds(), extra=context)
        try:
            await self.check_health(source)
        except Exception as health_exc:
            log.debug("health check failed", exc_info=health_exc, extra=context)
        return PollOutcome(source.name, ok=False, error=error.reason)

    def _near_duplicates(self, session: Session, now: datetime) -> NearDuplicateIndex:
        """The LSH index of recent articles: rebuilt from stored signatures on first use, then kept."""
        if self._index is None:
            dedup = self.config.dedup
            self._indexed_upto = session.scalar(select(func.max(ArticleRow.id))) or 0
            rules = MergeRules(dedup.threshold, dedup.containment, dedup.min_similarity, dedup.spread)
            index = NearDuplicateIndex(dedup.threshold, dedup.window, rules=rules)
            self._index = load_index(session, index, now)
            log.info("dedup index loaded: %d recent articles", len(self._index))
        else:
            self._index.prune(now)
        # What other nodes stored since: the caller holds the store lock (cluster-wide on PostgreSQL).
        self._indexed_upto = refresh_index(session, self._index, self._indexed_upto, now)
        return self._index

    async def check_health(self, source: SourceConfig) -> None:
        """Raise or clear the source's health event (alerts/health.py); never raises."""
        from alerts.health import check_source

        await check_source(self.db, self.channels, self.config.health.notify, source, self.now())

    async def deliver(self, linger: timedelta = timedelta(0)) -> DeliveryReport:
        """Send what the outbox holds that is due (one drain at a time); see `deliver_due` on linger."""
        async with self._delivering:
            began = time.perf_counter()
            try:
                return await deliver_due(self.db, self.channels, self.now, self.delivery_plan, linger=linger)
            finally:
                metrics.stage_time("deliver", time.perf_counter() - began)

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
        cancelled = threading.Event()

        def forget(ids: Sequence[int]) -> None:  # the index is shared with the store stage's thread
            with self._store.lock:
                self._forget(ids)

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

    async def run_once(self) -> RunReport:
        """Poll every enabled source once, then deliver; the report's `ok`: nothing failed."""
        outcomes = await self.poll_many([s for s in self.config.sources if s.enabled])
        report = await self.deliver(linger=EARLY_RETRY_WINDOW)
        return RunReport(tuple(outcomes), report)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Poll each source on its own schedule and deliver continuously until `stop` is set."""
        scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler = scheduler
        self._stopping.clear()
        now = self.now()
        pushed = await asyncio.to_thread(self._pushed_now) if self.config.websub is not None else set()
        for source in self.config.sources:
            if source.enabled:
                self.schedule_poll(
                    source, now, every=poll_every(source, self.config.websub, source.name in pushed)
                )
        if self.websub is not None:
            scheduler.add_job(
                self.websub_maintain,
                IntervalTrigger(seconds=MAINTAIN_EVERY.total_seconds()),
                id="websub",
                name="websub leases",
                max_instances=1,
                coalesce=True,
                next_run_time=utcnow(),
            )
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

    def schedule_poll(
        self,
        source: SourceConfig,
        now: datetime,
        *,
        every: timedelta | None = None,
        first: datetime | None = None,
    ) -> None:
        """Add (or replace) the interval job that polls `source`: every `every` (default its own
        `every`), first at `first` (default spread over the first seconds from `now`)."""
        assert self.scheduler is not None
        every = every or source.every
        seconds = every.total_seconds()
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
            next_run_time=first or now + first_poll_offset(source.name, every, len(self.config.sources)),
        )

    async def poll_and_deliver(self, source: SourceConfig) -> PollOutcome:
        """The scheduled job: poll, and send what the poll matched at once, not at the next tick."""
        outcome = await self.poll(source)
        if outcome.alerts:
            await self.deliver()
        return outcome


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
