"""WebSub push: subscribe to the hub a feed advertises, take what it pushes, keep the lease alive.

    poll -> discover hub + self (ingest/discovery.py) -> POST hub.mode=subscribe to the hub
    hub  -> GET  <callback_url>/<token>?hub.mode=subscribe&hub.challenge=...  -> echo the challenge
    hub  -> POST <callback_url>/<token> (X-Hub-Signature)  -> the pipeline, as a poll's body would go

Each subscription is a row of `websub_subscriptions` (core/db.py `WebSubRow`), found by the
unguessable token that ends its callback URL, with its own random `hub.secret`. Its `state`:

    requested      asked the hub, not verified yet (polled as usual)
    subscribed     the hub verified it; while the lease runs the source is polled only every
                   `websub.fallback_every`, and the lease is renewed before it ends
    failed         the hub refused a request, or did not answer or verify it: polled as usual,
                   asked again after a backoff
    denied         the hub said hub.mode=denied: polled as usual, asked again after `fetch.max_backoff`
    expired        the lease lapsed without a verified renewal: polled as usual, asked again at once
    unsubscribing  the source left the config (or its feed stopped naming the hub, or named
                   another): asked to unsubscribe; the row goes when the hub verifies it or the
                   lease ends

`pending` is what was asked of the hub and not yet verified: a verification of intent is confirmed
only when it matches (mode and topic); anything else gets 404. A push needs a valid X-Hub-Signature
(HMAC-SHA256 or -SHA1 with the row's secret): without one it gets a 4xx and a log line and nothing
is stored. A good push runs through the pipeline's process and store stages (Service.receive_push),
and is acknowledged once it is committed, so a hub that sees no 2xx sends it again and the unique
keys keep it stored once.

The callback listener (`websub.listen`, loopback by default: a reverse proxy forwards the public
`callback_url` to it) is a small threading HTTP server like the status page's; a push is handed to
the service's event loop and the handler thread waits for its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import metrics
from core.config import FetchSettings, SourceConfig, WebSubSettings
from core.db import Database, SourceState, WebSubRow
from ingest.discovery import FeedLinks
from ingest.polling import backoff
from ingest.websub import HubError, check_signature, hub_request

if TYPE_CHECKING:
    from newswatch.service import PollOutcome, Service

log = logging.getLogger(__name__)

REQUESTED, SUBSCRIBED, FAILED = "requested", "subscribed", "failed"
DENIED, EXPIRED, UNSUBSCRIBING = "denied", "expired", "unsubscribing"
SUBSCRIBE, UNSUBSCRIBE = "subscribe", "unsubscribe"
# A hub that has not verified a request this long after it was sent is taken as not answering.
VERIFY_WAIT = timedelta(minutes=10)
MAINTAIN_EVERY = timedelta(seconds=30)  # leases are checked this often by a single node
MAX_CHALLENGE = 2048
MAX_LEASE = timedelta(days=365)
READ_TIMEOUT = 30.0  # seconds a hub has to send a request's headers and body
PUSH_TIMEOUT_MARGIN = 30.0  # beyond pipeline.process_timeout, what a push may take to commit
REQUESTS_AT_ONCE = 10  # hub requests one maintenance round sends at a time


def new_token() -> str:
    """An unguessable callback path (256 random bits)."""
    return secrets.token_urlsafe(32)


def poll_every(source: SourceConfig, settings: WebSubSettings | None, pushed: bool) -> timedelta:
    """How often `source` is polled: `websub.fallback_every` while a hub pushes it (never more
    often than its own `every`), else its `every`."""
    if pushed and settings is not None:
        return max(source.every, settings.fallback_every)
    return source.every


def pushed_sources(session: Session, now: datetime, names: Iterable[str] | None = None) -> set[str]:
    """The sources a hub pushes now: a verified subscription whose lease runs."""
    query = select(WebSubRow.source).where(WebSubRow.state == SUBSCRIBED, WebSubRow.expires_at > now)
    if names is not None:
        query = query.where(WebSubRow.source.in_(list(names)))
    return set(session.scalars(query))


def renew_margin(lease: timedelta) -> timedelta:
    """How long before a lease ends it is renewed: a fifth of it, at least two maintenance rounds,
    at most a day and at most half the lease."""
    margin = min(max(lease / 5, MAINTAIN_EVERY * 2), timedelta(days=1))
    return min(margin, lease / 2)


@dataclass(frozen=True)
class Request:
    """A request for the hub: what to send, read from the row when it was decided."""

    token: str
    mode: str
    source: str
    hub: str
    topic: str
    secret: str


class WebSub:
    """The subscriptions of one node: requests to hubs (async), and the verifications of intent
    the callback listener answers (in its threads)."""

    def __init__(
        self,
        settings: WebSubSettings,
        db: Database,
        client: httpx.AsyncClient,
        fetch: FetchSettings,
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.db = db
        self.client = client
        self.fetch = fetch
        self.now = now

    def callback(self, token: str) -> str:
        """The callback URL of a subscription: the public base URL and its token."""
        return f"{self.settings.callback_url}/{token}"

    # --- after a poll, and every MAINTAIN_EVERY -------------------------------------------------

    async def after_poll(self, source: SourceConfig, links: FeedLinks) -> bool:
        """Subscribe when the polled feed offers WebSub and no subscription covers it; unsubscribe
        from a hub or topic it no longer names. True when a request was sent."""
        requests = await asyncio.to_thread(self._plan_for_poll, source.name, links, self.now())
        await self._send_all(requests)
        return bool(requests)

    def _plan_for_poll(self, name: str, links: FeedLinks, now: datetime) -> list[Request]:
        with self.db.session() as session:
            rows = session.scalars(select(WebSubRow).where(WebSubRow.source == name)).all()
            requests: list[Request] = []
            kept = None
            for row in rows:
                if row.state == UNSUBSCRIBING:
                    continue
                if links.usable and row.topic == links.topic and row.hub in links.hubs and kept is None:
                    kept = row
                    continue
                log.info(
                    "websub: the feed no longer names hub %s for topic %s; unsubscribing",
                    row.hub,
                    row.topic,
                    extra={"source": name},
                )
                requests += _retire(session, row, now)
            if links.usable and kept is None:
                assert links.topic is not None
                row = WebSubRow(
                    token=new_token(),
                    source=name,
                    hub=links.hubs[0],
                    topic=links.topic,
                    secret=secrets.token_urlsafe(32),
                    state=REQUESTED,
                    pending=SUBSCRIBE,
                    requested_at=now,
                    failures=0,
                    pushes=0,
                    created_at=now,
                )
                session.add(row)
                requests.append(_request(row, SUBSCRIBE))
            return requests

    async def maintain(self, sources: Sequence[SourceConfig]) -> int:
        """Renew leases before they end, note lapsed leases and hubs that never verified, ask
        again after a backoff, and unsubscribe sources no longer in the config (or disabled).
        Returns the number of requests sent."""
        live = {s.name for s in sources if s.enabled and s.feed is not None}
        requests = await asyncio.to_thread(self._plan_maintenance, live, self.now())
        await self._send_all(requests)
        return len(requests)

    def _plan_maintenance(self, live: set[str], now: datetime) -> list[Request]:
        with self.db.session() as session:
            requests = []
            for row in session.scalars(select(WebSubRow).order_by(WebSubRow.created_at)).all():
                request = self._step(session, row, row.source in live, now)
                if request is not None:
                    requests.append(request)
            return requests

    def _step(self, session: Session, row: WebSubRow, live: bool, now: datetime) -> Request | None:
        """One subscription's maintenance: what to ask the hub now, if anything."""
        context = {"source": row.source}
        stuck = row.pending is not None and (
            row.requested_at is None or row.requested_at + VERIFY_WAIT <= now
        )
        lease_runs = row.expires_at is not None and row.expires_at > now
        if not live and row.state != UNSUBSCRIBING:
            log.info("websub: the source left the config; unsubscribing from %s", row.hub, extra=context)
            retired = _retire(session, row, now)
            return retired[0] if retired else None
        if row.state == UNSUBSCRIBING:
            if not lease_runs and (row.pending is None or stuck):
                session.delete(row)  # the hub has let it go (or never had it)
                return None
            if stuck or (row.pending is None and (row.retry_at is None or row.retry_at <= now)):
                row.pending, row.requested_at = UNSUBSCRIBE, now
                return _request(row, UNSUBSCRIBE)
            return None
        if row.state == SUBSCRIBED and not lease_runs:
            row.state, row.pending, row.retry_at = EXPIRED, None, now  # asked again below, at once
            row.last_error = "the lease lapsed without a verified renewal"
            log.warning("websub: the lease on %s lapsed; polling as usual again", row.topic, extra=context)
            poll_soon(session, row.source, now)
        elif stuck:
            reason = f"the hub did not verify within {VERIFY_WAIT}"
            self._note_failure(session, row, row.pending or SUBSCRIBE, reason, now)
        if row.pending is not None:
            return None
        if row.retry_at is not None and row.retry_at > now:
            return None
        renew = row.state == SUBSCRIBED and row.renew_at is not None and row.renew_at <= now
        if renew or row.state in (FAILED, EXPIRED, DENIED):
            row.pending, row.requested_at = SUBSCRIBE, now
            return _request(row, SUBSCRIBE)
        return None

    def _note_failure(self, session: Session, row: WebSubRow, mode: str, reason: str, now: datetime) -> None:
        row.pending = None
        row.failures += 1
        row.last_error = reason[:2000]
        row.retry_at = now + backoff(row.failures, self.fetch.backoff, self.fetch.max_backoff)
        if mode == SUBSCRIBE and row.state in (REQUESTED, SUBSCRIBED, EXPIRED, DENIED):
            if row.state == SUBSCRIBED:
                log.warning(
                    "websub: hub %s is not answering (%s); polling as usual again",
                    row.hub,
                    reason,
                    extra={"source": row.source},
                )
                poll_soon(session, row.source, now)
            row.state = FAILED

    async def _send_all(self, requests: Sequence[Request]) -> None:
        gate = asyncio.Semaphore(REQUESTS_AT_ONCE)

        async def one(request: Request) -> None:
            async with gate:
                await self._send(request)

        await asyncio.gather(*(one(r) for r in requests))

    async def _send(self, request: Request) -> None:
        """Send one request to its hub; a failure is recorded on the row (never raised)."""
        context = {"source": request.source}
        form = {
            "hub.mode": request.mode,
            "hub.topic": request.topic,
            "hub.callback": self.callback(request.token),
        }
        if request.mode == SUBSCRIBE:
            form["hub.secret"] = request.secret
            form["hub.lease_seconds"] = str(self.settings.lease_seconds)
        try:
            status = await hub_request(
                self.client,
                request.hub,
                form,
                deadline=self.fetch.fetch_deadline.total_seconds(),
                max_redirects=self.fetch.max_redirects,
            )
        except HubError as exc:
            log.warning("websub: %s request to %s failed: %s", request.mode, request.hub, exc, extra=context)
            metrics.websub_request(request.mode, "failed")
            await asyncio.to_thread(self._request_failed, request, str(exc), self.now())
            return
        except Exception as exc:  # noqa: BLE001 - one subscription's trouble is its own
            log.error("websub: %s request to %s failed unexpectedly: %s", request.mode, request.hub, exc)
            await asyncio.to_thread(self._request_failed, request, f"{type(exc).__name__}: {exc}", self.now())
            return
        metrics.websub_request(request.mode, "accepted")
        log.info(
            "websub: hub %s accepted the %s request for %s (HTTP %d); waiting for its verification",
            request.hub,
            request.mode,
            request.topic,
            status,
            extra=context,
        )

    def _request_failed(self, request: Request, reason: str, now: datetime) -> None:
        with self.db.session() as session:
            row = session.get(WebSubRow, request.token, with_for_update=True)
            if row is None or row.pending != request.mode:
                return  # verified (or replaced) while the request was out
            self._note_failure(session, row, request.mode, reason, now)

    # --- the callback listener's side (called in its threads) ----------------------------------

    def verify(self, token: str, params: Mapping[str, str]) -> tuple[int, bytes, bool]:
        """Answer a hub's GET on a callback: (status, body, whether a source's polling changes).
        A verification of intent is confirmed (the challenge echoed) only for the request pending
        on that subscription, same mode and topic; anything else is 404."""
        mode, topic = params.get("hub.mode", ""), params.get("hub.topic", "")
        challenge = params.get("hub.challenge", "")
        now = self.now()
        with self.db.session() as session:
            row = session.get(WebSubRow, token, with_for_update=True)
            if row is None:
                return _refused(f"verification of {mode or 'nothing'!r} for an unknown callback", 404)
            context = {"source": row.source}
            if mode == "denied":
                if topic != row.topic:
                    return _refused(f"denial for another topic {topic[:200]!r}", 404, context)
                reason = " ".join(params.get("hub.reason", "").split())[:500]
                log.warning(
                    "websub: hub %s denied the subscription: %s",
                    row.hub,
                    reason or "(no reason)",
                    extra=context,
                )
                was_pushed = row.state == SUBSCRIBED
                if was_pushed:
                    poll_soon(session, row.source, now)
                if row.state == UNSUBSCRIBING:
                    session.delete(row)
                else:
                    row.state, row.pending = DENIED, None
                    row.failures += 1
                    row.last_error = f"denied by the hub: {reason or 'no reason given'}"
                    row.retry_at = now + self.fetch.max_backoff
                return 200, b"", was_pushed
            if mode not in (SUBSCRIBE, UNSUBSCRIBE) or not challenge or len(challenge) > MAX_CHALLENGE:
                return _refused(f"malformed verification (hub.mode {mode[:20]!r})", 400, context)
            if row.pending != mode or topic != row.topic:
                asked = f"{row.pending} {row.topic}" if row.pending else "nothing"
                return _refused(
                    f"unsolicited {mode} verification for {topic[:200]!r} (pending: {asked})", 404, context
                )
            if mode == UNSUBSCRIBE:
                session.delete(row)
                log.info("websub: unsubscribed from %s at %s", row.topic, row.hub, extra=context)
                return 200, challenge.encode(), False
            lease = _lease(params.get("hub.lease_seconds"), self.settings.lease_seconds)
            was_pushed = row.state == SUBSCRIBED and row.expires_at is not None and row.expires_at > now
            row.state, row.pending = SUBSCRIBED, None
            row.verified_at, row.lease_seconds = now, int(lease.total_seconds())
            row.expires_at = now + lease
            row.renew_at = row.expires_at - renew_margin(lease)
            row.failures, row.retry_at, row.last_error = 0, None, None
            log.info(
                "websub: %s %s at %s; lease %ds, renewed from %s",
                "renewed" if was_pushed else "subscribed to",
                row.topic,
                row.hub,
                row.lease_seconds,
                row.renew_at.isoformat(timespec="seconds"),
                extra=context,
            )
            return 200, challenge.encode(), not was_pushed

    def subscription(self, token: str) -> tuple[str, str, str] | None:
        """(source, topic, secret) of the subscription at `token`, or None."""
        with self.db.session() as session:
            row = session.get(WebSubRow, token)
            if row is None:
                return None
            return row.source, row.topic, row.secret

    def pushed(self, token: str) -> None:
        """Count a push that was stored."""
        with self.db.session() as session:
            row = session.get(WebSubRow, token)
            if row is not None:
                row.pushes += 1
                row.last_push_at = self.now()


def _request(row: WebSubRow, mode: str) -> Request:
    return Request(row.token, mode, row.source, row.hub, row.topic, row.secret)


def poll_soon(session: Session, source: str, now: datetime) -> None:
    """A source no hub pushes any more is due for a poll now: it may have missed pushes, and a
    cluster's claims (newswatch/distributed.py) had moved its next poll `fallback_every` away. (A
    single node reschedules its job: Service.sync_schedules.)"""
    session.execute(
        update(SourceState)
        .where(SourceState.name == source, SourceState.next_poll_at > now)
        .values(next_poll_at=now)
    )


def _retire(session: Session, row: WebSubRow, now: datetime) -> list[Request]:
    """Unsubscribe `row` when the hub may hold it (a lease that runs, or a request out); else drop it."""
    if row.state == SUBSCRIBED:
        poll_soon(session, row.source, now)
    if (row.expires_at is not None and row.expires_at > now) or row.pending == SUBSCRIBE:
        row.state, row.pending, row.requested_at = UNSUBSCRIBING, UNSUBSCRIBE, now
        row.failures, row.retry_at = 0, None
        return [_request(row, UNSUBSCRIBE)]
    session.delete(row)
    return []


def _lease(value: str | None, asked: int) -> timedelta:
    """The lease the hub granted (hub.lease_seconds), else the one asked for; at most a year."""
    if value is not None and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 12:
        seconds = int(value.strip())
        if seconds > 0:
            return min(timedelta(seconds=seconds), MAX_LEASE)
    return timedelta(seconds=asked)


def _refused(reason: str, status: int, context: dict[str, str] | None = None) -> tuple[int, bytes, bool]:
    log.warning("websub: refused %s", reason, extra=context or {})
    metrics.websub_callback("verification", "refused")
    return status, b"", False


# --- the callback listener ----------------------------------------------------------------------


class WebSubServer:
    """The callback endpoint bound to `websub.listen`, serving until `close()`."""

    def __init__(
        self,
        service: Service,
        manager: WebSub,
        loop: asyncio.AbstractEventLoop,
        address: tuple[str, int],
    ) -> None:
        self._server = ThreadingHTTPServer(address, _handler_for(service, manager, loop))
        self._server.daemon_threads = True
        self.address = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="websub", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("websub callback listening on %s:%s", *self.address)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def serving(service: Service, loop: asyncio.AbstractEventLoop) -> Any:
    """While the block runs: the callback listener on `websub.listen`, and the service subscribing
    to the hubs its feeds advertise (only then: a hub verifies through the listener). Nothing when
    `websub` is not configured. Raises ConfigError when the address cannot be bound."""
    from core.errors import ConfigError

    settings = service.config.websub
    if settings is None:
        yield None
        return
    manager = service.start_websub(settings)
    try:
        server = WebSubServer(service, manager, loop, settings.address)
    except OSError as exc:
        raise ConfigError(f"websub.listen: cannot listen on {settings.listen}: {exc}") from None
    server.start()
    try:
        yield server
    finally:
        server.close()
        service.websub = None


def _handler_for(
    service: Service, manager: WebSub, loop: asyncio.AbstractEventLoop
) -> type[BaseHTTPRequestHandler]:
    reading = threading.BoundedSemaphore(max(service.config.fetch.concurrency, 1))

    class Handler(BaseHTTPRequestHandler):
        server_version = "newswatch-websub"
        timeout = READ_TIMEOUT  # a hub that stalls mid-request is dropped

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            token = parts.path.rstrip("/").rpartition("/")[2]
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            try:
                status, body, changed = manager.verify(token, params)
            except Exception:  # a database hiccup: the hub retries its verification
                log.exception("websub: verification failed")
                status, body, changed = 500, b"", False
            if status == 200:
                denied = params.get("hub.mode") == "denied"
                metrics.websub_callback("verification", "denied" if denied else "confirmed")
            if changed:
                asyncio.run_coroutine_threadsafe(service.sync_schedules(), loop)
            self._send(status, body)

        def do_POST(self) -> None:
            token = urlsplit(self.path).path.rstrip("/").rpartition("/")[2]
            status = self._push(token)
            self._send(status, b"")

        def _push(self, token: str) -> int:
            found = manager.subscription(token)
            if found is None:
                log.warning("websub: refused a push for an unknown callback")
                metrics.websub_callback("push", "unknown")
                return 410  # the spec's "this subscription is deleted"
            name, topic, secret = found
            context = {"source": name}
            source = next((s for s in service.config.sources if s.name == name and s.enabled), None)
            if source is None:
                log.warning("websub: refused a push: the source is no longer in the config", extra=context)
                metrics.websub_callback("push", "unknown")
                return 410
            if self.headers.get("Transfer-Encoding"):
                log.warning("websub: refused a push without a Content-Length", extra=context)
                return 411
            length = self.headers.get("Content-Length", "")
            if not length.isascii() or not length.isdigit():
                log.warning("websub: refused a push without a Content-Length", extra=context)
                return 411
            limit = service.config.fetch.max_bytes
            if int(length) > limit:
                log.warning(
                    "websub: refused a push of %s bytes, more than fetch.max_bytes (%d)",
                    length,
                    limit,
                    extra=context,
                )
                metrics.websub_callback("push", "too_large")
                return 413
            encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                log.warning("websub: refused a push with Content-Encoding %r", encoding[:40], extra=context)
                return 415
            if not reading.acquire(blocking=False):
                log.warning("websub: too many pushes at once; the hub will retry", extra=context)
                return 503
            try:
                try:
                    body = self.rfile.read(int(length))
                except OSError as exc:  # a read timeout: a hub that stalls mid-body
                    log.warning("websub: a push's body did not arrive: %s", exc, extra=context)
                    return 408
                if len(body) != int(length):
                    log.warning("websub: a push ended before its Content-Length", extra=context)
                    return 400
                verdict = check_signature(self.headers.get("X-Hub-Signature"), body, secret)
                if not verdict.ok:
                    log.warning("websub: refused a push for %s: %s", topic, verdict.reason, extra=context)
                    metrics.websub_callback("push", "bad_signature")
                    return 403 if "does not match" in verdict.reason else 400
                return self._store(token, source, body, topic)
            finally:
                reading.release()

        def _store(self, token: str, source: SourceConfig, body: bytes, topic: str) -> int:
            context = {"source": source.name}
            content_type = self.headers.get("Content-Type", "")
            work = service.receive_push(source, body, content_type, topic)
            budget = service.config.pipeline.process_timeout.total_seconds() + PUSH_TIMEOUT_MARGIN
            try:
                future = asyncio.run_coroutine_threadsafe(work, loop)
            except RuntimeError:  # the loop is closed: the service is stopping
                work.close()
                return 503
            try:
                outcome: PollOutcome = future.result(budget)
            except TimeoutError:
                future.cancel()
                log.error("websub: a push took longer than %.0fs; the hub will retry", budget, extra=context)
                metrics.websub_callback("push", "failed")
                return 503
            except Exception as exc:  # noqa: BLE001 - the push's failure, answered 500 so the hub retries
                log.error("websub: a push failed: %s", exc, extra=context)
                metrics.websub_callback("push", "failed")
                return 500
            if not outcome.ok or outcome.skipped:
                metrics.websub_callback("push", "failed")
                return 503
            metrics.websub_callback("push", "stored")
            try:
                manager.pushed(token)
            except Exception:  # only a counter
                log.debug("websub: could not count the push", exc_info=True)
            return 204

        def _send(self, code: int, body: bytes) -> None:
            try:
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                self.wfile.write(body)
            except OSError as exc:  # the hub hung up first
                log.debug("websub: could not answer %d: %s", code, exc)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("websub: " + format, *args)

    return Handler
