"""WebSub push against a real hub on loopback (tests/websub_hub.py): subscribe, verify, push to
alert, hostile pushes, unsolicited verifications, lease renewal, unsubscribe, fallback to polling."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from core.config import Config
from core.db import ArticleRow, Database, SourceState, WebSubRow, utcnow
from core.errors import ConfigError
from ingest.sources.status import source_rows
from ingest.websub import sign
from newswatch import websub
from newswatch.runtime import apply_config
from newswatch.service import Service
from newswatch.web import render_status
from tests.conftest import HttpServer, Received, Served, Workspace, free_port
from tests.websub_hub import Hub

LEASE = 3600  # seconds the subscriber asks for (and the hub grants)


WORDS = [
    "harbour",
    "council",
    "budget",
    "ferry",
    "vote",
    "school",
    "river",
    "bridge",
    "market",
    "clinic",
    "farmers",
    "tram",
    "museum",
    "election",
    "police",
    "court",
    "festival",
    "airport",
    "teachers",
    "hospital",
    "rail",
    "drought",
    "library",
    "union",
    "housing",
    "energy",
    "wind",
    "solar",
    "mayor",
    "protest",
    "strike",
    "lorry",
    "port",
    "cargo",
    "fishing",
    "forest",
]


def story(guid: str) -> str:
    """A text of its own for each item, so deduplication keeps the items apart."""
    return " ".join(random.Random(guid).choices(WORDS, k=60))


def feed(hub: str | None, topic: str | None, items: list[tuple[str, str]], *, links: bool = True) -> bytes:
    """An RSS feed of `items` (guid, title) naming `hub` and `topic` as atom:links when `links`."""
    head = ""
    if links and hub is not None and topic is not None:
        head = f'<atom:link rel="hub" href="{hub}"/><atom:link rel="self" href="{topic}"/>'
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>https://wire.example/{guid}</link>"
        f"<description>{title}. {story(guid)}.</description></item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f"<title>Wire</title>{head}{entries}</channel></rss>"
    ).encode()


class Clock:
    """Wall time plus an offset the test moves forward (leases are read on this clock)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class Desk:
    """One test's peers: the hub, the feed server (which also takes the alert webhooks), the
    callback's port, and the workspace whose config wires them together."""

    hub: Hub
    server: HttpServer
    port: int
    workspace: Workspace

    @property
    def topic(self) -> str:
        return self.server.url("/topic.xml")  # the feed's self link: not the URL it is polled at

    @property
    def callback_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/websub"

    def serve(self, items: list[tuple[str, str]], *, headers: bool = False) -> None:
        """Serve the feed with `items`, naming the hub in the document (or in Link headers)."""
        links = {"Link": f'<{self.hub.url}>; rel="hub", <{self.topic}>; rel="self"'} if headers else {}
        self.server.routes["/feed"] = Served(
            feed(self.hub.url, self.topic, items, links=not headers), headers=links
        )

    def config(self, every: str = "1s", extra_sources: str = "", listen: str | None = None) -> Config:
        self.workspace.write_config(
            f"""\
fetch: {{allow_private_addresses: true, timeout: 5s}}
pipeline: {{workers: 0}}
websub:
  callback_url: {self.callback_base}
  listen: {listen or f"127.0.0.1:{self.port}"}
  lease_seconds: {LEASE}
sources:
  - name: wire
    feed: {self.server.url("/feed")}
    every: {every}
{extra_sources}channels:
  - name: desk
    webhook: {self.server.url("/hook")}
rules:
  - name: storms
    keywords: [storm]
    notify: [desk]
"""
        )
        return self.workspace.load_config()

    def feed_gets(self) -> int:
        return sum(1 for g in self.server.gets if g.path == "/feed")

    def hooks(self) -> list[Received]:
        return [r for r in self.server.received if r.path == "/hook"]


@pytest.fixture
def desk(workspace: Workspace, http_server: HttpServer) -> Iterator[Desk]:
    hub = Hub(max_lease=LEASE)
    yield Desk(hub, http_server, free_port(), workspace)
    hub.close()


async def until(condition: Callable[[], object], deadline: float, what: str) -> None:
    """Wait for `condition` (checked every 20 ms); fail saying `what` did not happen in time."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline:g} s")
        await asyncio.sleep(0.02)


def run_service(config: Config, clock: Clock, scenario: Callable[[Service], Awaitable[None]]) -> None:
    """Run the service as `run` does (scheduler, callback listener) while `scenario` runs."""

    async def go() -> None:
        db = Database(config.database)
        stop = asyncio.Event()
        try:
            async with Service(config, db, now=clock) as service:
                with websub.serving(service, asyncio.get_running_loop()):

                    async def watch() -> None:
                        try:
                            while service.scheduler is None or not service.scheduler.running:
                                await asyncio.sleep(0.01)
                            await scenario(service)
                        finally:
                            stop.set()

                    watcher = asyncio.create_task(watch())
                    await service.run_forever(stop)
                    await watcher
        finally:
            db.close()

    asyncio.run(go())


def rows(db: Database) -> list[WebSubRow]:
    with db.session() as session:
        found = list(session.scalars(select(WebSubRow).order_by(WebSubRow.created_at)))
        session.expunge_all()
        return found


def articles(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(ArticleRow)) or 0)


def poll_interval(service: Service, name: str = "wire") -> timedelta:
    assert service.scheduler is not None
    job = service.scheduler.get_job(f"poll:{name}")
    assert job is not None
    interval: timedelta = job.trigger.interval
    return interval


async def quiet_feed(desk: Desk, deadline: float = 15) -> int:
    """The feed's GET count once it has not moved for 1.5 s (longer than the 1 s polling interval
    the tests use): polling has stopped and no poll is left half-way."""
    end = time.monotonic() + deadline
    while True:
        count = desk.feed_gets()
        await asyncio.sleep(1.5)
        if desk.feed_gets() == count:
            return count
        if time.monotonic() > end:
            raise AssertionError(f"the feed still polled after {deadline:g} s")


async def subscribed(service: Service, desk: Desk, topic: str | None = None) -> WebSubRow:
    """Wait until the hub holds a verified subscription of `topic` and the service knows it."""
    topic = topic or desk.topic
    await until(lambda: desk.hub.active(topic), 10, f"the hub verifying a subscription to {topic}")
    await until(
        lambda: any(r.state == "subscribed" and r.topic == topic for r in rows(service.db)),
        5,
        "the subscription recorded as verified",
    )
    return next(r for r in rows(service.db) if r.topic == topic)


@pytest.mark.parametrize("where", ["document", "headers"])
def test_subscribes_to_the_advertised_hub_with_a_secret_and_a_callback_of_its_own(
    desk: Desk, where: str
) -> None:
    desk.serve([("a-1", "Harbour reopens")], headers=where == "headers")
    other_topic = desk.server.url("/other-topic.xml")
    desk.server.routes["/other"] = Served(feed(desk.hub.url, other_topic, [("b-1", "Quiet day")]))
    other = f"  - name: other\n    feed: {desk.server.url('/other')}\n    every: 1s\n"
    config = desk.config(extra_sources=other)
    clock = Clock()

    async def scenario(service: Service) -> None:
        mine = await subscribed(service, desk)
        theirs = await subscribed(service, desk, other_topic)
        wire = next(r for r in desk.hub.requests if r.topic == desk.topic)
        assert wire.mode == "subscribe" and wire.lease_seconds == str(LEASE)
        # hub.topic is the self link, not the URL the feed was polled at.
        assert wire.topic == desk.topic != desk.server.url("/feed")
        assert wire.callback == f"{desk.callback_base}/{mine.token}" and len(mine.token) >= 40
        assert wire.secret == mine.secret and len(mine.secret) >= 32
        # Each subscription has its own callback and secret.
        assert theirs.token != mine.token and theirs.secret != mine.secret
        verified = [v for v in desk.hub.verifications if v.topic == desk.topic]
        assert [(v.mode, v.status, v.confirmed) for v in verified] == [("subscribe", 200, True)]
        assert mine.expires_at is not None and mine.verified_at is not None
        assert mine.expires_at - mine.verified_at == timedelta(seconds=LEASE)
        with service.db.session() as session:
            listed = {r["name"]: r for r in source_rows(session, service.config.sources)}
        assert listed["wire"]["websub"]["state"] == "subscribed"
        assert listed["wire"]["websub"]["hub"] == desk.hub.url
        assert "WebSub: subscribed until" in render_status(service)

    run_service(config, clock, scenario)


def test_a_push_leads_to_an_alert_with_no_poll_in_between(desk: Desk) -> None:
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config(every="1s")
    clock = Clock()

    async def scenario(service: Service) -> None:
        await subscribed(service, desk)
        # Polling drops to websub.fallback_every (1h) while the hub pushes.
        await until(lambda: poll_interval(service) == timedelta(hours=1), 5, "polling dropping to 1h")
        polls = await quiet_feed(desk)  # a poll already under way when it dropped has made its GET
        body = feed(desk.hub.url, desk.topic, [("a-2", "Storm hits the coast"), ("a-1", "Harbour reopens")])
        desk.server.routes["/feed"] = Served(body)  # what a poll would now find, too
        statuses = await asyncio.to_thread(desk.hub.publish, desk.topic, body)
        assert statuses == [204]
        await until(lambda: desk.hooks(), 2, "the push's alert reaching the webhook")
        assert desk.feed_gets() == polls  # no poll in between: the push alone did it
        [hook] = desk.hooks()
        assert json.loads(hook.body)["data"]["article"]["title"] == "Storm hits the coast"
        # The hub sends it again (a retry): stored once, alerted once.
        assert await asyncio.to_thread(desk.hub.publish, desk.topic, body) == [204]
        await asyncio.sleep(0.3)
        assert len(desk.hooks()) == 1 and articles(service.db) == 2
        [row] = rows(service.db)
        assert row.pushes == 2 and row.last_push_at is not None

    run_service(config, clock, scenario)


def test_pushes_without_a_valid_signature_store_nothing(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config(every="1h")
    clock = Clock()
    storm = feed(desk.hub.url, desk.topic, [("a-2", "Storm hits the coast")])

    async def scenario(service: Service) -> None:
        row = await subscribed(service, desk)
        stored = articles(service.db)
        [subscription] = desk.hub.active(desk.topic)
        refused = {
            "wrong secret": await asyncio.to_thread(desk.hub.publish, desk.topic, storm, secret="x"),
            "no signature": [await _post(subscription.callback, storm, {})],
            "md5": [await _post(subscription.callback, storm, {"X-Hub-Signature": "md5=" + "0" * 32})],
            "signature of another body": await asyncio.to_thread(
                desk.hub.publish, desk.topic, storm, signature=sign(b"something else", row.secret)
            ),
            "unknown callback": [
                await _post(
                    f"{desk.callback_base}/{'x' * 43}", storm, {"X-Hub-Signature": sign(storm, row.secret)}
                )
            ],
        }
        assert refused == {
            "wrong secret": [403],
            "no signature": [400],
            "md5": [400],
            "signature of another body": [403],
            "unknown callback": [410],
        }
        # Refused on its Content-Length, before a byte of the body is read.
        assert (
            await asyncio.to_thread(_oversized, subscription.callback, service.config.fetch.max_bytes + 1)
            == 413
        )
        await asyncio.sleep(0.3)
        assert articles(service.db) == stored and desk.hooks() == []
        # And the same body, signed with the subscription's secret, goes through.
        assert await asyncio.to_thread(desk.hub.publish, desk.topic, storm) == [204]
        await until(lambda: desk.hooks(), 5, "the signed push's alert")
        assert articles(service.db) == stored + 1

    with caplog.at_level(logging.WARNING, logger="newswatch.websub"):
        run_service(config, clock, scenario)
    lines = [r.getMessage() for r in caplog.records if "refused a push" in r.getMessage()]
    assert any("signature does not match" in line for line in lines)
    assert any("no X-Hub-Signature" in line for line in lines)
    assert any("unsupported signature method 'md5'" in line for line in lines)
    assert any("unknown callback" in line for line in lines)
    assert any("fetch.max_bytes" in line for line in lines)


def test_a_push_signed_with_sha1_is_accepted(desk: Desk) -> None:
    desk.hub.algorithm = "sha1"  # what most hubs still send
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config(every="1h")

    async def scenario(service: Service) -> None:
        await subscribed(service, desk)
        body = feed(desk.hub.url, desk.topic, [("a-2", "Storm hits the coast")])
        assert await asyncio.to_thread(desk.hub.publish, desk.topic, body) == [204]
        await until(lambda: desk.hooks(), 5, "the sha1-signed push's alert")

    run_service(config, Clock(), scenario)


def _oversized(url: str, length: int) -> int:
    """POST headers that announce a `length`-byte body, and a few bytes of it; the status answered."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as connection:
        head = f"POST {parts.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n<rss>"
        connection.sendall(head.encode())
        answer = b""
        while chunk := connection.recv(1024):
            answer += chunk
        return int(answer.split()[1])


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url, content=body, headers={"Content-Type": "application/rss+xml", **headers}
        )
        return response.status_code


async def _verify(url: str, mode: str, topic: str, challenge: str = "c-123") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge, "hub.lease_seconds": "60"}
        return await client.get(url, params=params)


def test_an_unsolicited_verification_is_refused(desk: Desk) -> None:
    desk.hub.verify = False  # the hub takes the request and leaves it pending
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config(every="1h")

    async def scenario(service: Service) -> None:
        # A callback nobody asked for.
        stranger = await _verify(f"{desk.callback_base}/{'y' * 43}", "subscribe", desk.topic)
        assert stranger.status_code == 404 and "c-123" not in stranger.text
        await until(lambda: rows(service.db), 10, "the subscription request")
        [row] = rows(service.db)
        assert row.state == "requested" and row.pending == "subscribe"
        callback = f"{desk.callback_base}/{row.token}"
        # The pending callback, but another topic, or the other mode: refused.
        assert (await _verify(callback, "subscribe", desk.server.url("/elsewhere"))).status_code == 404
        assert (await _verify(callback, "unsubscribe", desk.topic)).status_code == 404
        assert rows(service.db)[0].state == "requested"
        # What was asked for: the challenge echoed.
        confirmed = await _verify(callback, "subscribe", desk.topic, "c-456")
        assert (confirmed.status_code, confirmed.text) == (200, "c-456")
        # Asked once, confirmed once: the same verification again is unsolicited now, and an
        # unsubscribe nobody asked for does not end the subscription.
        assert (await _verify(callback, "subscribe", desk.topic, "c-789")).status_code == 404
        assert (await _verify(callback, "unsubscribe", desk.topic)).status_code == 404
        [after] = rows(service.db)
        assert after.state == "subscribed" and after.lease_seconds == 60

    run_service(config, Clock(), scenario)


def test_the_lease_is_renewed_before_it_ends_on_a_test_clock(desk: Desk) -> None:
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config(every="1h")
    clock = Clock()

    async def scenario(service: Service) -> None:
        first = await subscribed(service, desk)
        assert first.renew_at is not None and first.expires_at is not None
        assert first.expires_at - first.renew_at == timedelta(seconds=LEASE / 5)
        clock.offset = timedelta(minutes=30)  # half-way: nothing to do yet
        await service.websub_maintain()
        assert len(desk.hub.requests) == 1
        clock.offset = first.renew_at - utcnow() + timedelta(seconds=1)  # just past the renewal time
        await service.websub_maintain()
        await until(lambda: len(desk.hub.verifications) == 2, 5, "the hub verifying the renewal")
        renewal = desk.hub.requests[1]
        assert renewal.mode == "subscribe" and renewal.lease_seconds == str(LEASE)
        assert (renewal.callback, renewal.secret) == (desk.hub.requests[0].callback, first.secret)
        await until(lambda: rows(service.db)[0].pending is None, 5, "the renewal recorded")
        [renewed] = rows(service.db)
        assert renewed.token == first.token and renewed.state == "subscribed"
        assert renewed.expires_at is not None and renewed.expires_at - first.expires_at >= clock.offset
        assert poll_interval(service) == timedelta(hours=1)  # pushed all along

    run_service(config, clock, scenario)


def test_unsubscribes_when_the_source_leaves_the_config(desk: Desk) -> None:
    desk.serve([("a-1", "Harbour reopens")])
    calm = desk.server.url("/calm")
    desk.server.routes["/calm"] = Served(feed(None, None, [("c-1", "Calm seas")]))
    config = desk.config(every="1h", extra_sources=f"  - name: calm\n    feed: {calm}\n    every: 1h\n")

    async def scenario(service: Service) -> None:
        row = await subscribed(service, desk)
        apply_config(service, config.model_copy(update={"sources": [config.source("calm")]}))
        await until(lambda: not desk.hub.active(desk.topic), 10, "the hub dropping the subscription")
        unsubscribe = desk.hub.requests[-1]
        assert unsubscribe.mode == "unsubscribe" and unsubscribe.callback.endswith(row.token)
        assert desk.hub.verifications[-1].mode == "unsubscribe" and desk.hub.verifications[-1].confirmed
        await until(lambda: rows(service.db) == [], 5, "the subscription deleted")
        body = feed(desk.hub.url, desk.topic, [("a-2", "Storm hits the coast")])
        assert desk.hub.publish(desk.topic, body) == []  # nobody left to push to

    run_service(config, Clock(), scenario)


@pytest.mark.parametrize("trouble", ["the hub dies", "the lease lapses"])
def test_polling_returns_to_its_interval_when_the_hub_stops(desk: Desk, trouble: str) -> None:
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config(every="1s")
    clock = Clock()

    async def scenario(service: Service) -> None:
        first = await subscribed(service, desk)
        await until(lambda: poll_interval(service) == timedelta(hours=1), 5, "polling dropping to 1h")
        polls = desk.feed_gets()
        assert first.renew_at is not None and first.expires_at is not None
        if trouble == "the hub dies":
            desk.hub.close()
            clock.offset = first.renew_at - utcnow() + timedelta(seconds=1)
        else:  # the hub takes the renewals and never verifies them
            desk.hub.verify = False
            clock.offset = first.renew_at - utcnow() + timedelta(seconds=1)
            await service.websub_maintain()  # a renewal is asked for, and stays pending
            assert rows(service.db)[0].pending == "subscribe"
            clock.offset = first.expires_at - utcnow() + timedelta(seconds=1)
        await service.websub_maintain()
        await until(lambda: poll_interval(service) == timedelta(seconds=1), 5, "polling back to 1s")
        await until(lambda: desk.feed_gets() > polls + 1, 10, "the feed polled again")
        [row] = rows(service.db)
        if trouble == "the hub dies":
            assert row.state == "failed" and "cannot reach" in (row.last_error or "")
        else:
            assert row.state == "expired" and "lapsed" in (row.last_error or "")

    run_service(config, clock, scenario)


def test_a_denied_subscription_is_polled_as_usual(desk: Desk) -> None:
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config(every="1s")

    async def scenario(service: Service) -> None:
        row = await subscribed(service, desk)
        await until(lambda: poll_interval(service) == timedelta(hours=1), 5, "polling dropping to 1h")
        assert await asyncio.to_thread(desk.hub.deny, desk.topic, f"{desk.callback_base}/{row.token}") == 200
        await until(lambda: poll_interval(service) == timedelta(seconds=1), 5, "polling back to 1s")
        [denied] = rows(service.db)
        assert denied.state == "denied" and "not allowed" in (denied.last_error or "")

    run_service(config, Clock(), scenario)


def test_websub_settings(bare_workspace: Workspace) -> None:
    def load(websub_yaml: str) -> Config:
        bare_workspace.write_config(f"websub: {websub_yaml}\nsources: []\n")
        return bare_workspace.load_config()

    settings = load("{callback_url: 'https://news.example/websub/'}").websub
    assert settings is not None
    assert settings.callback_url == "https://news.example/websub"
    assert settings.address == ("127.0.0.1", 8788)  # loopback unless configured
    assert settings.fallback_every == timedelta(hours=1)
    assert settings.lease_seconds == 864_000
    for bad, words in [
        ("{callback_url: 'ftp://x'}", "not an http:// or https:// URL"),
        ("{callback_url: 'https://x/?a=1'}", "query"),
        ("{callback_url: 'https://x', listen: '8788'}", "not host:port"),
        ("{callback_url: 'https://x', lease_seconds: 5}", "greater than or equal to 60"),
        ("{listen: '127.0.0.1:1'}", "callback_url: Field required"),
    ]:
        with pytest.raises(ConfigError, match=words):
            load(bad)


def _start(desk: Desk, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`newswatch ARGS` in a child process, its output in `<name>.log` of the workspace."""
    with (desk.workspace.root / f"{name}.log").open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "newswatch", "--config", str(desk.workspace.config), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **desk.workspace.env, **(env or {})},
        )


def _wait(
    condition: Callable[[], object], deadline: float, desk: Desk, *processes: subprocess.Popen[bytes]
) -> None:
    """Wait for `condition` while the processes run; fail with their logs."""
    end = time.monotonic() + deadline
    while not condition():
        logs = "\n".join(p.read_text() for p in desk.workspace.root.glob("*.log"))
        assert all(p.poll() is None for p in processes), logs
        assert time.monotonic() < end, logs
        time.sleep(0.05)


def _stop(desk: Desk, *processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        logs = "\n".join(p.read_text() for p in desk.workspace.root.glob("*.log"))
        assert process.wait(60) == 0, logs


def test_run_serves_the_callback_and_sources_shows_the_subscription(desk: Desk) -> None:
    """`newswatch run` as a user starts it: subscribes, takes a push, alerts; `sources` says so."""
    desk.serve([("a-1", "Harbour reopens")])
    desk.config(every="1h")
    process = _start(desk, "run", "run")
    try:
        _wait(lambda: desk.hub.active(desk.topic), 30, desk, process)
        body = feed(desk.hub.url, desk.topic, [("a-2", "Storm hits the coast")])
        assert desk.hub.publish(desk.topic, body) == [204]
        _wait(desk.hooks, 10, desk, process)
        listed = desk.workspace.cli("sources", "--json")
        assert listed.returncode == 0, listed.stderr
        [wire] = json.loads(listed.stdout)
        assert wire["websub"]["state"] == "subscribed" and wire["websub"]["pushes"] == 1
        assert wire["websub"]["topic"] == desk.topic
        table = desk.workspace.cli("sources", env={"COLUMNS": "250"})
        assert "subscribed" in table.stdout
    finally:
        _stop(desk, process)


@pytest.mark.only_backend("postgresql", reason="distributed mode runs on PostgreSQL only")
def test_every_distributed_node_serves_the_callback(desk: Desk) -> None:
    """A scheduler and a worker, each with its own listener: the hub's callback URL reaches the
    scheduler, and a push to the worker's listener is taken there just the same."""
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config(every="1h", listen="127.0.0.1:${WEBSUB_PORT:-1}")
    worker_port = free_port()
    scheduler = _start(desk, "scheduler", "run", "--distributed", env={"WEBSUB_PORT": str(desk.port)})
    worker = _start(desk, "worker", "worker", env={"WEBSUB_PORT": str(worker_port)})
    try:
        _wait(lambda: desk.hub.active(desk.topic), 60, desk, scheduler, worker)
        first = feed(desk.hub.url, desk.topic, [("a-2", "Storm hits the coast")])
        assert desk.hub.publish(desk.topic, first) == [204]
        _wait(lambda: len(desk.hooks()) == 1, 15, desk, scheduler, worker)
        db = Database(config.database)
        try:
            [row] = rows(db)
        finally:
            db.close()
        second = feed(desk.hub.url, desk.topic, [("a-3", "Second storm on its way")])
        on_worker = httpx.post(
            f"http://127.0.0.1:{worker_port}/websub/{row.token}",
            content=second,
            headers={"Content-Type": "application/rss+xml", "X-Hub-Signature": sign(second, row.secret)},
            timeout=30,
        )
        assert on_worker.status_code == 204
        _wait(lambda: len(desk.hooks()) == 2, 15, desk, scheduler, worker)
        titles = {json.loads(h.body)["data"]["article"]["title"] for h in desk.hooks()}
        assert titles == {"Storm hits the coast", "Second storm on its way"}
    finally:
        _stop(desk, worker, scheduler)


def test_the_callback_address_must_be_free(desk: Desk) -> None:
    desk.serve([("a-1", "Harbour reopens")])
    config = desk.config()

    async def go() -> None:
        db = Database(config.database)
        try:
            async with Service(config, db) as service:
                loop = asyncio.get_running_loop()
                with (
                    websub.serving(service, loop),
                    pytest.raises(ConfigError, match=r"websub\.listen: cannot listen"),
                    websub.serving(service, loop),
                ):
                    pass
        finally:
            db.close()

    asyncio.run(go())


def test_a_cluster_polls_a_source_at_once_when_its_hub_stops(desk: Desk) -> None:
    """What a distributed cluster's claims read (newswatch/distributed.py `claim_due`): the pushed
    sources and their next poll. A failed renewal takes the source off the pushed list and brings
    the next poll, which the claims had set an hour away, to now."""
    config = desk.config(every="30s")
    source = config.source("wire")
    clock = Clock()
    now = clock()
    db = Database(config.database)
    try:
        with db.session() as session:
            session.add(SourceState(name="wire", location=source.location, failures=0, articles_seen=0))
            session.flush()
            session.get_one(SourceState, "wire").next_poll_at = now + timedelta(hours=1)
            session.add(
                WebSubRow(
                    token="t" * 43,
                    source="wire",
                    hub=f"http://127.0.0.1:{free_port()}/",  # nothing listens: the hub is gone
                    topic=desk.topic,
                    secret="s" * 43,
                    state="subscribed",
                    verified_at=now,
                    lease_seconds=LEASE,
                    expires_at=now + timedelta(seconds=LEASE),
                    renew_at=now - timedelta(seconds=1),  # due for renewal
                    failures=0,
                    pushes=0,
                    created_at=now,
                )
            )
        with db.session() as session:
            assert websub.pushed_sources(session, now) == {"wire"}
        assert websub.poll_every(source, config.websub, True) == timedelta(hours=1)

        async def renew() -> int:
            async with Service(config, db, now=clock) as service:
                assert config.websub is not None
                return await service.start_websub(config.websub).maintain(config.sources)

        assert asyncio.run(renew()) == 1
        with db.session() as session:
            assert websub.pushed_sources(session, clock()) == set()
            state = session.get_one(SourceState, "wire")
            assert state.next_poll_at is not None and state.next_poll_at <= clock()
            row = session.get_one(WebSubRow, "t" * 43)
            assert row.state == "failed" and row.retry_at is not None and row.retry_at > now
    finally:
        db.close()
