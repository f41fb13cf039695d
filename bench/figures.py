"""Figures (3)-(6) of `python -m bench`: matching, near-duplicates, peak memory, alert latency."""

from __future__ import annotations

import json
import random
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

import yaml

from bench import dedup as dedup_bench
from bench import matching as matching_bench


def matching(sizes: tuple[int, ...], rounds: int) -> list[matching_bench.Size]:
    """Articles/s of the Aho-Corasick matcher and of a regex alternation (bench/matching.py)."""
    # Beyond 10,000 terms one regex alternation takes minutes per round.
    return matching_bench.measure(matching_bench.corpus(max(sizes)), sizes, rounds, regex_up_to=10_000)


@dataclass(frozen=True)
class DedupFigure:
    articles: int
    recall: dict[str, float]  # per copy kind (bench/news.py KINDS)
    false_merges: int
    rate: float  # docs/s of the dedup stage


def near_duplicates(stories: int, copies: int, negatives: int) -> DedupFigure:
    """bench.dedup's corpus and stage: recall per copy kind, false merges, docs/s."""
    from ingest.dedup import MergeRules

    docs = dedup_bench.corpus(stories, copies, negatives)
    outcome = dedup_bench.stage(docs, 500, MergeRules())
    scores = dedup_bench.score(docs, outcome)
    return DedupFigure(len(docs), scores.recall, scores.false_merges, len(docs) / outcome.seconds)


def peak_memory(sources: int, articles: int, rules: int, work: Path) -> float:
    """Peak RSS (MiB) of one Newswatch process that starts on a database of `articles` articles,
    loads `rules` rules, and polls `sources` sources once; the set-up runs in another process."""
    from bench.data import make_corpus, write_feeds
    from bench.server import FeedServer
    from bench.subject import rule_terms, write_config

    corpus = make_corpus(40, items=(1, 1), duplicate_share=0.0)
    paths = write_feeds(corpus, work)
    server = FeedServer(work)
    try:
        # Every source is its own URL (the query string), served from 40 one-item feeds.
        urls = [f"{server.url(paths[i % len(paths)])}?source={i}" for i in range(sources)]
        config = write_config(work, urls, rule_terms(corpus.names, rules), every="1h")
        _fill_database(config, articles)
        child = subprocess.run(
            [sys.executable, "-m", "bench.memory_child", str(config)],
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        workers = ", ".join(f"{w:.0f}" for w in measured["worker_mib"])
        print(f"  peak RSS: main process {measured['main_mib']:.0f} MiB; worker processes: [{workers}] MiB")
        return float(measured["peak_mib"])
    finally:
        server.close()


def _fill_database(config_path: Path, count: int) -> None:
    """`count` stored articles, first seen now (so all are inside the dedup window), with signatures."""
    from sqlalchemy import insert

    from bench.data import WORDS
    from core.db import ArticleRow, Database, utcnow
    from ingest.dedup import fingerprint, signature
    from newswatch.settings import load_config

    config = load_config(config_path)
    db = Database(config.database)
    rng = random.Random(3)
    now = utcnow()
    rows = []
    for i in range(count):
        text = " ".join(rng.choices(WORDS, k=160))
        sig = signature(text)
        rows.append(
            {
                "source": f"feed{i % 100}",
                "item_key": f"old-{i}",
                "url": f"https://old.example/{i}",
                "title": f"Old story {i}",
                "text": text,
                "summary": text[:200],
                "topics": [],
                "published_at": now,
                "first_seen_at": now,
                "updated_at": now,
                "content_hash": f"{i:064x}",
                "text_hash": fingerprint(f"Old story {i}", text),
                "signature": list(sig) if sig is not None else None,
                "html": "",
                "language": "en",
            }
        )
    with db.session() as session:
        for start in range(0, len(rows), 5_000):
            session.execute(insert(ArticleRow), rows[start : start + 5_000])
    db.close()


@dataclass
class _LatencyProbe:
    """Publishes items on a schedule in a feed, and records when their webhooks arrive."""

    published: dict[int, float] = field(default_factory=dict)  # item -> wall time it appeared
    acknowledged: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self) -> bytes:
        with self.lock:
            items = sorted(self.published.items())
        entries = "".join(
            f"<item><guid>probe-{n}</guid><title>Latencyprobe {n} story</title>"
            f"<link>https://probe.example/{n}</link>"
            f"<pubDate>{format_datetime(datetime.fromtimestamp(at, UTC))}</pubDate>"
            f"<description>{_story(n)} It mentions the latencyprobe keyword.</description></item>"
            for n, at in items
        )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>probe</title>{entries}</channel></rss>'
        ).encode()


def _story(n: int) -> str:
    """A distinct text per item, so deduplication does not merge the probes into one story."""
    from bench.data import WORDS

    return " ".join(random.Random(n).choices(WORDS, k=80)) + "."


def alert_latency(items: int, every_seconds: int, gap: float) -> list[float]:
    """Seconds from an item's publication to the webhook's acknowledgement, in a running service."""
    probe = _LatencyProbe()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = probe.feed()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()
            title = json.loads(body)["data"]["article"]["title"]
            with probe.lock:
                probe.acknowledged.setdefault(int(title.split()[1]), time.time())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="newswatch-latency-") as tmp:
        config = Path(tmp) / "newswatch.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": "sqlite:///latency.db",
                    "fetch": {"allow_private_addresses": True},
                    "sources": [
                        {"name": "probe", "feed": f"http://127.0.0.1:{port}/feed", "every": every_seconds}
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
            time.sleep(every_seconds + 1.0)  # first poll of an empty feed
            for n in range(items):
                with probe.lock:
                    probe.published[n] = time.time()
                time.sleep(gap)
            deadline = time.time() + every_seconds + 15
            while len(probe.acknowledged) < items and time.time() < deadline:
                time.sleep(0.1)
        finally:
            service.terminate()
            service.wait(15)
            server.shutdown()
            log.close()
            if not probe.acknowledged:
                print((Path(tmp) / "service.log").read_text()[-3000:], file=sys.stderr)
    return [probe.acknowledged[n] - probe.published[n] for n in sorted(probe.acknowledged)]


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile (0..1) of `values`, by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
