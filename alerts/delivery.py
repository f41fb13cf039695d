"""Delivery: drain the outbox, recording every attempt; retries, digests, rate limits, 410s."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts import channel_state, outbox
from alerts.channels import Channel, ChannelGone, PartlyDelivered
from alerts.models import Alert, Digest
from alerts.ratelimit import next_token_at, take
from core import metrics
from core.config import Config, RateLimit
from core.db import Database
from core.errors import DeliveryError

log = logging.getLogger(__name__)

# The Standard Webhooks retry schedule: the wait before each retry after the first attempt.
RETRY_SCHEDULE = tuple(timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400))
JITTER = 0.1  # up to 10% added to each scheduled wait, so many failed alerts do not retry in step
PAGE = 64  # alerts one drain claims at once: 8 waves of CONCURRENCY, so several drains share a burst
# How long a drain's claim on its page holds unless renewed (every third of it while it sends): a
# drain that dies gives its alerts back to the others this long after its last renewal at most.
CLAIM_LEASE = timedelta(seconds=10)
CONCURRENCY = 8  # alerts in flight at once per channel
OVERFLOW = "overflow"  # the digest that holds what a channel's rate limit held back
PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


@dataclass(frozen=True)
class DeliveryReport:
    """What one drain of the outbox did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.dead == 0


@dataclass(frozen=True)
class ChannelPolicy:
    """How one channel is delivered to: its retry schedule, digest period and rate limit."""

    schedule: tuple[timedelta, ...] = RETRY_SCHEDULE
    digest: str | None = None
    rate_limit: RateLimit | None = None


@dataclass(frozen=True)
class DeliveryPlan:
    """The delivery policies of every channel, and which rules gather their alerts in digests."""

    channels: Mapping[str, ChannelPolicy] = field(default_factory=dict)
    rule_digests: Mapping[str, str] = field(default_factory=dict)
    # The cooldown of each rule whose updated articles alert again (`on_update`): an update queued
    # while the previous message was in flight waits that long after it went out.
    rule_cooldowns: Mapping[str, timedelta] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> DeliveryPlan:
        """The plan the config describes."""
        channels = {
            c.name: ChannelPolicy(
                tuple(c.retry) if c.retry is not None else RETRY_SCHEDULE, c.digest, c.rate_limit
            )
            for c in config.channels
        }
        return cls(
            channels,
            {r.name: r.digest for r in config.rules if r.digest},
            {r.name: r.cooldown for r in config.rules if r.cooldown is not None and r.on_update},
        )

    def policy(self, channel: str) -> ChannelPolicy:
        return self.channels.get(channel, ChannelPolicy())

    def digest_for(self, alert: Alert, now: datetime) -> tuple[str, datetime] | None:
        """The digest a new alert joins and when that digest goes out, or None to send it alone."""
        period = self.rule_digests.get(alert.rule)
        prefix = f"rule:{alert.rule}:"
        if period is None:
            period, prefix = self.policy(alert.channel).digest, ""
        if period is None:
            return None
        start = period_start(period, now)
        return f"{prefix}{period}:{start:%Y-%m-%dT%H:%M}", start + PERIODS[period]


def overflow_digest(rule: str, now: datetime) -> tuple[str, datetime]:
    """The hourly digest that takes a rule's alerts over its `max_per_hour`, and when it goes out."""
    start = period_start("hourly", now)
    return f"rule:{rule}:hourly:{start:%Y-%m-%dT%H:%M}", start + PERIODS["hourly"]


def period_start(period: str, now: datetime) -> datetime:
    """The start (UTC) of the hour or day `now` falls in."""
    start = now.replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if period == "daily" else start


def retry_delay(
    attempts_made: int, schedule: tuple[timedelta, ...] = RETRY_SCHEDULE, retry_after: float | None = None
) -> timedelta | None:
    """How long to wait after the `attempts_made`-th failed attempt; None when none are left.

    The peer's Retry-After, when it sent one, replaces the scheduled wait.
    """
    if attempts_made - 1 >= len(schedule):
        return None
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    wait = schedule[attempts_made - 1]
    return wait + wait * random.uniform(0, JITTER)


def digest_id(alerts: list[Alert]) -> str:
    """A digest's `webhook-id`: the same for the same alerts, so a retried digest keeps its id."""
    joined = "\n".join(sorted(a.message_id for a in alerts))
    return "msg_dg_" + hashlib.sha256(joined.encode()).hexdigest()[:24]


class _Drain:
    """One pass over the due alerts; `outcomes` keeps the last outcome of each alert.

    Several drains (on several nodes) can run at once: each claims its page of alerts (outbox.claim,
    FOR UPDATE SKIP LOCKED on PostgreSQL) for CLAIM_LEASE, renews the claim while it sends, and gives
    it back with the page's outcomes. A drain that dies leaves its claims to lapse within CLAIM_LEASE.
    """

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        now: Callable[[], datetime],
        plan: DeliveryPlan,
        outcomes: dict[int, str],
    ) -> None:
        self.db, self.channels, self.now, self.plan, self.outcomes = db, channels, now, plan, outcomes
        self.disabled: set[str] = set()
        self.sent: list[tuple[list[int], list[str]]] = []  # acknowledged, to mark sent (_flush_sent)
        self.claimant = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.claimed: set[int] = set()  # this page's claims, renewed while it sends, then released

    async def run(self) -> int:
        handled = 0
        seen: set[int] = set()
        renewing = asyncio.ensure_future(self._renew())
        try:
            while True:
                page = await asyncio.to_thread(self._claim, seen)
                if not page:
                    return handled
                by_channel: dict[str, list[Alert]] = {}
                for alert in page:
                    seen.add(alert.id)
                    handled += 1
                    by_channel.setdefault(alert.channel, []).append(alert)
                # Channels go at once; within one, up to CONCURRENCY alerts are in flight.
                await asyncio.gather(
                    *(self._channel(name, alerts, seen) for name, alerts in by_channel.items())
                )
                # What was sent is no longer due, so only the rest (failed, held) stays excluded
                # from the next claims: the exclusion list stays short in a burst of thousands.
                seen.difference_update(await self._flush_sent())
        finally:
            renewing.cancel()
            if self.claimed:  # stopped mid-page: what was not marked goes back to every drain now
                with self.db.session() as session:
                    outbox.release(session, self.claimed, self.claimant)
                self.claimed.clear()

    def _claim(self, seen: set[int]) -> list[Alert]:
        with self.db.session() as session:
            self.disabled = set(channel_state.disabled(session))
            now = self.now()
            page = outbox.claim(session, now, self.claimant, now + CLAIM_LEASE, PAGE, self.disabled, seen)
        self.claimed.update(a.id for a in page if a.batch is None)
        return page

    async def _renew(self) -> None:
        """Keep this page's claims while it sends (a slow channel can take longer than the lease)."""
        while True:
            await asyncio.sleep(CLAIM_LEASE.total_seconds() / 3)
            ids = list(self.claimed)
            if ids:

                def renew(ids: list[int] = ids) -> None:
                    with self.db.session() as session:
                        outbox.renew(session, ids, self.claimant, self.now() + CLAIM_LEASE)

                await asyncio.to_thread(renew)

    async def _channel(self, name: str, alerts: list[Alert], seen: set[int]) -> None:
        """One channel's share of a page: single alerts concurrently (bounded), digests in turn."""
        slots = asyncio.Semaphore(CONCURRENCY)
        digests_done: set[str] = set()

        async def one(alert: Alert) -> None:
            async with slots:
                if alert.channel not in self.disabled:
                    await self._one(alert)

        singles = []
        for alert in alerts:
            if alert.batch is None:
                singles.append(asyncio.ensure_future(one(alert)))
            elif alert.batch not in digests_done and name not in self.disabled:
                digests_done.add(alert.batch)
                seen.update(await self._digest(name, alert.batch))
        if singles:
            await asyncio.gather(*singles)

    async def _flush_sent(self) -> list[int]:
        """Mark what the channels acknowledged as sent and give the page's claims back: one
        transaction for the page, in a thread. A crash before this re-sends those alerts with the
        same webhook-id (receivers deduplicate), once the claims lapse."""
        sent, self.sent = self.sent, []
        claimed = list(self.claimed)
        ids = [i for ids, _ in sent for i in ids]
        if not sent and not claimed:
            return ids
        message_ids = [m for _, messages in sent for m in messages]
        now = self.now()

        def mark() -> None:
            with self.db.session() as session:
                if ids:
                    outbox.mark_sent(session, ids, now, message_ids, self.plan.rule_cooldowns)
                if claimed:
                    outbox.release(session, claimed, self.claimant)

        await asyncio.to_thread(mark)
        self.claimed.difference_update(claimed)
        return ids

    def _take_token(self, channel: str) -> datetime | None:
        """Take a rate-limit token for `channel`: None when taken, else when the next one comes."""
        limit = self.plan.policy(channel).rate_limit
        if limit is None:
            return None
        now = self.now()
        with self.db.session() as session:  # the row is locked: one bucket for the whole cluster
            taken, bucket = take(channel_state.bucket(session, channel, lock=True), limit, now)
            channel_state.save_bucket(session, channel, bucket)
        return None if taken else next_token_at(bucket, limit, now)

    async def _one(self, alert: Alert) -> None:
        context = _context(alert)
        if alert.attempts == 0 and alert.channel in self.channels:
            gathered = self.plan.digest_for(alert, self.now())
            if gathered is not None:
                with self.db.session() as session:
                    outbox.gather(session, [alert.id], *gathered)
                self.outcomes[alert.id] = "gathered"
                log.debug("alert gathered into digest %s", gathered[0], extra=context)
                return
        wait_until = self._take_token(alert.channel) if alert.channel in self.channels else None
        if wait_until is not None:
            with self.db.session() as session:
                if alert.attempts == 0:  # new: rides in the next overflow digest
                    outbox.serialise(session, f"newswatch.overflow:{alert.channel}")  # one per channel
                    batch = outbox.open_batch(session, alert.channel, OVERFLOW) or f"{OVERFLOW}:{alert.id}"
                    outbox.gather(session, [alert.id], batch, wait_until)
                else:
                    outbox.postpone(session, [alert.id], wait_until)
            self.outcomes[alert.id] = "gathered"
            log.info("rate limit reached: alert held for the next digest", extra=context)
            return
        channel = self.channels.get(alert.channel)
        await self._attempt(
            alert.channel,
            [alert.id],
            alert.attempts,
            None if channel is None else lambda: channel.send(alert),
            context,
            [alert.created_at],
            [alert.message_id],
        )

    async def _digest(self, channel_name: str, batch: str) -> list[int]:
        now = self.now()
        with self.db.session() as session:
            claimed = outbox.claim_batch(session, channel_name, batch, self.claimant, now + CLAIM_LEASE, now)
            if claimed is None:  # another drain sends this digest
                return [a.id for a in outbox.batch_members(session, channel_name, batch)]
        members = claimed
        ids = [a.id for a in members]
        if not members:
            return ids
        self.claimed.update(ids)
        context: dict[str, Any] = {"channel": channel_name, "digest": batch, "alerts": len(ids)}
        channel = self.channels.get(channel_name)
        wait_until = self._take_token(channel_name) if channel is not None else None
        if wait_until is not None:
            with self.db.session() as session:
                outbox.postpone(session, ids, wait_until)
            log.info("rate limit reached: digest waits until %s", wait_until.isoformat(), extra=context)
            return ids
        digest = Digest(digest_id(members), channel_name, batch, tuple(members), self.now().isoformat())
        await self._attempt(
            channel_name,
            ids,
            digest.attempts,
            None if channel is None else lambda: channel.send_digest(digest),
            context,
            [member.created_at for member in members],
            [member.message_id for member in members],
        )
        return ids

    async def _attempt(
        self,
        channel: str,
        ids: list[int],
        attempts: int,
        send: Callable[[], Awaitable[None]] | None,
        context: dict[str, Any],
        created: list[str],
        message_ids: list[str],
    ) -> None:
        # Outcomes are recorded against the messages sent: an alert queued again meanwhile as a
        # new message (an updated article, `on_update`) stays pending.
        try:
            if send is None:
                raise DeliveryError(f"channel {channel!r} is no longer configured", retryable=False)
            await send()
        except ChannelGone as exc:
            with self.db.session() as session:
                channel_state.disable(session, channel, str(exc), self.now())
                outbox.mark_failed(session, ids, str(exc), self.now(), timedelta(0), message_ids=message_ids)
            self.disabled.add(channel)
            self._record(channel, ids, "failed", created)
            log.critical(
                "CHANNEL DISABLED: %s; the endpoint says it is gone for good. Its alerts wait unsent"
                " until `newswatch alerts send-test %s` succeeds.",
                exc,
                channel,
                extra=context,
            )
            return
        except DeliveryError as exc:
            schedule = self.plan.policy(channel).schedule
            retry_in = retry_delay(attempts + 1, schedule, exc.retry_after) if exc.retryable else None
            delivered = exc.delivered if isinstance(exc, PartlyDelivered) else None
            with self.db.session() as session:
                outbox.mark_failed(
                    session, ids, str(exc), self.now(), retry_in, message_ids=message_ids, delivered=delivered
                )
            if retry_in is None:
                self._record(channel, ids, "dead", created)
                log.error("alert is dead, no more retries: %s", exc, extra=context)
            else:
                self._record(channel, ids, "failed", created)
                log.warning(
                    "delivery failed, retrying in %.1f s: %s", retry_in.total_seconds(), exc, extra=context
                )
            return
        self.sent.append((ids, message_ids))
        self._record(channel, ids, "sent", created)
        log.info("alert delivered" if len(ids) == 1 else "digest delivered", extra=context)

    def _record(self, channel: str, ids: list[int], state: str, created: list[str]) -> None:
        """Note each alert's outcome for the report and the metrics (latency once sent)."""
        self.outcomes.update(dict.fromkeys(ids, state))
        now = self.now()
        for created_at in created:
            latency = (now - datetime.fromisoformat(created_at)).total_seconds() if state == "sent" else None
            metrics.delivery_done(channel, state, latency)


def _context(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.id,
        "rule": alert.rule,
        "channel": alert.channel,
        "article_id": alert.article["id"],
    }


async def deliver_due(
    db: Database,
    channels: Mapping[str, Channel],
    now: Callable[[], datetime],
    plan: DeliveryPlan | None = None,
    *,
    linger: timedelta = timedelta(0),
) -> DeliveryReport:
    """Send every alert that is due; each outcome is committed before the next alert is tried.

    With `linger`, retries (and held-back digests) falling due within that time are waited for and
    sent in the same call; later ones are left for the next.
    """
    outcomes: dict[int, str] = {}
    plan = plan or DeliveryPlan()
    while True:
        handled = await _Drain(db, channels, now, plan, outcomes).run()
        if linger <= timedelta(0):
            break
        with db.session() as session:
            soonest = outbox.next_due(session, set(channel_state.disabled(session)))
        if soonest is None:
            break
        wait = (soonest - now()).total_seconds()
        if wait > linger.total_seconds() or (wait <= 0 and handled == 0):
            break
        await asyncio.sleep(max(wait, 0.0))
    counts = Counter(outcomes.values())
    return DeliveryReport(counts["sent"], counts["failed"], counts["dead"])
