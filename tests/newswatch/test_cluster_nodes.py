"""Every node of a cluster is observable, and only one `run --distributed` schedules at a time."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from core.db import Database
from newswatch import cluster
from tests.conftest import HttpServer, Served, Workspace, free_port, one_story_rss
from tests.newswatch.test_distributed import Node, _start, _stop, _wait

pytestmark = pytest.mark.only_backend("postgresql", reason="distributed mode runs on PostgreSQL only")


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def _ready(port: int) -> dict[str, Any] | None:
    code, body = _get(port, "/readyz")
    return json.loads(body) | {"code": code} if code else None


def _config(workspace: Workspace, http_server: HttpServer, every: str = "2s") -> None:
    http_server.routes["/feed.xml"] = Served(one_story_rss("Ceasefire talks resume in Geneva"))
    workspace.write_config(
        "fetch: {allow_private_addresses: true}\n"
        'http: {listen: "127.0.0.1:${NODE_PORT}"}\n'
        f"sources:\n  - {{name: wire, feed: {http_server.url('/feed.xml')}, every: {every}}}\n"
        f"channels:\n  - {{name: newsroom, webhook: {http_server.url('/hook')}}}\n"
        "rules:\n  - {name: talks, keywords: [ceasefire], notify: [newsroom]}\n"
    )


def _node(workspace: Workspace, *args: str) -> tuple[Node, int]:
    port = free_port()
    return _start(workspace, {**workspace.env, "NODE_PORT": str(port)}, *args), port


def test_each_node_serves_health_readiness_labelled_metrics_and_the_cluster_status_page(
    workspace: Workspace, http_server: HttpServer
) -> None:
    _config(workspace, http_server)
    started = [
        _node(workspace, "run", "--distributed"),
        _node(workspace, "worker", "--queues", "poll,deliver"),
        _node(workspace, "worker", "--queues", "poll,deliver"),
    ]
    nodes, ports = [n for n, _ in started], [p for _, p in started]
    try:
        for port in ports:
            _wait(lambda port=port: (_ready(port) or {}).get("code") == 200, 60, f"node on {port} ready")
        _wait(lambda: len(http_server.received) >= 1, 60, "the alert")
        names = []
        for port in ports:
            assert _get(port, "/healthz") == (200, b'{"status":"ok"}')
            ready = _ready(port)
            assert ready is not None
            assert ready["checks"] == {"database": True, "worker": True} and ready["state"] == "running"
            names.append(ready["node"])
            code, metrics = _get(port, "/metrics")
            assert code == 200
            assert f'newswatch_outbox_depth{{node="{ready["node"]}"}}'.encode() in metrics
        assert names[0].startswith("scheduler@") and all(n.startswith("worker@") for n in names[1:])
        # Any node's status page shows every node with its last heartbeat, read from the database.
        _wait(lambda: _get(ports[1], "/")[1].count(b'class="badge running"') == 3, 10, "3 nodes running")
        code, page = _get(ports[1], "/")
        assert code == 200
        text = page.decode()
        assert 'id="nodes"' in text
        for name in names:
            assert name in text
        assert text.count('class="badge running"') == 3
        assert " s ago</time>" in text  # each last heartbeat, relative
    finally:
        stopping = time.monotonic()
        logs = _stop(nodes)
        stopped_in = time.monotonic() - stopping
    assert all("Traceback" not in log for log in logs), logs
    assert [n.process.returncode for n in nodes] == [0, 0, 0], f"stopped in {stopped_in:.1f} s: {logs}"
    assert _get(ports[0], "/healthz")[0] == 0  # the endpoint went with the process
    # A node that stopped says so in its row.
    db = Database(workspace.env["NEWSWATCH_DATABASE_URL"])
    try:
        assert {(v.name, v.state) for v in cluster.nodes(db)} == {(name, "stopped") for name in names}
    finally:
        db.close()


def test_a_second_scheduler_waits_as_standby_and_takes_over_within_15_s_of_a_kill_9(
    workspace: Workspace, http_server: HttpServer
) -> None:
    _config(workspace, http_server, every="1s")
    first, first_port = _node(workspace, "run", "--distributed")
    nodes = [first]
    try:
        _wait(lambda: (_ready(first_port) or {}).get("code") == 200, 60, "the first scheduler")
        second, second_port = _node(workspace, "run", "--distributed")
        nodes.append(second)
        _wait(
            lambda: "standby: another `run --distributed` schedules" in second.log.read_text(),
            60,
            "the standby's log line",
        )
        standby = _ready(second_port)
        assert standby is not None and standby["code"] == 503 and standby["state"] == "standby"
        assert _get(second_port, "/healthz")[0] == 200
        # While the first runs, it alone schedules: the standby polls nothing.
        _wait(lambda: len([g for g in http_server.gets if g.path == "/feed.xml"]) >= 3, 30, "polls")
        assert "polled:" not in second.log.read_text()

        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        killed = time.monotonic()
        _wait(lambda: (_ready(second_port) or {}).get("state") == "running", 15, "the take-over")
        took_over = time.monotonic() - killed
        gets = len(http_server.gets)
        _wait(lambda: len(http_server.gets) > gets + 1, 15, "the standby to poll")
        _wait(lambda: (_ready(second_port) or {}).get("code") == 200, 15, "the new scheduler ready")
    finally:
        logs = _stop(nodes)
    print(f"standby took over {took_over:.1f} s after kill -9")
    assert took_over < 15
    assert "standby over: this node now schedules" in logs[1]
    assert "Traceback" not in logs[1], logs[1]
