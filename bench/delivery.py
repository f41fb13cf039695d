"""Drain 10,000 pending alerts to a local webhook receiver: alerts/s and p50/p99 latency from match
to acknowledged delivery, against a baseline of bare signed POSTs (no outbox) in the same process.

    python -m bench.delivery [COUNT]
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from alerts import signing
from alerts.channels import make_channel
from alerts.channels.webhook import make_session
from alerts.delivery import deliver_due
from alerts.models import Hit, Match, TermKind
from alerts.outbox import enqueue
from core.config import ChannelConfig
from core.db import AlertRow, ArticleRow, Database, utcnow
from newswatch.settings import CONTEXT

SECRET = "whsec_" + base64.b64encode(b"bench-secret-of-thirty-two-bytes").decode()


def receiver() -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def seed(db: Database, count: int) -> None:
    """`count` articles, each matched once: `count` pending alerts, all matched 'now'."""
    now = utcnow()
    hit = Hit("Vladimir Putin", TermKind.PERSON, "Putin", "text", "… Putin said …")
    with db.session() as session:
        rows = [
            ArticleRow(
                source="bench",
                item_key=f"item-{i}",
                url=f"http://wire.example/{i}",
                title=f"Putin story {i}",
                text="Vladimir Putin said something. " * 20,
                summary="Vladimir Putin said something.",
                topics=["Russia"],
                published_at=now,
                first_seen_at=now,
                updated_at=now,
                content_hash=f"{i:064d}",
            )
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        for row in rows:
            enqueue(session, Match("kremlin", row.id, (hit,)), ("hook",), utcnow())


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def baseline(url: str, count: int) -> float:
    """Bare signed POSTs of a similar body, one after another, on one client: seconds taken."""
    body = b'{"type":"article.matched","data":{"title":"' + b"x" * 900 + b'"}}'
    async with make_session() as client:  # the client the webhook channel uses
        started = time.perf_counter()
        for i in range(count):
            headers = signing.headers([SECRET], f"msg_{i}", int(time.time()), body)
            async with client.post(url, data=body, headers=headers) as response:
                response.raise_for_status()
        return time.perf_counter() - started


async def outbox_drain(url: str, count: int, folder: Path) -> tuple[float, list[float]]:
    db = Database(f"sqlite:///{folder / 'bench.db'}")
    seed(db, count)
    async with make_session() as client:
        spec = {"name": "hook", "webhook": url, "secret": SECRET}
        channel = make_channel(ChannelConfig.model_validate(spec, context=CONTEXT), client)
        started = time.perf_counter()
        report = await deliver_due(db, {"hook": channel}, utcnow, linger=timedelta(0))
        elapsed = time.perf_counter() - started
    assert report.sent == count, report
    with db.session() as session:
        latencies = [
            (sent - created).total_seconds()
            for created, sent in session.query(AlertRow.created_at, AlertRow.sent_at)
            if sent is not None
        ]
    db.close()
    return elapsed, latencies


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    server = receiver()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with tempfile.TemporaryDirectory() as tmp:
        base = asyncio.run(baseline(url, count))
        drained, latencies = asyncio.run(outbox_drain(url, count, Path(tmp)))
    server.shutdown()
    print(f"alerts:                      {count}")
    print(f"baseline bare POSTs:         {count / base:8.0f} /s  ({base:.1f} s)")
    print(f"outbox drain (SQLite):       {count / drained:8.0f} /s  ({drained:.1f} s)")
    print(f"drain / baseline throughput: {base / drained:8.2f}")
    print(
        f"match -> ack latency, burst of {count}: p50 {statistics.median(latencies):.2f} s,"
        f" p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s"
    )
    per_alert = drained / count * 1000
    print(f"per-alert cost in the drain: {per_alert:.2f} ms (bare POST {base / count * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
