"""Delivery spread over a cluster's workers: claimed pages, one rate limit and one digest cluster-wide."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from alerts import outbox
from alerts.delivery import CONCURRENCY
from alerts.models import Match
from core.db import AlertRow, ArticleRow, Database
from newswatch.service import Service
from tests.alerts.test_digests_and_rate_limits import Clock, setup
from tests.conftest import HttpServer, Workspace, free_port
from tests.newswatch.test_cluster_nodes import _ready
from tests.newswatch.test_distributed import Node, _start, _stop, _wait

pytestmark = pytest.mark.only_backend("postgresql", reason="distributed mode runs on PostgreSQL only")

ALERTS = 200
POST_SECONDS = 0.2


def _together(services: list[Service], clock: Clock, *, poll: bool) -> None:
    """Two nodes' drains at the same moment on one database (in one process, as two services)."""

    async def go() -> None:
        for service in services:
            service.now = clock
            await service.__aenter__()
        try:
            if poll:
                await services[0].poll(services[0].config.sources[0])
            await asyncio.gather(*(service.deliver() for service in services))
        finally:
            for service in services:
                await service.__aexit__(None, None, None)

    asyncio.run(go())


def test_a_rate_limit_and_its_overflow_digest_hold_across_two_drains_at_once(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    channel = "    rate_limit: {count: 5, per: 1h}"
    first = setup(workspace, http_server, webhook_secret, 40, channel)
    second = setup(workspace, http_server, webhook_secret, 40, channel)
    clock = Clock(datetime(2026, 11, 25, 9, 20, tzinfo=UTC))
    try:
        _together([first, second], clock, poll=True)
        # Five tokens for the whole cluster: five alerts alone, the rest in one overflow digest.
        assert len(http_server.received) == 5
        with first.db.session() as session:
            rows = outbox.listing(session, limit=100)
        assert sorted(r["status"] for r in rows).count("sent") == 5
        waiting = [r for r in rows if r["status"] == "pending"]
        assert len(waiting) == 35 and len({r["batch"] for r in waiting}) == 1
        # When it falls due both drains see it; it goes out once, whole.
        clock.value += timedelta(hours=1)
        _together([first, second], clock, poll=False)
        assert len(http_server.received) == 6
        digest = json.loads(http_server.received[-1].body)
        assert len(digest["data"]["alerts"]) == 35
        with first.db.session() as session:
            assert {r["status"] for r in outbox.listing(session, limit=100)} == {"sent"}
    finally:
        first.db.close()
        second.db.close()


def _queue_alerts(url: str, start: int, count: int) -> None:
    """`count` matched articles with one pending alert each, committed at once."""
    db = Database(url)
    now = datetime.now(UTC)
    try:
        with db.session() as session:
            rows = [
                ArticleRow(
                    source="wire",
                    item_key=f"item-{n}",
                    url=f"http://wire.example/{n}",
                    title=f"Ceasefire talks, round {n}",
                    text="Negotiators met again.",
                    published_at=now,
                    first_seen_at=now,
                    updated_at=now,
                    content_hash=f"{n:064d}",
                )
                for n in range(start, start + count)
            ]
            session.add_all(rows)
            session.flush()
            outbox.enqueue_many(session, [(Match("talks", row.id, ()), ("newsroom",)) for row in rows], now)
    finally:
        db.close()


def _sent(url: str) -> int:
    db = Database(url)
    try:
        with db.session() as session:
            return session.query(AlertRow).filter(AlertRow.status == "sent").count()
    finally:
        db.close()


def _message_ids(url: str) -> set[str]:
    db = Database(url)
    try:
        with db.session() as session:
            return {m for (m,) in session.query(AlertRow.message_id).all()}
    finally:
        db.close()


def _workers(workspace: Workspace, count: int) -> list[tuple[Node, int]]:
    started = []
    for _ in range(count):
        port = free_port()
        env = {**workspace.env, "NODE_PORT": str(port)}
        started.append((_start(workspace, env, "worker", "--queues", "deliver"), port))
    for _node, port in started:
        _wait(lambda port=port: (_ready(port) or {}).get("code") == 200, 60, "a worker ready")
    return started


def _burst(
    workspace: Workspace, http_server: HttpServer, url: str, workers: int, start: int
) -> tuple[float, int]:
    """Seconds from queueing ALERTS alerts until `workers` delivery workers have sent them all, and
    the most POSTs the receiver answered at once meanwhile."""
    started = _workers(workspace, workers)
    try:
        before = _sent(url)
        http_server.peak_in_flight = 0
        _queue_alerts(url, start, ALERTS)
        began = time.monotonic()
        _wait(lambda: _sent(url) >= before + ALERTS, 120, f"{ALERTS} alerts sent by {workers} workers")
        return time.monotonic() - began, http_server.peak_in_flight
    finally:
        logs = _stop([node for node, _ in started])
        assert all("Traceback" not in log for log in logs), logs


@pytest.fixture
def delivery_config(workspace: Workspace, http_server: HttpServer) -> str:
    http_server.post_delay = POST_SECONDS
    workspace.write_config(
        'http: {listen: "127.0.0.1:${NODE_PORT}"}\n'
        f"channels:\n  - {{name: newsroom, webhook: {http_server.url('/hook')}}}\n"
        "rules:\n  - {name: talks, keywords: [ceasefire], notify: [newsroom]}\n"
    )
    return workspace.env["NEWSWATCH_DATABASE_URL"]


def test_two_workers_deliver_one_burst_side_by_side(
    workspace: Workspace, http_server: HttpServer, delivery_config: str
) -> None:
    # Speed is measured in bench.distributed; here the behaviour behind it: one worker never has
    # more than CONCURRENCY POSTs in flight, two workers share the burst and have more in flight at
    # once than either could alone, and still send each alert once.
    url = delivery_config
    one, one_peak = _burst(workspace, http_server, url, 1, 0)
    two, two_peak = _burst(workspace, http_server, url, 2, ALERTS)
    print(
        f"{ALERTS} alerts at {POST_SECONDS} s per POST: 1 worker {one:.2f} s (peak {one_peak} in flight),"
        f" 2 workers {two:.2f} s (peak {two_peak})"
    )
    ids = [r.headers["webhook-id"] for r in http_server.received]
    assert len(ids) == 2 * ALERTS and set(ids) == _message_ids(url)  # each sent once
    assert one_peak <= CONCURRENCY
    assert two_peak > CONCURRENCY, f"two workers never had more than {two_peak} POSTs in flight at once"


def test_a_worker_killed_mid_burst_loses_nothing_and_repeats_keep_their_webhook_id(
    workspace: Workspace, http_server: HttpServer, delivery_config: str
) -> None:
    url = delivery_config
    started = _workers(workspace, 2)
    (doomed, _), (survivor, _) = started
    # Twice the burst of the timing test: on a loaded machine one worker may start draining seconds
    # after the other, and must still find the burst under way (one worker alone takes ~10 s).
    alerts = 2 * ALERTS
    try:
        _queue_alerts(url, 0, alerts)

        def both_sending() -> bool:
            # More POSTs in flight than one worker ever has: the doomed one has some (on a busy
            # machine a worker that started late would otherwise die with nothing in flight).
            return _sent(url) >= 40 and http_server.in_flight > CONCURRENCY

        _wait(both_sending, 60, "the burst under way on both workers")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        killed = time.monotonic()
        _wait(lambda: _sent(url) == alerts, 60, "every alert sent")
        finished = time.monotonic() - killed
    finally:
        logs = _stop([survivor, doomed])
    ids = [r.headers["webhook-id"] for r in http_server.received]
    assert set(ids) == _message_ids(url)  # nothing lost; a repeat is the same message
    repeated = len(ids) - len(set(ids))
    print(f"kill -9 mid-burst: {repeated} POSTs repeated, the rest sent {finished:.1f} s after the kill")
    assert "Traceback" not in logs[0], logs[0]
    # The killed worker had POSTs in flight: they were claimed, so they come back once the claim lapses.
    assert repeated >= 1
