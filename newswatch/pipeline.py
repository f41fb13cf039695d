"""The stages of one poll, as plain functions over plain data.

    fetch (async I/O)  ->  process (worker processes)  ->  store + match + outbox (a thread)

`Service.poll` (newswatch/service.py) wires them: it reads the source's state, fetches under the fetch
deadline, hands the body to the process pool under its own time budget, and commits the result in
batches of `pipeline.batch` items, each batch one transaction holding its articles, sightings, raw
hashes, matches and outbox rows. The event loop only ever waits; it never parses, cleans or queries.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts import throttle
from alerts.outbox import enqueue, enqueue_many, enqueue_update
from alerts.rules import Matcher
from core import metrics
from core.config import FetchSettings, FullTextSettings, SourceConfig
from core.db import Database, PollRow, SightingRow, SourceState
from core.errors import SourceError
from ingest.boilerplate import Boilerplate
from ingest.dedup import NearDuplicateIndex
from ingest.fulltext import PAGE, PageJob, wants_page, without_page
from ingest.models import RawItem
from ingest.pages import PageError, PageFetcher
from ingest.polling import backoff
from ingest.pool import ProcessPool
from ingest.process import Prepared, Processed
from ingest.sources.directory import read_directory
from ingest.sources.feed import FeedFetchError, fetch_feed, parse_retry_after
from ingest.store import Stored, is_story_link, lock_store, seen_again, source_state, store_batch
from newswatch.websub import pushed_sources

log = logging.getLogger(__name__)

POLLS_KEPT = 50  # the newest polls of each source kept for the status page (table `polls`)


@dataclass(frozen=True)
class Before:
    """What a poll needs to know of its source before fetching."""

    url: str | None  # where the feed is read now (after a permanent redirect), None for a folder
    etag: str | None
    last_modified: str | None
    skip: str | None  # why the source is not polled now (disabled, or inside its retry window)
    pushed: bool = False  # a WebSub hub pushes it now: polled only every `websub.fallback_every`


@dataclass(frozen=True)
class Fetched:
    """What the fetch stage gave: a feed body (empty on 304) or a folder's items, and the validators."""

    status: int
    body: bytes = b""
    url: str = ""
    content_type: str = ""
    items: tuple[RawItem, ...] = ()
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    link: str | None = None  # the Link header(s) of the answer (WebSub discovery)
    # A body a WebSub hub pushed, not a poll: stored the same way, but the source's poll record
    # (validators, last poll, next poll) is left alone and the items not in it are not "gone".
    pushed: bool = False


@dataclass(frozen=True)
class Committed:
    """What the store stage did with one poll."""

    new: int = 0
    updated: int = 0
    merged_levels: tuple[str, ...] = ()  # the dedup level of each duplicate merged
    alerts: int = 0
    stopped: bool = False  # the service began stopping between two batches: the rest is redone
    match_seconds: float = 0.0  # of the store stage's time, what matching and the outbox took


class Stopping(Exception):
    """Raised between two batches when the service is stopping."""


def read_state(db: Database, source: SourceConfig, now: datetime, websub: bool = False) -> Before:
    """The source's validators and retry window (a changed feed URL in the config starts afresh);
    with `websub`, whether a hub pushes it now."""
    with db.session() as session:
        state = source_state(session, source.name, source.location)
        if state.feed_url != source.feed:
            state.feed_url, state.current_url, state.disabled = source.feed, None, False
            state.retry_not_before = None
        skip = None
        if state.disabled:
            skip = "disabled after 410 Gone"
        elif state.retry_not_before is not None and now < state.retry_not_before:
            skip = f"waiting until {state.retry_not_before:%Y-%m-%d %H:%M:%S}Z (Retry-After or backoff)"
        pushed = websub and source.name in pushed_sources(session, now, [source.name])
        return Before(state.current_url or source.feed, state.etag, state.last_modified, skip, pushed)


async def fetch(
    client: httpx.AsyncClient | None, source: SourceConfig, before: Before, settings: FetchSettings
) -> Fetched:
    """The fetch stage: a conditional GET of the feed, or reading the folder's files (in a thread).
    Only the network (or the disk) is under the deadline; nothing here parses."""
    if source.directory is not None:
        items = await asyncio.to_thread(
            read_directory, source.name, source.directory, max_bytes=settings.max_bytes
        )
        return Fetched(200, items=tuple(items))
    assert before.url is not None and client is not None
    headers = dict(source.headers)
    if source.user_agent:
        headers["User-Agent"] = source.user_agent
    result = await fetch_feed(
        client,
        source.name,
        before.url,
        etag=before.etag,
        last_modified=before.last_modified,
        headers=headers,
        max_bytes=settings.max_bytes,
        deadline=settings.fetch_deadline.total_seconds(),
        timeout=source.timeout.total_seconds() if source.timeout is not None else None,
        max_redirects=settings.max_redirects,
    )
    return Fetched(
        result.status,
        result.body,
        result.url,
        result.content_type,
        etag=result.etag,
        last_modified=result.last_modified,
        moved_to=result.moved_to,
        link=result.link,
    )


def known_hashes(db: Database, source: str) -> dict[str, str]:
    """The raw hash of every item the source carried at its last full read (item key -> hash): the
    process stage skips those unchanged without cleaning them again."""
    with db.session() as session:
        state = session.get(SourceState, source)
        since = state.items_read_at if state is not None else None
        if since is None:
            return {}
        query = select(SightingRow.item_key, SightingRow.raw_hash).where(
            SightingRow.source == source,
            SightingRow.last_seen_at >= since,
            SightingRow.raw_hash.is_not(None),
        )
        return {key: digest for key, digest in session.execute(query) if digest}


@dataclass(frozen=True)
class Pages:
    """What the full-text stage did with one poll's items."""

    wanted: int = 0  # items whose page was wanted (full_text: auto or always)
    used: int = 0  # whose page text replaced the feed's
    failed: int = 0  # whose page could not be used: they keep the feed's text, and say why
    seconds: float = 0.0  # wall time of the stage


def linked_elsewhere(db: Database, source: str, items: Sequence[Prepared]) -> set[str]:
    """The links of new `items` that another item is already stored under: such an item joins that
    article as a duplicate (by link), so its page is not fetched again."""
    links = list({item.article.url for item in items if item.article.url and is_story_link(item.article.url)})
    if not links:
        return set()
    keys = [item.article.key for item in items]
    taken: set[str] = set()
    with db.session() as session:
        for start in range(0, len(links), 500):
            query = select(SightingRow.url).where(SightingRow.url.in_(links[start : start + 500]))
            taken.update(url for url in session.scalars(query) if url is not None)
        if not taken:
            return set()
        own: set[str] = set()  # a changed item that has its own sighting fetches its page again
        for start in range(0, len(keys), 500):
            query = select(SightingRow.item_key).where(
                SightingRow.source == source, SightingRow.item_key.in_(keys[start : start + 500])
            )
            own.update(session.scalars(query))
    return {item.article.url for item in items if item.article.url in taken and item.article.key not in own}


async def full_text(
    db: Database,
    pool: ProcessPool,
    fetcher: PageFetcher,
    source: SourceConfig,
    processed: Processed,
    settings: FullTextSettings,
    boilerplate: Boilerplate,
    budget: float,
) -> tuple[Processed, Pages]:
    """The full-text stage, between process and store: each new or changed item that wants its page
    (ingest/fulltext.py `wants_page`) gets it fetched (ingest/pages.py) and its main text extracted in
    the process pool, every page of the poll at once as far as politeness lets. A page that cannot be
    used leaves the item with its feed's text and the reason (logged, and stored as `page_error`);
    it never fails the poll. Unchanged items never reach this stage (raw hash), so a page is fetched
    once per version of its item; items sharing a link fetch it once."""
    wanted = [
        i for i, item in enumerate(processed.fresh) if wants_page(item, source.full_text, settings.short_text)
    ]
    if not wanted:
        return processed, Pages()
    began = time.perf_counter()
    context = {"source": source.name}
    items = [processed.fresh[i] for i in wanted]
    elsewhere = await asyncio.to_thread(linked_elsewhere, db, source.name, items)
    claimed: set[str] = set()

    async def one(item: Prepared) -> Prepared | None:
        url = item.article.url
        assert url is not None
        if url in elsewhere or url in claimed:
            return None  # a duplicate by link: its article has (or gets) the page
        claimed.add(url)
        try:
            page = await fetcher.fetch(url)
            return await pool.run_page(PageJob(source.name, item, page.body, page.url, boilerplate), budget)
        except PageError as exc:
            reason = exc.reason
        except SourceError as exc:
            reason = exc.reason
        log.warning("page not used, the feed's text kept: %s", reason, extra={**context, "url": url})
        return without_page(item, reason)

    results = await asyncio.gather(*(one(item) for item in items))
    fresh = list(processed.fresh)
    used = failed = 0
    for index, result in zip(wanted, results, strict=True):
        if result is None:
            continue
        fresh[index] = result
        if result.article.text_source == PAGE:
            used += 1
        else:
            failed += 1
    if used or failed:
        metrics.pages_done(used, failed)
    seconds = time.perf_counter() - began
    return replace(processed, fresh=tuple(fresh)), Pages(len(wanted), used, failed, seconds)


@dataclass
class StoreContext:
    """What the store stage needs besides the poll's data; one per service."""

    db: Database
    matcher: Matcher
    index: Callable[[Session, datetime], NearDuplicateIndex]  # the near-duplicate index, kept current
    batch: int
    lock: threading.Lock  # one store at a time: the index is shared, and SQLite has one writer
    stopping: threading.Event


def commit(
    ctx: StoreContext,
    source: SourceConfig,
    fetched: Fetched,
    processed: Processed,
    started: datetime,
) -> Committed:
    """The store stage (in a thread): the poll's fresh items in batches, each one transaction with its
    matches and outbox rows; the last also records the source's state. Between batches it stops when
    the service is stopping: the source's validators are not saved then, so the next poll reads the
    feed in full, skips what was committed (by raw hash) and stores the rest, exactly once."""
    fresh = processed.fresh
    size = ctx.batch
    chunks = [fresh[i : i + size] for i in range(0, len(fresh), size)] or [()]
    new = updated = alerts = 0
    levels: list[str] = []
    for number, chunk in enumerate(chunks):
        last = number == len(chunks) - 1
        if number > 0 and ctx.stopping.is_set():
            log.info(
                "stopping: %d of %d fresh items stored; the rest on the next poll",
                number * size,
                len(fresh),
                extra={"source": source.name},
            )
            return Committed(new, updated, tuple(levels), alerts, stopped=True)
        with ctx.lock:
            began = time.perf_counter()
            done = _commit_batch(ctx, source, fetched, processed, chunk, started, last)
            metrics.stage_time("store", time.perf_counter() - began - done.match_seconds)
            metrics.stage_time("match", done.match_seconds)
        new += done.new
        updated += done.updated
        alerts += done.alerts
        levels.extend(done.merged_levels)
    return Committed(new, updated, tuple(levels), alerts)


def _commit_batch(
    ctx: StoreContext,
    source: SourceConfig,
    fetched: Fetched,
    processed: Processed,
    items: Sequence[Prepared],
    started: datetime,
    last: bool,
) -> Committed:
    stored: list[Stored] = []
    index: NearDuplicateIndex | None = None
    try:
        with ctx.db.session() as session:
            lock_store(session)  # cluster-wide on PostgreSQL: every node's dedup sees every article
            index = ctx.index(session, started)
            stored = store_batch(session, source.name, items, started, index)
            fresh = [s for s in stored if not s.merged]  # a duplicate's story has been matched already
            began = time.perf_counter()
            alerts = match_and_enqueue(session, ctx.matcher, fresh, started)
            matching = time.perf_counter() - began
            new = sum(1 for s in fresh if s.is_new)
            if last:
                if fetched.status != 304:  # the unchanged items are still in the feed
                    seen_again(session, source.name, processed.unchanged, started)
                if fetched.pushed:
                    _record_push(session, source, new)
                else:
                    _record_success(session, source, fetched, started, new)
    except BaseException:
        if index is not None:  # the rows were rolled back: so are their entries in the index
            for s in stored:
                if s.is_new:
                    index.remove(s.id)
        raise
    merged = tuple(s.how for s in stored if s.merged)
    return Committed(new, len(fresh) - new, merged, alerts, match_seconds=matching)


def match_and_enqueue(session: Session, matcher: Matcher, stored: Sequence[Stored], now: datetime) -> int:
    """Match new and changed articles against every rule and write their alerts to the outbox (in the
    caller's transaction, so an alert is written with its article, exactly once)."""
    rules = {rule.name: rule for rule in matcher.rules}
    alerts, batch = 0, []
    for item in stored:
        for match in matcher.match(item.article, item.id):
            rule = rules[match.rule]
            metrics.rule_matched(rule.name)
            # An updated article alerts again only for a rule with `on_update`.
            update = rule.config.on_update and not item.is_new
            if not update and rule.max_per_hour is None:  # nothing to hold or count
                batch.append((match, rule.notify))
                continue
            # A limited rule counts the alerts already written, so each is written at once.
            wait = throttle.decide(session, rule, match, now, update=update)
            alerts += (enqueue_update if update else enqueue)(session, match, rule.notify, now, wait)
    return alerts + enqueue_many(session, batch, now)


def _record_success(
    session: Session, source: SourceConfig, fetched: Fetched, started: datetime, new: int
) -> None:
    state = source_state(session, source.name, source.location)
    state.last_polled_at = started
    state.last_success_at = started
    state.last_status = "not modified" if fetched.status == 304 else "ok"
    state.last_error = None
    state.failures = 0
    state.retry_not_before = None
    state.next_poll_at = started + source.every
    state.http_status = fetched.status if source.feed is not None else None
    state.articles_seen += new
    state.etag, state.last_modified = fetched.etag, fetched.last_modified
    record_poll(session, source.name, started, state.last_status or "ok", state.http_status, new)
    if fetched.status != 304:
        state.items_read_at = started  # sightings last seen now are what the feed carries
    if fetched.moved_to is not None and fetched.moved_to != state.current_url:
        log.warning(
            "feed moved permanently to %s; polled there from now on",
            fetched.moved_to,
            extra={"source": source.name},
        )
        state.current_url = fetched.moved_to


def _record_push(session: Session, source: SourceConfig, new: int) -> None:
    """A push counts its new articles; the poll record stays as the last poll left it."""
    state = source_state(session, source.name, source.location)
    state.articles_seen += new


def record_failure(
    db: Database, source: SourceConfig, exc: SourceError, started: datetime, settings: FetchSettings
) -> timedelta:
    """Store a failed poll: its error and status, and the window before the next try (returned)."""
    status = getattr(exc, "status", None)
    with db.session() as session:
        state = source_state(session, source.name, source.location)
        state.last_polled_at = started
        state.last_status = "error"
        state.last_error = exc.reason[:2000]
        state.http_status = status
        state.failures += 1
        wait = backoff(state.failures, settings.backoff, settings.max_backoff)
        if isinstance(exc, FeedFetchError):
            retry_after = parse_retry_after(exc.retry_after, started)
            if retry_after is not None:
                wait = min(retry_after, settings.max_backoff)
        state.retry_not_before = started + wait
        state.next_poll_at = max(started + source.every, state.retry_not_before)
        if isinstance(exc, FeedFetchError) and exc.gone:
            state.disabled = True
            state.last_status = "gone"
        record_poll(session, source.name, started, state.last_status, status, 0, state.last_error)
    return wait


def record_poll(
    session: Session,
    source: str,
    started: datetime,
    outcome: str,
    http_status: int | None,
    new: int,
    error: str | None = None,
) -> None:
    """Add one poll to the source's history, keeping its newest `POLLS_KEPT` (for the status page)."""
    session.add(
        PollRow(
            source=source,
            started_at=started,
            outcome=outcome,
            http_status=http_status,
            new_articles=new,
            error=error,
        )
    )
    session.flush()
    oldest_kept = session.scalar(
        select(PollRow.id)
        .where(PollRow.source == source)
        .order_by(PollRow.id.desc())
        .offset(POLLS_KEPT - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        session.execute(delete(PollRow).where(PollRow.source == source, PollRow.id < oldest_kept))
