"""Sources polled and alerts delivered per second with 1, 2 and 4 workers on PostgreSQL.

Run: `python -m bench.distributed [SOURCES]` (PostgreSQL on 127.0.0.1:5432, as for the tests).
Each round serves SOURCES feeds (one item each, each item matches a rule) on loopback, starts a
scheduler node (`worker --queues schedule`) and N workers (`--queues poll,deliver`) on a fresh
database, and times until every feed was polled and every alert reached the webhook receiver.
The figure that matters on a 2-core machine is the ratio to one worker, not the absolute rate.

`python -m bench.distributed --profile [SOURCES]` runs one round instead (2 workers; `--workers N`)
with every node under pyinstrument (the `bench` extra), and prints where each node's time went
between the scheduler's start and the last alert: wall seconds and share by stage. Only the event
loop's thread is sampled, so a task awaiting PostgreSQL (procrastinate's async calls), an HTTP
answer or a thread (feed parsing) counts as idle; Newswatch's own database calls are synchronous
and count in their stage. 100% less idle is how busy a node was.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import HttpServer, Served, postgres_database
from tests.newswatch.test_distributed import _feed

if TYPE_CHECKING:
    from pyinstrument.session import Session

    from bench.profile import Functions

IDLE = "idle (event loop in select)"
# What a node spends its time on, beyond bench/profile.py's poll steps, for its `by_stage`: these
# functions' stages claim everything under them (the outermost wins) ...
NODE_STAGES: dict[str, Functions] = {
    "delivery (outbox drain, webhook)": (
        ("newswatch/service.py", "deliver"),
        ("alerts/delivery.py", "deliver_due"),
    ),
    "claim tick (claim_due, maintain)": (("newswatch/distributed.py", "claim_due"),),
    "start-up, shut-down (imports, schema)": (
        ("<frozen importlib._bootstrap>", "_find_and_load"),
        ("core/config.py", "load_config"),
        ("newswatch/distributed.py", "ensure_schema"),
        ("newswatch/distributed.py", "_register_sources"),
    ),
    IDLE: (("selectors.py", "select"),),  # the event loop waiting for sockets and timers
}
# ... and these wrap stages (procrastinate's worker around our tasks), so they take only the rest.
NODE_AROUND: dict[str, Functions] = {
    "poll task, rest (commits, dedup index load)": (("newswatch/distributed.py", "poll"),),
    "procrastinate (fetch/finish/defer jobs, heartbeats)": (
        ("procrastinate/worker.py", "_process_job"),
        ("procrastinate/worker.py", "_run_loop"),  # fetching jobs, shutting down
        ("procrastinate/worker.py", "_update_heartbeat"),
        ("procrastinate/worker.py", "_periodic_deferrer"),
        ("procrastinate/worker.py", "_poll_jobs_to_abort"),
        ("procrastinate/manager.py", "listen_for_jobs"),
        ("procrastinate/app.py", "run_worker_async"),  # registering the worker
        ("procrastinate/jobs.py", "defer_async"),  # a poll's delivery job
        ("psycopg_pool/pool_async.py", "worker"),  # procrastinate's connection pool
    ),
    "start-up, shut-down (imports, schema)": (("newswatch/distributed.py", "run_node"),),
}
NODE_OTHER = "other (event loop, connects)"


@dataclass(frozen=True)
class Node:
    """One `newswatch worker` process of a round, and the pyinstrument session it saves if profiled."""

    role: str
    queues: str
    profile: Path | None = None


@dataclass(frozen=True)
class Round:
    """A round's rates, and the wall-clock span they were timed over (time.time())."""

    polls: float  # sources polled per second
    alerts: float  # alerts delivered per second
    span: tuple[float, float]


def _round(sources: int, workers: int, root: Path, nodes: list[Node] | None = None) -> Round:
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
    nodes = nodes or _nodes(workers)
    with postgres_database() as url:
        env = {**os.environ, "NEWSWATCH_DATABASE_URL": url}
        options = ["-q", "--config", str(config)]
        newswatch = [sys.executable, "-m", "newswatch"]
        subprocess.run([*newswatch, *options, "db", "upgrade"], env=env, check=True, capture_output=True)

        def start(node: Node) -> subprocess.Popen[bytes]:
            program = newswatch
            if node.profile is not None:  # pyinstrument runs the module and saves its raw session
                program = [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(node.profile)]
                program += ["-m", "newswatch"]
            return subprocess.Popen([*program, *options, "worker", "--queues", node.queues], env=env)

        processes = [start(node) for node in nodes[:-1]]
        # Let the workers start before the scheduler hands out work. A fixed 2 s was too short for 4
        # workers (or profiled ones) importing at once on 2 cores: their start-up was timed.
        _wait_for_workers(url, len(processes))
        started, wall_started = time.monotonic(), time.time()
        processes.append(start(nodes[-1]))
        polled_at = 0.0
        while len(server.received) < sources:
            if not polled_at and len({g.path for g in server.gets}) >= sources:
                polled_at = time.monotonic() - started
            time.sleep(0.05)
        delivered_at = time.monotonic() - started
        span = (wall_started, wall_started + delivered_at)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    server.close()
    for node, process in zip(nodes, processes, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"{node.role} exited with {process.returncode} on SIGTERM")
        if node.profile is not None and not node.profile.exists():
            raise SystemExit(f"{node.role} left no profile at {node.profile}")
    return Round(sources / (polled_at or delivered_at), sources / delivered_at, span)


def _wait_for_workers(url: str, count: int, timeout: float = 60.0) -> None:
    """Wait until `count` procrastinate workers have registered in the database at `url`."""
    import psycopg

    from newswatch.distributed import conninfo

    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute("SELECT to_regclass('procrastinate_workers')").fetchone()
            if row is not None and row[0] is not None:
                registered = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
                if registered is not None and registered[0] >= count:
                    return
            time.sleep(0.05)
    raise SystemExit(f"the {count} workers did not start within {timeout:.0f} s")


def _nodes(workers: int, profiles: Path | None = None) -> list[Node]:
    """A round's nodes: `workers` poll/deliver workers, then the scheduler node (started last); each
    saves its pyinstrument session in `profiles` if given."""
    nodes = [Node(f"worker {n + 1}", "poll,deliver") for n in range(workers)]
    nodes.append(Node("scheduler node", "schedule"))
    if profiles is None:
        return nodes
    return [Node(n.role, n.queues, profiles / f"{n.role.replace(' ', '-')}.pyisession") for n in nodes]


def _within(session: Session, start: float, end: float) -> Session:
    """The part of `session` sampled between `start` and `end` (time.time()), a straddling sample cut."""
    from pyinstrument.session import Session

    records, at = [], session.start_time
    for stack, seconds in session.frame_records:
        begun, at = at, at + seconds  # a sample covers the time since the one before it
        inside = min(at, end) - max(begun, start)
        if inside > 0:
            records.append((stack, inside))
    return Session(
        frame_records=records,
        start_time=max(start, session.start_time),
        duration=sum(seconds for _, seconds in records),
        min_interval=session.min_interval,
        max_interval=session.max_interval,
        sample_count=len(records),
        start_call_stack=session.start_call_stack,
        target_description=session.target_description,
        cpu_time=0.0,  # not known for a part of a session
        sys_path=session.sys_path,
        sys_prefixes=session.sys_prefixes,
    )


def profile(sources: int, workers: int, folder: Path, keep: Path | None = None) -> None:
    """Run one round with every node under pyinstrument and print each node's time by stage; the
    sessions are saved in `keep` if given."""
    from pyinstrument.session import Session

    from bench.profile import STAGES, by_stage

    nodes = _nodes(workers, keep or folder)
    result = _round(sources, workers, folder, nodes)
    start, end = result.span
    print(
        f"{workers} worker(s) and the scheduler node under pyinstrument: {result.polls:.1f} sources"
        f" polled/s, {result.alerts:.1f} alerts delivered/s (the profiler slows them)"
    )
    print(f"Where each node's time went from the scheduler's start to the last alert ({end - start:.2f} s):")
    stages = {**STAGES, **NODE_STAGES}
    columns = []
    for node in nodes:
        assert node.profile is not None
        session = _within(Session.load(node.profile), start, end)
        columns.append(by_stage(session, stages, NODE_OTHER, NODE_AROUND))
    rows = sorted(columns[0], key=lambda stage: stage == IDLE)  # idle last, above the total
    width = max(len(stage) for stage in rows)
    print(" " * width + "".join(f"{node.role:>17}" for node in nodes))
    for stage in rows:
        cells = (f"{c[stage]:7.2f} s {100 * c[stage] / (sum(c.values()) or 1):5.1f}%" for c in columns)
        print(f"{stage:<{width}}" + "".join(cells))
    print(f"{'sampled':<{width}}" + "".join(f"{sum(c.values()):7.2f} s {100:5.1f}%" for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__)
    parser.add_argument("sources", type=int, nargs="?", default=400, help="feeds served (default 400)")
    parser.add_argument("--profile", action="store_true", help="profile one round: time by stage per node")
    parser.add_argument("--workers", type=int, default=2, help="workers in the profiled round (default 2)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the profiled nodes' sessions here (`python -m pyinstrument --load FILE`)",
    )
    args = parser.parse_args()
    sources = args.sources
    print(f"{sources} sources, one matching item each; {os.cpu_count()} CPUs")
    baseline: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory() as folder:
        if args.profile:
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
            profile(sources, args.workers, Path(folder), args.keep)
            return
        for workers in (1, 2, 4):
            result = _round(sources, workers, Path(folder))
            polls, alerts = result.polls, result.alerts
            baseline = baseline or (polls, alerts)
            print(
                f"{workers} worker(s): {polls:7.1f} sources polled/s ({polls / baseline[0]:.2f}x),"
                f" {alerts:7.1f} alerts delivered/s ({alerts / baseline[1]:.2f}x)"
            )


if __name__ == "__main__":
    main()
