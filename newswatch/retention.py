"""Retention: finished alerts and articles no source carries any more are deleted, in small batches.

An **alert** goes when it is finished — `sent` (by `sent_at`) or `dead` (by its last attempt,
`next_attempt_at`) — longer than `retention.alerts` ago, and its article has been quiet as long
(see below). Pending and failed (waiting for a retry) alerts never go, so neither does anything a
digest still waits for. Alerts are what keeps a rule from firing twice on one article (the outbox
key), so one is kept while its article may still change: an update to a quiet article is as
unlikely as the article coming back at all.

An **article** goes when it has been quiet for `retention.articles` and no alert that stays refers
to it (pending, failed, or still inside `retention.alerts`). Quiet means: no sighting of it was
seen within that time, and none is an item a configured source still carries. "Still carries" is
known without re-reading a feed: a poll that reads a feed's items (not a 304) marks every item in
it as seen (`sightings.last_seen_at`, unchanged items too) and stamps the source's `items_read_at`;
a sighting seen at the source's last read is in the feed, however old. So a feed that answers 304
for months, or fails, keeps its articles, and the next poll never finds an item it had forgotten:
an article is never pruned while its item can come back as "new" and alert again. Only an item
that left its feed for the whole retention period and then reappears is stored (and matched)
afresh. A source removed from the config carries nothing.

Near-duplicates: retention.articles is at least `dedup.window` (config.py checks), so a pruned
article is outside the window: the LSH index ignores it (`best_match`) and drops it on its next
`prune`; a caller that holds an index removes the pruned ids through `forget` as well.

Each batch is one short transaction: its rows are locked (PostgreSQL: FOR UPDATE SKIP LOCKED, so a
row a poll or a delivery is writing is left for the next run), then deleted only if they still
qualify, re-checked by the DELETE itself; on SQLite the DELETE takes the write lock and sees the
latest data, on PostgreSQL what was committed before the DELETE began. Only `articles` rows are
locked, so a poll marking a sighting seen while that DELETE runs does not save its article: the item
had left every feed for the whole retention period and came back just then (see above). A big prune
never holds a lock for long, and `should_stop` is asked before each batch, so a service shutting
down stops a prune within one batch (the rest goes at the next run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from alerts.outbox import DEAD, SENT
from core.config import RetentionSettings
from core.db import AlertRow, ArticleRow, Database, SightingRow, SourceState

log = logging.getLogger(__name__)

BATCH = 500  # rows deleted per transaction

Forget = Callable[[Sequence[int]], None]  # told the ids of each batch of articles deleted
ShouldStop = Callable[[], bool]  # asked before each batch; True ends the prune there


@dataclass(frozen=True)
class Pruned:
    """How many alerts and articles a prune deleted (or, with `dry_run`, would delete)."""

    alerts: int = 0
    articles: int = 0
    dry_run: bool = False
    stopped: bool = False  # told to stop before the end: what is left goes at the next run


def prune(
    db: Database,
    retention: RetentionSettings,
    sources: Collection[str],
    now: datetime,
    *,
    dry_run: bool = False,
    forget: Forget | None = None,
    should_stop: ShouldStop | None = None,
    batch: int = BATCH,
) -> Pruned:
    """Delete the alerts and articles `retention` lets go as of `now` (see the module docstring);
    `sources` are the configured source names. With `dry_run`, count them and delete nothing.
    `should_stop` is asked before each batch: once it says True, the prune ends after what it did."""
    clock = time.monotonic()
    alerts, articles = _alerts_going(retention, sources, now), _articles_going(retention, sources, now)
    if dry_run:
        with db.session() as session:
            counts = [
                session.scalar(select(func.count()).select_from(table).where(where)) or 0
                for table, where in ((AlertRow, alerts), (ArticleRow, articles))
            ]
        pruned = Pruned(counts[0], counts[1], dry_run=True)
    else:
        stop = should_stop or (lambda: False)
        # Alerts first: an article goes only once no alert that stays refers to it.
        alerts_gone, stopped = _delete(db, AlertRow.id, alerts, batch, stop)
        articles_gone = 0
        if not stopped:
            articles_gone, stopped = _delete(db, ArticleRow.id, articles, batch, stop, forget)
        pruned = Pruned(alerts_gone, articles_gone, stopped=stopped)
    log.info(
        "%s %d alerts and %d articles%s",
        "would prune" if dry_run else "pruned",
        pruned.alerts,
        pruned.articles,
        "; stopped early, the rest goes at the next run" if pruned.stopped else "",
        extra={
            "alerts": pruned.alerts,
            "articles": pruned.articles,
            "dry_run": dry_run,
            "stopped": pruned.stopped,
            "seconds": round(time.monotonic() - clock, 3),
        },
    )
    return pruned


def _carried(article_id: Any, cutoff: datetime, sources: Collection[str]) -> ColumnElement[bool]:
    """Whether any sighting of `article_id` was seen since `cutoff`, or is still in its source's feed
    (seen at the source's last read; a configured source never read in full keeps everything)."""
    in_feed = and_(
        SightingRow.source.in_(list(sources)),
        or_(SourceState.items_read_at.is_(None), SightingRow.last_seen_at >= SourceState.items_read_at),
    )
    live = (
        select(SightingRow.id)
        .outerjoin(SourceState, SourceState.name == SightingRow.source)
        .where(SightingRow.article_id == article_id, or_(SightingRow.last_seen_at >= cutoff, in_feed))
    )
    return exists(live)


def _alerts_going(
    retention: RetentionSettings, sources: Collection[str], now: datetime
) -> ColumnElement[bool]:
    """Alerts finished before `now - retention.alerts` whose article is not carried since then."""
    if retention.alerts is None:
        return false()
    cutoff = now - retention.alerts
    finished = or_(
        and_(AlertRow.status == SENT, AlertRow.sent_at < cutoff),
        and_(AlertRow.status == DEAD, AlertRow.next_attempt_at < cutoff),
    )
    return and_(finished, ~_carried(AlertRow.article_id, cutoff, sources))


def _articles_going(
    retention: RetentionSettings, sources: Collection[str], now: datetime
) -> ColumnElement[bool]:
    """Articles not carried since `now - retention.articles` that no staying alert refers to."""
    if retention.articles is None:
        return false()
    cutoff = now - retention.articles
    staying = AlertRow.article_id == ArticleRow.id, ~_alerts_going(retention, sources, now)
    return and_(
        ArticleRow.first_seen_at < cutoff,  # cheap and indexed: every sighting is at least this old
        ~_carried(ArticleRow.id, cutoff, sources),
        ~exists(select(AlertRow.id).where(*staying)),
    )


def _delete(
    db: Database,
    key: InstrumentedAttribute[int],
    where: ColumnElement[bool],
    batch: int,
    should_stop: ShouldStop,
    forget: Forget | None = None,
) -> tuple[int, bool]:
    """Delete the rows matching `where`, `batch` at a time in id order, each batch its own transaction;
    return how many went and whether `should_stop` ended it before the last batch."""
    total, after = 0, 0
    while True:
        if should_stop():
            return total, True
        with db.session() as session:
            ids = session.scalars(
                select(key)
                .where(key > after, where)
                .order_by(key)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return total, False
            # The rows are locked now; the DELETE checks them again against what was committed before
            # it began (a poll that saw the article again, an alert queued for it).
            gone = session.scalars(
                delete(key.class_)
                .where(key.in_(ids), where)
                .returning(key)
                .execution_options(synchronize_session=False)
            ).all()
        after = ids[-1]
        total += len(gone)
        if forget is not None and gone:
            forget(gone)
