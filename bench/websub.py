"""Figure (7): WebSub push latency against polling, in one run of `newswatch run`.

Two sources in one service: `pushed` names a WebSub hub (tests/websub_hub.py, on loopback) and
`polled` does not; both have `every: 30s` (the pushed one drops to `websub.fallback_every` once
subscribed). Each sample publishes one story in both feeds at the same moment and pings the hub
(hub.mode=publish, as WordPress does); the hub fetches the topic and pushes it to Newswatch's
callback. A latency is from that moment to the loopback webhook receiver's acknowledgement of
the story's alert. Samples are spaced by random gaps, so the polled stories land at random phases
of the poll interval. Everything runs on loopback: the feed server, the hub and the receiver as
threads of this process, Newswatch as a child process.

`python -m bench.websub [--quick]` prints the figure alone.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.websub_hub import Hub


@dataclass
class Probe:
    """The two feeds, what was published in them when, and when each alert was acknowledged."""

    hub: str = ""
    topic: str = ""
    published: dict[str, float] = field(default_factory=dict)  # "push-3" -> time.time()
    acknowledged: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self, kind: str) -> bytes:
        with self.lock:
            items = sorted((k, at) for k, at in self.published.items() if k.startswith(kind))
        links = ""
        if kind == "push":
            links = f'<atom:link rel="hub" href="{self.hub}"/><atom:link rel="self" href="{self.topic}"/>'
        entries = "".join(
            f"<item><guid>{key}</guid><title>Latencyprobe {key} story</title>"
            f"<link>https://probe.example/{key}</link>"
            f"<pubDate>{format_datetime(datetime.fromtimestamp(at, UTC))}</pubDate>"
            f"<description>{_story(key)} It mentions the latencyprobe keyword.</description></item>"
            for key, at in items
        )
        return (
            '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
            f"<channel><title>{kind}</title>{links}{entries}</channel></rss>"
        ).encode()


def _story(key: str) -> str:
    """A distinct text per story (and per feed), so deduplication keeps every sample apart."""
    from bench.data import WORDS

    return " ".join(random.Random(key).choices(WORDS, k=80)) + "."


@dataclass(frozen=True)
class Latencies:
    pushed: list[float]
    polled: list[float]
    samples: int
    every: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(samples: int, every: int, gaps: tuple[float, float], seed: int = 7) -> Latencies:
    """Publish `samples` stories in both feeds, `gaps` seconds apart (uniform), and time each alert."""
    probe = Probe()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kind = "push" if self.path.startswith("/pushed") else "poll"
            body = probe.feed(kind)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()
            key = json.loads(body)["data"]["article"]["title"].split()[1]
            with probe.lock:
                probe.acknowledged.setdefault(key, time.time())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hub = Hub()
    probe.hub, probe.topic = hub.url, f"http://127.0.0.1:{port}/pushed.xml"
    callback = _free_port()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="newswatch-websub-") as tmp:
        config = Path(tmp) / "newswatch.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": "sqlite:///websub.db",
                    "fetch": {"allow_private_addresses": True},
                    "websub": {
                        "callback_url": f"http://127.0.0.1:{callback}/websub",
                        "listen": f"127.0.0.1:{callback}",
                    },
                    "sources": [
                        {"name": "pushed", "feed": probe.topic, "every": every},
                        {"name": "polled", "feed": f"http://127.0.0.1:{port}/polled.xml", "every": every},
                    ],
                    "channels": [{"name": "hook", "webhook": f"http://127.0.0.1:{port}/hook"}],
                    "rules": [{"name": "probe", "keywords": ["latencyprobe"], "notify": ["hook"]}],
                }
            )
        )
        log = (Path(tmp) / "service.log").open("w")
        service = subprocess.Popen(
            [sys.executable, "-m", "newswatch", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.time() + 60
            while not hub.active(probe.topic) and time.time() < deadline:
                time.sleep(0.1)
            if not hub.active(probe.topic):
                raise RuntimeError("Newswatch did not subscribe to the bench hub within 60 s")
            time.sleep(2)  # the first polls of the (empty) feeds are done by now
            for n in range(samples):
                with probe.lock:
                    now = time.time()
                    probe.published[f"push-{n}"] = probe.published[f"poll-{n}"] = now
                httpx.post(hub.url, data={"hub.mode": "publish", "hub.url": probe.topic}, timeout=10)
                time.sleep(rng.uniform(*gaps))
            deadline = time.time() + every + 15
            while len(probe.acknowledged) < 2 * samples and time.time() < deadline:
                time.sleep(0.1)
        finally:
            service.terminate()
            service.wait(30)
            server.shutdown()
            hub.close()
            log.close()
            if len(probe.acknowledged) < 2 * samples:
                print((Path(tmp) / "service.log").read_text()[-3000:], file=sys.stderr)

    def latencies(kind: str) -> list[float]:
        keys = [k for k in probe.published if k.startswith(kind) and k in probe.acknowledged]
        return sorted(probe.acknowledged[k] - probe.published[k] for k in keys)

    return Latencies(latencies("push"), latencies("poll"), samples, every)


def describe(figure: Latencies) -> str:
    from bench.figures import percentile

    def one(values: list[float]) -> str:
        if not values:
            return f"0/{figure.samples} delivered"
        return (
            f"p50 {percentile(values, 0.5):.2f} s, p99 {percentile(values, 0.99):.2f} s,"
            f" max {max(values):.2f} s ({len(values)}/{figure.samples} delivered)"
        )

    return f"push {one(figure.pushed)}; polling every {figure.every}s {one(figure.polled)}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.websub", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 samples, polling every 5 s (scaled)")
    args = parser.parse_args()
    samples, every, gaps = (5, 5, (1.0, 3.0)) if args.quick else (20, 30, (3.0, 12.0))
    print(describe(measure(samples, every, gaps)))


if __name__ == "__main__":
    main()
