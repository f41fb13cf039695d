"""Sources polled and alerts delivered per second with 1, 2 and 4 workers on PostgreSQL.

Run: `python -m bench.distributed [SOURCES]` (PostgreSQL on 127.0.0.1:5432, as for the tests).
Each round serves SOURCES feeds (one item each, each item matches a rule) on loopback, starts a
scheduler node (`worker --queues schedule`) and N workers (`--queues poll,deliver`) on a fresh
database, and times until every feed was polled and every alert reached the webhook receiver.
The figure that matters on a 2-core machine is the ratio to one worker, not the absolute rate.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import HttpServer, Served, postgres_database
from tests.newswatch.test_distributed import _feed


def _round(sources: int, workers: int, root: Path) -> tuple[float, float]:
    server = HttpServer()
    lines = ["fetch: {allow_private_addresses: true}", "sources:"]
    for n in range(sources):
        server.routes[f"/feed/{n}.xml"] = Served(_feed(n), delay=0.02)
        lines += [f"  - name: s{n}", f"    feed: {server.url(f'/feed/{n}.xml')}", "    every: 1h"]
    lines += [
        "channels:",
        f"  - {{name: newsroom, webhook: {server.url('/hook')}}}",
        "rules:",
        "  - {name: talks, keywords: [ceasefire], notify: [newsroom]}",
    ]
    config = root / f"bench-{workers}.yaml"
    config.write_text("\n".join(lines) + "\n")
    with postgres_database() as url:
        env = {**os.environ, "NEWSWATCH_DATABASE_URL": url}
        base = [sys.executable, "-m", "newswatch", "-q", "--config", str(config)]
        subprocess.run([*base, "db", "upgrade"], env=env, check=True, capture_output=True)
        processes = [subprocess.Popen([*base, "worker", "--queues", "poll,deliver"], env=env)]
        processes += [
            subprocess.Popen([*base, "worker", "--queues", "poll,deliver"], env=env)
            for _ in range(workers - 1)
        ]
        time.sleep(2)  # let the workers start before the scheduler hands out work
        started = time.monotonic()
        processes.append(subprocess.Popen([*base, "worker", "--queues", "schedule"], env=env))
        polled_at = 0.0
        while len(server.received) < sources:
            if not polled_at and len({g.path for g in server.gets}) >= sources:
                polled_at = time.monotonic() - started
            time.sleep(0.05)
        delivered_at = time.monotonic() - started
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    server.close()
    return sources / (polled_at or delivered_at), sources / delivered_at


def main() -> None:
    sources = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    print(f"{sources} sources, one matching item each; {os.cpu_count()} CPUs")
    baseline: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory() as folder:
        for workers in (1, 2, 4):
            polls, alerts = _round(sources, workers, Path(folder))
            baseline = baseline or (polls, alerts)
            print(
                f"{workers} worker(s): {polls:7.1f} sources polled/s ({polls / baseline[0]:.2f}x),"
                f" {alerts:7.1f} alerts delivered/s ({alerts / baseline[1]:.2f}x)"
            )


if __name__ == "__main__":
    main()
