"""The outbox: alerts written in the transaction that stores the match, then drained by delivery."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Text, and_, func, insert, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.models import Alert, Match
from alerts.signing import new_message_id
from core.db import AlertRow, ArticleRow, DeliveryAttemptRow, UTCDateTime
from ingest.store import article_dict

PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"
STATUSES = (PENDING, SENT, FAILED, DEAD)
# What a new alert waits for: the digest batch it goes out in (None: alone), and when it goes out.
Wait = tuple[str | None, datetime]


def enqueue(
    session: Session,
    match: Match,
    channels: tuple[str, ...],
    now: datetime,
    digest: Wait | None = None,
) -> int:
    """Add one alert per channel for `match`, unless that (rule, article, channel) already has one.

    With `digest` (a batch name, or None, and when it goes out) the alerts wait: in that digest, or
    alone until then. Returns how many new alerts were written.
    """
    return enqueue_many(session, [(match, channels)], now, digest)


def enqueue_many(
    session: Session,
    matches: Iterable[tuple[Match, tuple[str, ...]]],
    now: datetime,
    digest: Wait | None = None,
) -> int:
    """`enqueue` for many matches at once: one statement for a whole poll, not one per match."""
    rows = _rows(matches, now, digest)
    if not rows:
        return 0
    # One cached statement run over all rows; RETURNING counts only the rows really inserted.
    statement = (
        _insert(session)
        .on_conflict_do_nothing(index_elements=["rule", "article_id", "channel"])
        .returning(AlertRow.id)
    )
    return len(session.connection().execute(statement, rows).all())


def enqueue_update(
    session: Session,
    match: Match,
    channels: tuple[str, ...],
    now: datetime,
    digest: Wait | None = None,
) -> int:
    """Alert again for an updated article (a rule with `on_update`): each (rule, article, channel)
    alert already written goes back to pending as a new message (new webhook-id, no attempts, the
    new hits); a channel without one gets a new alert. Returns how many alerts were (re)queued.
    `sent_at` stays when it was last sent (what the rule's cooldown counts from)."""
    rows = _rows([(match, channels)], now, digest)
    if not rows:
        return 0
    statement = _insert(session)
    rearm = {column: statement.excluded[column] for column in _REARMED}
    statement = statement.on_conflict_do_update(
        index_elements=["rule", "article_id", "channel"],
        set_={**rearm, "last_error": None, "delivered_to": None},
    ).returning(AlertRow.id)
    return len(session.connection().execute(statement, rows).all())


# What an updated article's alert takes from the new row when it is queued again.
_REARMED = ("status", "attempts", "message_id", "matched", "created_at", "next_attempt_at", "batch")


def _rows(
    matches: Iterable[tuple[Match, tuple[str, ...]]],
    now: datetime,
    digest: Wait | None,
) -> list[dict[str, Any]]:
    """The outbox rows for matches: one pending alert per channel, each with its own webhook-id."""
    batch, send_at = digest if digest is not None else (None, now)
    return [
        {
            "rule": match.rule,
            "article_id": match.article_id,
            "channel": channel,
            "status": PENDING,
            "attempts": 0,
            "message_id": new_message_id(),
            "matched": [hit.as_dict() for hit in match.hits],
            "created_at": now,
            "next_attempt_at": send_at,
            "batch": batch,
        }
        for match, channels in matches
        for channel in channels
    ]


def _insert(session: Session) -> Any:
    """An INSERT for the outbox in the session's dialect (both know ON CONFLICT)."""
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(AlertRow)


def _alert(alert: AlertRow, article: ArticleRow) -> Alert:
    return Alert(
        id=alert.id,
        message_id=alert.message_id,
        rule=alert.rule,
        channel=alert.channel,
        attempts=alert.attempts,
        matched=list(alert.matched),
        article=article_dict(article),
        created_at=alert.created_at.isoformat(),
        batch=alert.batch,
        delivered=tuple(alert.delivered_to or ()),
    )


def due(
    session: Session, now: datetime, limit: int = 100, skip_channels: Collection[str] = ()
) -> list[Alert]:
    """Alerts waiting to be sent (new, or failed and due for a retry), oldest first."""
    query = (
        select(AlertRow, ArticleRow)
        .join(ArticleRow, AlertRow.article_id == ArticleRow.id)
        .where(AlertRow.status.in_((PENDING, FAILED)), AlertRow.next_attempt_at <= now)
        .order_by(AlertRow.id)
        .limit(limit)
    )
    if skip_channels:
        query = query.where(AlertRow.channel.not_in(list(skip_channels)))
    return [_alert(alert, article) for alert, article in session.execute(query)]


def _unclaimed(now: datetime) -> Any:
    return or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until < now)


def claim(
    session: Session,
    now: datetime,
    claimant: str,
    until: datetime,
    limit: int = 100,
    skip_channels: Collection[str] = (),
    exclude: Collection[int] = (),
) -> list[Alert]:
    """`due`, for one drain among several: up to `limit` due alerts no other drain holds, oldest
    first, the single ones claimed for `claimant` until `until` (its lease, renewed while it sends).

    On PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED, so drains claiming at once get
    different alerts. Alerts gathered in a digest come back unclaimed: `claim_batch` takes a digest
    whole. A drain that dies leaves its claims to lapse at `until`; then any drain takes them.
    """
    query = (
        select(AlertRow.id, AlertRow.batch)
        .where(AlertRow.status.in_((PENDING, FAILED)), AlertRow.next_attempt_at <= now, _unclaimed(now))
        .order_by(AlertRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if skip_channels:
        query = query.where(AlertRow.channel.not_in(list(skip_channels)))
    if exclude:
        query = query.where(AlertRow.id.not_in(list(exclude)))
    picked = session.execute(query).all()
    if not picked:
        return []
    singles = [row_id for row_id, batch in picked if batch is None]
    if singles:
        session.execute(
            update(AlertRow)
            .where(AlertRow.id.in_(singles))
            .values(claimed_by=claimant, claimed_until=until)
            .execution_options(synchronize_session=False)
        )
    rows = session.execute(
        select(AlertRow, ArticleRow)
        .join(ArticleRow, AlertRow.article_id == ArticleRow.id)
        .where(AlertRow.id.in_([row_id for row_id, _ in picked]))
        .order_by(AlertRow.id)
    )
    return [_alert(alert, article) for alert, article in rows]


def claim_batch(
    session: Session, channel: str, batch: str, claimant: str, until: datetime, now: datetime
) -> list[Alert] | None:
    """Claim every unsent alert of one digest for `claimant`; None when another drain holds any of
    them (it sends that digest). On PostgreSQL a transaction lock on the digest's name makes two
    drains that try at once take turns, so a digest is never split or sent twice."""
    serialise(session, f"newswatch.digest:{channel}:{batch}")
    members = batch_members(session, channel, batch)
    if not members:
        return []
    ids = [m.id for m in members]
    held = session.execute(
        select(func.count())
        .select_from(AlertRow)
        .where(
            AlertRow.id.in_(ids),
            AlertRow.claimed_until >= now,
            or_(AlertRow.claimed_by.is_(None), AlertRow.claimed_by != claimant),
        )
    ).scalar()
    if held:
        return None
    session.execute(
        update(AlertRow)
        .where(AlertRow.id.in_(ids))
        .values(claimed_by=claimant, claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    return members


def renew(session: Session, alert_ids: Collection[int], claimant: str, until: datetime) -> None:
    """Extend `claimant`'s claims (a drain still sending them)."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id.in_(list(alert_ids)), AlertRow.claimed_by == claimant)
        .values(claimed_until=until)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, alert_ids: Collection[int], claimant: str) -> None:
    """Give `claimant`'s claims back (its page is done, or it stops)."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id.in_(list(alert_ids)), AlertRow.claimed_by == claimant)
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def release_all(session: Session) -> int:
    """Give back every claim: for a single-node `run`, the only drain there is (its single-node
    guard says so), whose claims can only be left over from a crash. Returns how many."""
    result: Any = session.execute(
        update(AlertRow)
        .where(AlertRow.claimed_by.is_not(None))
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def serialise(session: Session, key: str) -> None:
    """On PostgreSQL, hold a transaction-scoped advisory lock on `key` (other drains that ask for it
    wait until this transaction ends); nothing on SQLite, where one node drains."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def batch_members(session: Session, channel: str, batch: str) -> list[Alert]:
    """Every unsent alert gathered into one digest of one channel, oldest first."""
    query = (
        select(AlertRow, ArticleRow)
        .join(ArticleRow, AlertRow.article_id == ArticleRow.id)
        .where(AlertRow.status.in_((PENDING, FAILED)), AlertRow.channel == channel, AlertRow.batch == batch)
        .order_by(AlertRow.id)
    )
    return [_alert(alert, article) for alert, article in session.execute(query)]


def next_due(session: Session, skip_channels: Collection[str] = ()) -> datetime | None:
    """When the next unsent alert falls due, if any."""
    query = select(func.min(AlertRow.next_attempt_at)).where(AlertRow.status.in_((PENDING, FAILED)))
    if skip_channels:
        query = query.where(AlertRow.channel.not_in(list(skip_channels)))
    value: datetime | None = session.execute(query).scalar()
    return value


def gather(session: Session, alert_ids: Collection[int], batch: str, send_at: datetime) -> None:
    """Put alerts into the digest `batch`, to go out at `send_at`."""
    session.execute(
        update(AlertRow).where(AlertRow.id.in_(list(alert_ids))).values(batch=batch, next_attempt_at=send_at)
    )


def open_batch(session: Session, channel: str, prefix: str) -> str | None:
    """A digest of `channel` named `prefix:...` that has not been tried yet, to gather more into."""
    query = (
        select(AlertRow.batch)
        .where(
            AlertRow.channel == channel,
            AlertRow.status == PENDING,
            AlertRow.attempts == 0,
            AlertRow.batch.like(f"{prefix}:%"),
        )
        .limit(1)
    )
    value: str | None = session.execute(query).scalar()
    return value


def postpone(session: Session, alert_ids: Collection[int], until: datetime) -> None:
    """Move alerts' next attempt to `until` without counting an attempt (e.g. no rate tokens)."""
    session.execute(update(AlertRow).where(AlertRow.id.in_(list(alert_ids))).values(next_attempt_at=until))


def requeue(session: Session, alert_id: int | None, now: datetime) -> int:
    """Make one alert (any status but sent) or every dead alert due now with a fresh retry schedule."""
    query = update(AlertRow).values(
        status=PENDING, attempts=0, next_attempt_at=now, claimed_by=None, claimed_until=None
    )
    if alert_id is None:
        query = query.where(AlertRow.status == DEAD)
    else:
        query = query.where(AlertRow.id == alert_id, AlertRow.status != SENT)
    result: Any = session.execute(query)
    return int(result.rowcount or 0)


def status_of(session: Session, alert_id: int) -> str | None:
    """The delivery status of one alert, or None when there is no such alert."""
    value: str | None = session.execute(select(AlertRow.status).where(AlertRow.id == alert_id)).scalar()
    return value


def _ids(alert_id: int | Collection[int]) -> list[int]:
    return [alert_id] if isinstance(alert_id, int) else list(alert_id)


def _attempted(alert_id: int | Collection[int], message_ids: Collection[str] | None) -> Any:
    """The alerts an attempt was for; with `message_ids`, not one queued again meanwhile as a new
    message (`enqueue_update`), which still waits to be sent."""
    where = AlertRow.id.in_(_ids(alert_id))
    return where if message_ids is None else and_(where, AlertRow.message_id.in_(list(message_ids)))


def mark_sent(
    session: Session,
    alert_id: int | Collection[int],
    now: datetime,
    message_ids: Collection[str] | None = None,
    cooldowns: Mapping[str, timedelta] | None = None,
) -> None:
    """Record a delivery the channel acknowledged (of one alert, or every alert of a digest).

    An alert queued again as a new message while this one was in flight (`enqueue_update`) stays
    pending, but the old message did go out: for a rule with a cooldown (`cooldowns`: rule name ->
    cooldown) its `sent_at` says so, and the new message waits until that long after it.
    """
    session.execute(
        update(AlertRow)
        .where(_attempted(alert_id, message_ids))
        .values(status=SENT, sent_at=now, attempts=AlertRow.attempts + 1, last_error=None)
    )
    # The message went out even for an alert queued again meanwhile as a new one (which stays pending).
    _log_attempts(session, AlertRow.id.in_(_ids(alert_id)), now, SENT, None)
    if message_ids is None or not cooldowns:
        return
    requeued = select(AlertRow.id, AlertRow.rule, AlertRow.next_attempt_at).where(
        AlertRow.id.in_(_ids(alert_id)),
        AlertRow.message_id.not_in(list(message_ids)),
        AlertRow.rule.in_(list(cooldowns)),
    )
    for row_id, rule, due in session.execute(requeued).all():
        hold = max(due, now + cooldowns[rule])
        session.execute(
            update(AlertRow).where(AlertRow.id == row_id).values(sent_at=now, next_attempt_at=hold)
        )


def mark_failed(
    session: Session,
    alert_id: int | Collection[int],
    error: str,
    now: datetime,
    retry_in: timedelta | None,
    *,
    count_attempt: bool = True,
    message_ids: Collection[str] | None = None,
    delivered: Collection[str] | None = None,
) -> None:
    """Record a failed attempt: to be retried after `retry_in`, or dead when that is None. With
    `delivered`, the targets of the channel that did take the message (the retry skips them)."""
    values: dict[str, Any] = {"last_error": error[:2000]}
    if delivered:
        values["delivered_to"] = list(delivered)
    if count_attempt:
        values["attempts"] = AlertRow.attempts + 1
    if retry_in is None:
        values["status"] = DEAD
    else:
        values["status"] = FAILED
        values["next_attempt_at"] = now + retry_in
    attempted = _attempted(alert_id, message_ids)
    if count_attempt:
        _log_attempts(session, attempted, now, values["status"], values["last_error"])
    session.execute(update(AlertRow).where(attempted).values(**values))


def _log_attempts(session: Session, where: Any, now: datetime, outcome: str, error: str | None) -> None:
    """Write one delivery attempt, with its outcome, for each alert `where` selects."""
    columns = (
        AlertRow.id,
        literal(now, UTCDateTime()),
        literal(outcome, String()),
        literal(error, Text()),
    )
    session.execute(
        insert(DeliveryAttemptRow).from_select(
            ["alert_id", "at", "outcome", "error"], select(*columns).where(where)
        )
    )


def standing(session: Session) -> tuple[int, datetime | None]:
    """How many alerts are still to go out (pending, or failed and to be tried again), and when the
    last alert was sent (None: never)."""
    waiting = select(func.count()).where(AlertRow.status.in_((PENDING, FAILED)))
    last = select(func.max(AlertRow.sent_at)).where(AlertRow.status == SENT)
    return int(session.execute(waiting).scalar_one()), session.execute(last).scalar_one()


def listing(session: Session, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Alerts, newest first, with their delivery state and the article's title (for `alerts`)."""
    query = (
        select(AlertRow, ArticleRow.title, ArticleRow.url)
        .join(ArticleRow, AlertRow.article_id == ArticleRow.id)
        .order_by(AlertRow.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(AlertRow.status == status)
    return [
        {
            "id": alert.id,
            "rule": alert.rule,
            "channel": alert.channel,
            "status": alert.status,
            "attempts": alert.attempts,
            "article_id": alert.article_id,
            "title": title,
            "url": url,
            "matched": list(alert.matched),
            "created_at": alert.created_at.isoformat(),
            "sent_at": alert.sent_at.isoformat() if alert.sent_at else None,
            "next_attempt_at": alert.next_attempt_at.isoformat(),
            "last_error": alert.last_error,
            "message_id": alert.message_id,
            "batch": alert.batch,
            "delivered_to": list(alert.delivered_to) if alert.delivered_to else None,
        }
        for alert, title, url in session.execute(query)
    ]
