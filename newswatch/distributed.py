"""Scale-out on procrastinate: several nodes on one PostgreSQL share polls and deliveries.

A periodic task (run once per second cluster-wide) claims due sources with
SELECT ... FOR UPDATE SKIP LOCKED, moves their `next_poll_at` on and defers one poll task each.
Every node on the `deliver` queue drains the outbox itself, at once when its own poll queued
alerts and else every DELIVERY_TICK: drains claim pages of alerts (alerts/outbox.py `claim`), so N
nodes send N pages at once. Retention (newswatch/retention.py) is an hourly periodic task,
deferred once per hour cluster-wide. Every task is idempotent: the unique constraints on articles
and on the outbox make a re-run after a crash harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

import procrastinate
import procrastinate.worker
from procrastinate.job_context import AbortReason, JobContext
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from core.config import Config
from core.db import Database, SourceState
from core.errors import ConfigError
from newswatch import cluster, status, websub
from newswatch.service import Service
from newswatch.web import Probe, StatusServer

log = logging.getLogger(__name__)

SCHEDULE, POLL, DELIVER, FIXTURES = "schedule", "poll", "deliver", "fixtures"
WORKER_QUEUES = (SCHEDULE, POLL, DELIVER)  # a plain worker has no fixture folder
ALL_QUEUES = (*WORKER_QUEUES, FIXTURES)  # the `run --distributed` node has it
CLAIM_BATCH = 500
STALLED_AFTER = 10.0  # seconds without a worker heartbeat before its jobs are run again
KEEP_JOBS_HOURS = 24
STOP_MARGIN = 5.0  # seconds past shutdown_grace a stopping worker gets before it is cancelled
DELIVERY_TICK = 0.5  # seconds between a node's drains when nothing wakes it (retries falling due)
CONCURRENCY = 10  # tasks one worker runs at once
_SCHEMA_LOCK = 0x6E777363686D61
# Retention runs hourly, at 17 past, once cluster-wide (procrastinate records each periodic defer).
# croniter reads a sixth field as seconds: a five-field cron is minute, hour, day, month, weekday.
PRUNE_CRON = "17 * * * *"


def conninfo(url: str) -> str:
    """The libpq connection string for a SQLAlchemy PostgreSQL URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError("distributed mode needs `database: postgresql+psycopg://...`")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_schema(url: str) -> None:
    """Create procrastinate's tables once (concurrent starts wait on an advisory lock)."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(conninfo(url)) as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        row = connection.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if row is None or row[0] is None:
            connection.execute(SchemaManager.get_schema())


def _register_sources(db: Database, config: Config) -> None:
    rows = [
        {"name": s.name, "location": s.location, "failures": 0, "articles_seen": 0} for s in config.sources
    ]
    if rows:
        with db.session() as session:
            session.execute(postgresql.insert(SourceState).values(rows).on_conflict_do_nothing())


def make_app(service: Service, wake: asyncio.Event | None = None) -> procrastinate.App:
    """The procrastinate app whose tasks run on `service` (this node's config, database, channels);
    a poll that queued alerts sets `wake`, this node's delivery loop (`deliver_loop`)."""
    config, db = service.config, service.db
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(config.database)))
    enabled = {s.name: s for s in config.sources if s.enabled}

    @app.task(
        name="newswatch.poll",
        queue=POLL,
        retry=procrastinate.RetryStrategy(max_attempts=3, wait=5),
        pass_context=True,
    )
    async def poll(context: JobContext, source: str) -> None:
        try:
            outcome = await service.poll(config.source(source))
        except asyncio.CancelledError:
            # `shutdown_grace` ran out, most likely mid-fetch. procrastinate retries a job cancelled
            # by a shutdown (a running worker takes it in a few seconds, not an interval later;
            # a poll cancelled after its commit stores nothing twice).
            if context.abort_reason() == AbortReason.SHUTDOWN:
                log.warning("poll of %s stopped unfinished (the worker is stopping); it is retried", source)
            raise
        if outcome.alerts and wake is not None:
            wake.set()

    # Deliveries were jobs of this task, one at a time cluster-wide; a job left queued by an older
    # version still drains (claims keep it from clashing with the nodes' own delivery loops).
    @app.task(name="newswatch.deliver", queue=DELIVER)
    async def deliver() -> None:
        await service.deliver()

    @app.periodic(cron="* * * * * *", periodic_id="claim")
    @app.task(name="newswatch.claim_due", queue=SCHEDULE)
    async def claim_due(timestamp: int) -> None:
        now = service.now()
        with db.session() as session:
            # Sources a WebSub hub pushes are polled every `websub.fallback_every` only.
            pushed = websub.pushed_sources(session, now) if config.websub is not None else set()
            due = (
                session.execute(
                    select(SourceState.name)
                    .where(
                        SourceState.name.in_(list(enabled)),
                        or_(SourceState.next_poll_at.is_(None), SourceState.next_poll_at <= now),
                    )
                    .order_by(SourceState.next_poll_at.nulls_first())
                    .limit(CLAIM_BATCH)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            for name in due:
                every = websub.poll_every(enabled[name], config.websub, name in pushed)
                session.execute(
                    update(SourceState).where(SourceState.name == name).values(next_poll_at=now + every)
                )
            by_queue: dict[str, list[dict[str, Any]]] = {}
            for name in due:
                queue = FIXTURES if enabled[name].directory is not None else POLL
                by_queue.setdefault(queue, []).append({"source": name})
            # Deferred before the commit: if deferring fails, the claim rolls back and is retried.
            for queue, batch in by_queue.items():
                await poll.configure(queue=queue, lock=None).batch_defer_async(*batch)
        if due:
            log.info("claimed %d due sources", len(due))
        # The same once-a-second tick does the chores (one cheap query each). An earlier try at
        # separate periodic tasks wrote "*/5 * * * * *" for every five seconds; croniter takes the
        # first field as minutes (seconds come sixth), so those ran every second of every fifth minute.
        await maintain()

    if config.websub is not None:
        # WebSub leases (renewals, lapses, unsubscribing removed sources): once a minute cluster-wide.
        @app.periodic(cron="* * * * *", periodic_id="websub")
        @app.task(
            name="newswatch.websub",
            queue=SCHEDULE,
            lock="newswatch.websub",
            queueing_lock="newswatch.websub",
        )
        async def websub_leases(timestamp: int) -> None:
            await service.websub_maintain()

    @app.periodic(cron=PRUNE_CRON, periodic_id="prune")
    @app.task(name="newswatch.prune", queue=SCHEDULE, lock="newswatch.prune", queueing_lock="newswatch.prune")
    async def prune(timestamp: int) -> None:
        await service.prune_on_schedule()

    async def maintain() -> None:
        jobs = app.job_manager
        for job in await jobs.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER):
            assert job.id is not None
            try:
                await jobs.retry_job(job)
            except procrastinate.exceptions.UniqueViolation:
                # A job with the same queueing lock is queued already and does the same work.
                await jobs.finish_job_by_id_async(job.id, procrastinate.jobs.Status.FAILED, False)
                log.warning(
                    "closed job %s (%s): its worker stopped; a fresh one is queued", job.id, job.task_name
                )
                continue
            log.warning("re-running job %s (%s): its worker stopped", job.id, job.task_name)
        await jobs.delete_old_jobs(nb_hours=KEEP_JOBS_HOURS, include_failed=True)

    return app


async def run_node(
    config: Config, db: Database, queues: tuple[str, ...], name: str, role: str = "worker"
) -> None:
    """Run one node until SIGTERM or SIGINT: a procrastinate worker on `queues`, its heartbeat row,
    and the `http:` endpoint when configured. A `scheduler` node (`run --distributed`) first takes
    the cluster's scheduler lock, waiting as a standby while another node holds it."""
    ensure_schema(config.database)
    _register_sources(db, config)
    node = cluster.NodeInfo(name, role, queues, http=config.http.listen if config.http else None)
    worker: procrastinate.worker.Worker | None = None

    def is_ready() -> tuple[bool, dict[str, bool]]:
        checks = {
            "database": status.database_ok(db),
            "worker": node.state == "running"
            and worker is not None
            and cluster.worker_alive(db, worker.worker_id, STALLED_AFTER),
        }
        return all(checks.values()), checks

    probe = Probe(is_ready, lambda: cluster.next_polls(db), node=name, state=lambda: node.state, cluster=True)
    wake = asyncio.Event()
    async with Service(config, db) as service:
        service.on_alerts = wake.set  # a push's alerts go out through this node's delivery loop
        app = make_app(service, wake)
        with _serving(service, probe):
            beats = asyncio.create_task(cluster.heartbeat(db, node))
            lock = cluster.SchedulerLock(db) if role == "scheduler" else None
            try:
                if lock is not None and not await _standby(lock, node):
                    return
                async with app.open_async():
                    worker = procrastinate.worker.Worker(
                        app=app,
                        queues=list(queues),
                        name=name,
                        concurrency=CONCURRENCY,
                        delete_jobs="successful",
                        update_heartbeat_interval=2,
                        stalled_worker_timeout=STALLED_AFTER,
                        install_signal_handlers=True,
                        # On SIGTERM running jobs get `shutdown_grace`, then are cancelled (a poll is
                        # retried by a running worker; a prune stops after the batch it is in).
                        shutdown_graceful_timeout=config.shutdown_grace.total_seconds(),
                    )
                    node.state = "running"
                    with contextlib.suppress(Exception):  # the heartbeat task retries
                        await asyncio.to_thread(cluster.beat, db, node)  # say so now, not at the next beat
                    log.info(
                        "%s %s running on queues %s; stop with Ctrl-C or SIGTERM",
                        role,
                        name,
                        ", ".join(queues),
                    )
                    helpers = []
                    if DELIVER in queues:
                        helpers.append(asyncio.create_task(deliver_loop(service, wake)))
                    if lock is not None:
                        helpers.append(
                            asyncio.create_task(cluster.watch_scheduler_lock(lock, lambda: worker.stop()))  # type: ignore[no-untyped-call]
                        )
                    try:
                        await _run_worker(worker, config.shutdown_grace.total_seconds() + STOP_MARGIN)
                    finally:
                        for helper in helpers:
                            helper.cancel()
                        await asyncio.gather(*helpers, return_exceptions=True)
            finally:
                beats.cancel()
                await asyncio.gather(beats, return_exceptions=True)
                await asyncio.to_thread(cluster.stopped, db, node)
                if lock is not None:
                    await asyncio.to_thread(lock.release)
    log.info("stopped")


async def _run_worker(worker: procrastinate.worker.Worker, deadline: float) -> None:
    """Run the procrastinate worker; once it is asked to stop, give it `deadline` seconds to return
    (its running jobs get `shutdown_grace`), then cancel it rather than run on half-stopped."""
    stopping = asyncio.Event()
    stop = worker.stop

    def stop_and_note() -> None:  # what the worker's SIGTERM handler and a lost lock call
        stopping.set()
        stop()  # type: ignore[no-untyped-call]

    worker.stop = stop_and_note  # type: ignore[method-assign]
    running = asyncio.ensure_future(worker.run())  # type: ignore[no-untyped-call]
    asked = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({running, asked}, return_when=asyncio.FIRST_COMPLETED)
    asked.cancel()
    if not running.done():
        done, _ = await asyncio.wait({running}, timeout=deadline)
        if not done:
            log.error("the worker did not stop %.0f s after it was asked to; cancelling it", deadline)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            return
    running.result()


async def deliver_loop(service: Service, wake: asyncio.Event) -> None:
    """This node's share of delivery: drain, then again when woken or after DELIVERY_TICK."""
    while True:
        try:
            await service.deliver()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next tick tries again
            log.error("delivery failed: %s; trying again", " ".join(str(exc).split()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), DELIVERY_TICK)
        wake.clear()


async def _standby(lock: cluster.SchedulerLock, node: cluster.NodeInfo) -> bool:
    """Wait for the scheduler lock; False when SIGTERM or SIGINT came first."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        waiting = asyncio.create_task(cluster.wait_for_scheduler_lock(lock, node))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not waiting.done():
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            log.info("standby stopped before taking over")
            return False
        waiting.result()
        return True
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


@contextlib.contextmanager
def _serving(service: Service, probe: Probe) -> Iterator[None]:
    """The node's HTTP endpoint and WebSub callback while the block runs, each when configured."""
    with websub.serving(service, asyncio.get_running_loop()), _status(service, probe):
        yield


@contextlib.contextmanager
def _status(service: Service, probe: Probe) -> Iterator[None]:
    http = service.config.http
    if http is None:
        yield
        return
    try:
        server = StatusServer(service, http.address, probe)
    except OSError as exc:
        raise ConfigError(f"http.listen: cannot listen on {http.listen}: {exc}") from None
    server.start()
    try:
        yield
    finally:
        server.close()
