"""The pipeline under a big poll, as an operator sees it: SIGTERM stops it between batches within the
shutdown grace and the next run finishes it exactly once; the endpoint keeps answering meanwhile."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.db import AlertRow, ArticleRow, Database
from tests.conftest import Alone, HttpServer, Served, Workspace, free_port, http_client

CONFIG = """\
http: {{listen: "127.0.0.1:{port}"}}
shutdown_grace: {grace}s
pipeline: {{batch: {batch}}}
# The feed is held back until the test has the machine to itself (see `launch`): a long timeout.
fetch: {{allow_private_addresses: true, max_items: 20000, timeout: 300s}}
sources:
  - name: wire
    feed: {feed}
    every: 1h
channels:
  - name: newsroom
    webhook: {hook}
rules:
  - name: kremlin
    people: [Vladimir Putin]
    notify: [newsroom]
"""

WORDS = [
    "council",
    "budget",
    "harbour",
    "railway",
    "election",
    "minister",
    "protest",
    "river",
    "bridge",
    "vaccine",
    "drought",
    "school",
    "factory",
    "strike",
    "market",
    "tariff",
    "court",
    "verdict",
    "wildfire",
    "storm",
    "flood",
    "festival",
    "museum",
    "parliament",
    "coalition",
    "treaty",
    "border",
    "convoy",
    "grain",
    "pipeline",
    "reactor",
    "satellite",
    "rocket",
    "mayor",
    "senator",
    "governor",
    "airport",
    "tunnel",
    "refinery",
    "union",
    "pension",
    "hospital",
    "clinic",
    "nurse",
    "teacher",
    "farmer",
    "harvest",
    "orchard",
]


def big_feed(items: int, seed: int = 7) -> tuple[bytes, int]:
    """An RSS feed of `items` distinct stories; every tenth names Vladimir Putin. Returns the feed
    and how many items should alert."""
    rng = random.Random(seed)
    parts = ['<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>']
    matching = 0
    for n in range(items):
        words = " ".join(rng.choice(WORDS) for _ in range(60))
        person = "Vladimir Putin said " if n % 10 == 0 else ""
        matching += n % 10 == 0
        parts.append(
            f"<item><guid>w-{n}</guid><title>Story {n} {rng.choice(WORDS)}</title>"
            f"<link>http://wire.example/{n}</link>"
            f"<description>&lt;p&gt;{person}{words} number {n}.&lt;/p&gt;</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode(), matching


# The sizes issue 16 names: a 10,000-item feed keeps the poll busy for many /healthz answers; a
# 5,000-item poll stored in batches of 100 gets the signal after the first, with dozens to come.
ITEMS_HEALTHZ = 10_000
ITEMS_SIGTERM = 5000


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def launch(workspace: Workspace, http_server: HttpServer, tmp_path: Path) -> Iterator[Callable[..., tuple]]:
    """Start `newswatch run` on a feed of `items` stories. The feed server holds its answer until
    the test sets the returned event: the service starts up and asks for the feed beside other
    tests, and the poll (what the test measures) begins once the test has the machine (`alone`)."""
    children: list[subprocess.Popen[str]] = []

    def start(
        *, items: int, grace: int = 5, batch: int = 500
    ) -> tuple[subprocess.Popen[str], str, Path, int, threading.Event]:
        body, matching = big_feed(items)
        opened = threading.Event()
        http_server.routes["/wire"] = Served(body, opened=opened)
        port = free_port()
        workspace.write_config(
            CONFIG.format(
                port=port,
                grace=grace,
                batch=batch,
                feed=http_server.url("/wire"),
                hook=http_server.url("/hook"),
            )
        )
        log_path = tmp_path / f"run-{len(children)}.log"
        with log_path.open("w") as log_file:
            child = subprocess.Popen(
                [sys.executable, "-m", "newswatch", "--config", str(workspace.config), "run"],
                env={**os.environ, **workspace.env},
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                text=True,
            )
        children.append(child)

        def asked() -> bool:
            assert child.poll() is None, log_path.read_text()
            return any(get.path == "/wire" for get in http_server.gets)

        wait_for(asked, "the service to ask for the feed")
        return child, f"http://127.0.0.1:{port}", log_path, matching, opened

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def _count(db: Database, table: type) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.alone
def test_sigterm_during_a_5000_item_poll_exits_in_grace_and_the_next_run_finishes_it_once(
    launch: Callable[..., tuple], workspace: Workspace, http_server: HttpServer, alone: Alone
) -> None:
    db = Database(workspace.env["NEWSWATCH_DATABASE_URL"])
    child, _base, log_path, matching, opened = launch(items=ITEMS_SIGTERM, grace=5, batch=100)
    with alone:  # the poll up to the exit within the grace; the rest may share the machine
        opened.set()
        # Stop it once the first batches are stored, while the rest of the poll is still to come.
        wait_for(lambda: _count(db, ArticleRow) > 0 or child.poll() is not None, "the first batch")
        assert child.poll() is None, log_path.read_text()
        stored_at_signal = _count(db, ArticleRow)
        asked = time.monotonic()
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0, log_path.read_text()
        assert time.monotonic() - asked < 5 + 2
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert any("fresh items stored; the rest on the next poll" in line["message"] for line in lines)
    partial = _count(db, ArticleRow)
    assert stored_at_signal <= partial < ITEMS_SIGTERM

    done = workspace.cli("run", "--once")
    assert done.returncode == 0, done.stderr
    assert _count(db, ArticleRow) == ITEMS_SIGTERM
    assert _count(db, AlertRow) == matching
    ids = Counter(r.headers["webhook-id"] for r in http_server.received)
    assert len(ids) == matching and set(ids.values()) == {1}  # every alert once, none twice
    db.close()


@pytest.mark.alone
def test_healthz_answers_within_a_second_while_a_10000_item_feed_is_processed(
    launch: Callable[..., tuple], workspace: Workspace, alone: Alone
) -> None:
    child, base, log_path, _matching, opened = launch(items=ITEMS_HEALTHZ, grace=5)

    def polled() -> bool:
        assert child.poll() is None, log_path.read_text()
        return "polled:" in log_path.read_text()

    slowest, answers = 0.0, 0
    with http_client(timeout=5) as probe, alone:  # the whole poll, and every answer timed during it
        opened.set()
        deadline = time.monotonic() + 240
        while not polled():
            assert time.monotonic() < deadline, "the poll did not finish in 240 s"
            began = time.monotonic()
            try:
                response = probe.get(base + "/healthz")
            except httpx.ConnectError:  # the endpoint is not up yet
                time.sleep(0.05)
                continue
            slowest = max(slowest, time.monotonic() - began)
            answers += response.status_code == 200
            time.sleep(0.05)
    assert answers >= 5  # it was asked while the poll ran, not only before or after
    assert slowest < 1.0
    print(f"{answers} answers while {ITEMS_HEALTHZ} items were processed, the slowest in {slowest:.2f} s")
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0
