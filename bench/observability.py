"""What observability costs: metric calls per poll/delivery, a /metrics render, a status-page render.

Run: python -m bench.observability   (prints figures; baseline is an empty loop in the same process)
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from core import metrics
from core.config import Config
from core.db import AlertRow, ArticleRow, Database, SourceState, utcnow
from newswatch import status


def per_call(label: str, fn: object, n: int, baseline: float | None = None) -> float:
    call = fn
    started = time.perf_counter()
    for i in range(n):
        call(i)  # type: ignore[operator]
    seconds = (time.perf_counter() - started) / n
    ratio = f"  ({seconds / baseline:.1f}x empty loop)" if baseline else ""
    print(f"{label:<44} {seconds * 1e6:9.2f} µs{ratio}")
    return seconds


def main() -> None:
    n = 100_000
    base = per_call("empty loop (baseline)", lambda i: None, n)
    per_call(
        "metrics.poll_done (20 sources)", lambda i: metrics.poll_done(f"s{i % 20}", "ok", 0.1, 1), n, base
    )
    per_call("metrics.rule_matched (50 rules)", lambda i: metrics.rule_matched(f"r{i % 50}"), n, base)
    per_call(
        "metrics.delivery_done (5 channels)",
        lambda i: metrics.delivery_done(f"c{i % 5}", "sent", 1.0),
        n,
        base,
    )
    per_call("metrics.exposition()", lambda i: metrics.exposition(), 500)

    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        now = utcnow()
        with db.session() as session:
            for i in range(5000):
                session.add(
                    ArticleRow(
                        source=f"s{i % 20}",
                        item_key=str(i),
                        url=None,
                        title=f"t{i}",
                        text="x",
                        summary="",
                        topics=[],
                        published_at=now,
                        first_seen_at=now,
                        updated_at=now,
                        content_hash=str(i),
                    )
                )
            session.flush()
            for i in range(5000):
                session.add(
                    AlertRow(
                        rule=f"r{i % 50}",
                        article_id=i + 1,
                        channel=f"c{i % 5}",
                        status="sent" if i % 10 else "pending",
                        attempts=1,
                        message_id=f"m{i}",
                        matched=[],
                        created_at=now - timedelta(seconds=i),
                        next_attempt_at=now,
                    )
                )
            session.add(SourceState(name="s3", location="https://s3.example/feed", articles_seen=250))
        config = Config()
        per_call("outbox gauges refresh (5k alerts, SQLite)", lambda i: status.refresh_metrics(db), 200)
        from newswatch.web import article_page, overview_page, source_page

        def page(_i: int) -> None:
            overview_page(db, config, {})

        per_call("status page render (5k articles/alerts)", page, 200)
        per_call("  filtered: one source", lambda i: overview_page(db, config, {}, source="s3"), 200)
        per_call("  filtered: text in 5k texts", lambda i: overview_page(db, config, {}, text="x"), 200)
        per_call("  page 100 of 200", lambda i: overview_page(db, config, {}, page=100), 200)
        per_call("source page (250 articles)", lambda i: source_page(db, config, "s3", {}), 200)
        per_call("article page", lambda i: article_page(db, 1 + i % 5000), 200)
        db.close()


if __name__ == "__main__":
    main()
