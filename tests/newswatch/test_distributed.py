"""Scale-out on PostgreSQL: a scheduler and two workers share 100 sources, each polled once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import HttpServer, Served, Workspace

SOURCES = 100


def _feed(n: int) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{n}</title>'
        f"<item><guid>item-{n}</guid><title>Ceasefire talks, round {n}</title>"
        f"<link>http://wire.example/{n}</link><pubDate>Tue, 24 Nov 2026 09:30:00 GMT</pubDate>"
        f"<description>Negotiators met again.</description></item></channel></rss>"
    ).encode()


# Distributed mode is PostgreSQL's (procrastinate, SKIP LOCKED); on SQLite it is refused, which
# test_storage checks. The nodes start together on an empty database: the first upgrade of each
# races the others' (the migrations' advisory lock must keep them apart).
pytestmark = [
    pytest.mark.only_backend("postgresql", reason="distributed mode runs on PostgreSQL only"),
    pytest.mark.empty_database,
]


@pytest.fixture
def cluster_config(workspace: Workspace, http_server: HttpServer) -> dict[str, str]:
    lines = ["fetch: {allow_private_addresses: true}", "sources:"]
    for n in range(SOURCES):
        http_server.routes[f"/feed/{n}.xml"] = Served(_feed(n), delay=0.05)
        lines += [f"  - name: s{n}", f"    feed: {http_server.url(f'/feed/{n}.xml')}", "    every: 1h"]
    lines += [
        "channels:",
        f"  - {{name: newsroom, webhook: {http_server.url('/hook')}}}",
        "rules:",
        "  - {name: talks, keywords: [ceasefire], notify: [newsroom]}",
    ]
    workspace.write_config("\n".join(lines) + "\n")
    return workspace.env  # the test's own PostgreSQL database


@dataclass
class Node:
    """A newswatch process and the file its log goes to (a pipe nobody reads while the test waits
    would fill up and block the process on its next log line)."""

    process: subprocess.Popen[bytes]
    log: Path


def _start(workspace: Workspace, env: dict[str, str], *args: str) -> Node:
    log = workspace.root / f"{'-'.join(args)}-{len(list(workspace.root.glob('*.log')))}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "newswatch", "--config", str(workspace.config), *args],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return Node(process, log)


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(nodes: list[Node]) -> list[str]:
    """Stop every node (SIGTERM, then SIGKILL after 20 s) and return each one's log."""
    for node in nodes:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
    for node in nodes:
        try:
            node.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
    return [node.log.read_text(encoding="utf-8", errors="replace") for node in nodes]


def _feed_gets(http_server: HttpServer) -> Counter[str]:
    return Counter(g.path for g in http_server.gets if g.path.startswith("/feed/"))


def test_two_workers_share_the_polls_and_each_source_is_polled_once(
    workspace: Workspace, http_server: HttpServer, cluster_config: dict[str, str]
) -> None:
    env = cluster_config
    processes = [
        _start(workspace, env, "run", "--distributed"),
        _start(workspace, env, "worker", "--queues", "poll,deliver"),
        _start(workspace, env, "worker", "--queues", "poll,deliver"),
    ]
    try:
        _wait(lambda: len(http_server.received) >= SOURCES, 120, f"{SOURCES} webhooks")
        time.sleep(3)  # a double poll or double delivery would show up now
    finally:
        errors = _stop(processes)
    gets = _feed_gets(http_server)
    assert len(gets) == SOURCES and set(gets.values()) == {1}, "a source was polled twice or never"
    assert len(http_server.received) == SOURCES  # every alert delivered once
    assert len({r.headers["webhook-id"] for r in http_server.received}) == SOURCES
    pollers = [err.count("polled:") for err in errors]
    assert sum(pollers) == SOURCES
    assert pollers[1] > 0 and pollers[2] > 0, f"the workers did not share the load: {pollers}"
    print(f"polls by node: {pollers}")
    assert all("Traceback" not in err for err in errors), errors
    articles = json.loads(workspace.cli("articles", "--json", "--limit", "1000", env=env).stdout)
    assert len(articles) == SOURCES


def test_a_killed_worker_leaves_its_work_to_the_other(
    workspace: Workspace, http_server: HttpServer, cluster_config: dict[str, str]
) -> None:
    env = cluster_config
    for served in http_server.routes.values():
        served.delay = 0.3
    scheduler = _start(workspace, env, "worker", "--queues", "schedule")
    doomed = _start(workspace, env, "worker", "--queues", "poll,deliver")
    survivor = _start(workspace, env, "worker", "--queues", "poll,deliver")
    try:
        _wait(lambda: sum(_feed_gets(http_server).values()) >= 20, 60, "the first polls")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        _wait(lambda: len(_feed_gets(http_server)) == SOURCES, 120, "every source polled")
        _wait(
            lambda: len({r.headers["webhook-id"] for r in http_server.received}) == SOURCES,
            120,
            "every alert delivered",
        )
    finally:
        errors = _stop([scheduler, survivor, doomed])
    # The killed worker was mid-poll (10 at a time, 0.3 s each): its jobs were handed on.
    assert "its worker stopped" in errors[0]
    articles = json.loads(workspace.cli("articles", "--json", "--limit", "1000", env=env).stdout)
    assert len(articles) == SOURCES  # a re-run poll stores nothing twice
    alerts = json.loads(workspace.cli("alerts", "--json", "--limit", "1000", env=env).stdout)
    assert len(alerts) == SOURCES and {a["status"] for a in alerts} == {"sent"}


def test_a_stopped_worker_gives_a_running_poll_shutdown_grace_then_aborts_it(
    workspace: Workspace, http_server: HttpServer
) -> None:
    # The feed answers after a minute, and the fetch would wait for it: only the grace ends the poll.
    http_server.routes["/slow.xml"] = Served(_feed(0), delay=60)
    workspace.write_config(
        "fetch: {allow_private_addresses: true, timeout: 90s}\n"
        "shutdown_grace: 1s\n"
        f"sources:\n  - {{name: slow, feed: {http_server.url('/slow.xml')}, every: 1h}}\n"
    )
    env = workspace.env
    scheduler = _start(workspace, env, "worker", "--queues", "schedule")
    worker = _start(workspace, env, "worker", "--queues", "poll,deliver")
    nodes = [scheduler, worker]
    try:
        _wait(lambda: len(http_server.gets) == 1, 60, "the poll to start")
        time.sleep(0.5)
        started = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        worker.process.wait(timeout=30)
        stopped_after = time.monotonic() - started
        # The unfinished poll is not lost until the next hour: the next worker polls the source.
        http_server.routes["/slow.xml"].delay = 0
        nodes.append(_start(workspace, env, "worker", "--queues", "poll,deliver"))
        _wait(lambda: len(http_server.gets) == 2, 60, "the source to be polled again")
        _wait(lambda: "polled:" in nodes[2].log.read_text(encoding="utf-8"), 30, "the poll to finish")
        time.sleep(7)  # longer than the retry's wait: a second re-poll would show up now
    finally:
        errors = _stop(nodes)
    assert worker.process.returncode == 0, errors[1]
    assert stopped_after < 8, f"the worker took {stopped_after:.1f} s to stop with shutdown_grace 1s"
    assert "poll of slow stopped unfinished (the worker is stopping); it is retried" in errors[1]
    assert len(http_server.gets) == 2, "the unfinished poll was run again more than once"
    assert all("Traceback" not in err for err in errors), errors
