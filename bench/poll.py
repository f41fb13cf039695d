"""Poll 1,000 feeds on a local server, 10% changed per cycle and the rest 304, against sequential feedparser.

Run: python -m bench.poll [--feeds N] [--cycles C] [--items K]

The server runs in its own process (so its CPU is not counted as the poller's). Each cycle, feed i changes
when (i + cycle) % 10 == 0; the others answer 304 to the ETag they sent before. Newswatch polls them
through the real service (`Service.run_once`: fetch, parse, clean, store in SQLite); the baseline is a
sequential `feedparser.parse(url, etag=...)` loop over the same feeds in the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import httpx

from core.config import Config, FetchSettings
from core.db import Database
from ingest.http import make_client
from ingest.sources.feed import fetch_feed
from newswatch.service import Service
from newswatch.settings import CONTEXT

BASE = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _feed(i: int, version: int, items: int) -> bytes:
    entries = "".join(
        f"<item><title>Feed {i} story {version}-{k}</title><link>https://news.example/{i}/{version}/{k}</link>"
        f"<guid>{i}-{version}-{k}</guid>"
        f"<pubDate>{format_datetime(BASE + timedelta(minutes=version * 60 + k), usegmt=True)}</pubDate>"
        f"<description>&lt;p&gt;Report {k} of feed {i}, version {version}: the council met.&lt;/p&gt;"
        f"</description></item>"
        for k in range(items)
    )
    head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>'
    return f"{head}{entries}</channel></rss>".encode()


def _serve(port: Any, cycle: Any, items: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response, sent at once: otherwise Nagle and delayed ACKs add ~40 ms per
        # keep-alive request, which would measure the TCP stack rather than the pollers.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            i = int(self.path.rsplit("/", 1)[1])
            version = (cycle.value + i) // 10
            etag = f'"{i}-{version}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = _feed(i, version, items)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.value = server.server_address[1]
    server.serve_forever()


def _newswatch_cycle(config: Config, db: Database) -> tuple[float, float]:
    async def go() -> None:
        async with Service(config, db) as service:
            await service.run_once()

    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(go())
    return time.perf_counter() - wall, time.process_time() - cpu


def _fetch_only_cycle(urls: list[str], etags: dict[str, str]) -> tuple[float, float]:
    """Newswatch's fetch and parse alone (shared client, bounded concurrency), without the database."""
    settings = FetchSettings(allow_private_addresses=True)

    async def one(client: httpx.AsyncClient, limit: asyncio.Semaphore, url: str) -> None:
        async with limit:
            result = await fetch_feed(
                client, "bench", url, etag=etags.get(url), max_bytes=settings.max_bytes, deadline=60
            )
        if result.etag:
            etags[url] = result.etag

    async def go() -> None:
        limit = asyncio.Semaphore(settings.concurrency)
        async with make_client(settings) as client:
            await asyncio.gather(*(one(client, limit, url) for url in urls))

    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(go())
    return time.perf_counter() - wall, time.process_time() - cpu


def _baseline_cycle(urls: list[str], etags: dict[str, str]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for url in urls:
        parsed = feedparser.parse(url, etag=etags.get(url))
        if parsed.get("etag"):
            etags[url] = parsed["etag"]
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument(
        "--cycles", type=int, default=3, help="steady-state cycles after the first (cold) one"
    )
    parser.add_argument("--items", type=int, default=20, help="items per feed")
    args = parser.parse_args()

    port, cycle = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    server = multiprocessing.Process(target=_serve, args=(port, cycle, args.items), daemon=True)
    server.start()
    while port.value == 0:
        time.sleep(0.05)
    urls = [f"http://127.0.0.1:{port.value}/feed/{i}" for i in range(args.feeds)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        config = Config.model_validate(
            {
                "fetch": {"allow_private_addresses": True},
                "sources": [{"name": f"feed-{i}", "feed": url} for i, url in enumerate(urls)],
            },
            context=CONTEXT,
        )
        etags: dict[str, str] = {}
        fetch_etags: dict[str, str] = {}
        print(f"{args.feeds} feeds x {args.items} items; 10% change per cycle, the rest answer 304")
        print(
            f"{'cycle':<8}{'newswatch wall s':>17}{'cpu s':>8}{'feeds/s':>9}"
            f"{'fetch-only wall s':>18}{'cpu s':>7}"
            f"{'feedparser wall s':>19}{'cpu s':>8}{'feeds/s':>9}{'wall ratio':>12}"
        )
        totals = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        for c in range(args.cycles + 1):
            cycle.value = c
            nw_wall, nw_cpu = _newswatch_cycle(config, db)
            fo_wall, fo_cpu = _fetch_only_cycle(urls, fetch_etags)
            fp_wall, fp_cpu = _baseline_cycle(urls, etags)
            label = "cold" if c == 0 else str(c)
            print(
                f"{label:<8}{nw_wall:>17.2f}{nw_cpu:>8.2f}{args.feeds / nw_wall:>9.0f}"
                f"{fo_wall:>18.2f}{fo_cpu:>7.2f}"
                f"{fp_wall:>19.2f}{fp_cpu:>8.2f}{args.feeds / fp_wall:>9.0f}{fp_wall / nw_wall:>11.1f}x"
            )
            if c:
                for k, v in enumerate((nw_wall, nw_cpu, fp_wall, fp_cpu, fo_wall, fo_cpu)):
                    totals[k] += v / args.cycles
        nw_wall, nw_cpu, fp_wall, fp_cpu, fo_wall, fo_cpu = totals
        print(
            f"steady state per cycle: newswatch {nw_wall:.2f}s wall, {nw_cpu:.2f}s CPU, "
            f"{args.feeds / nw_wall:.0f} feeds/s (fetch+parse alone {fo_wall:.2f}s wall, {fo_cpu:.2f}s CPU, "
            f"{args.feeds / fo_wall:.0f} feeds/s); feedparser {fp_wall:.2f}s wall, {fp_cpu:.2f}s CPU, "
            f"{args.feeds / fp_wall:.0f} feeds/s; feedparser/newswatch: wall {fp_wall / nw_wall:.2f}, "
            f"CPU {fp_cpu / nw_cpu:.2f}"
        )
        db.close()
    server.terminate()


if __name__ == "__main__":
    main()
