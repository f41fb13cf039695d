"""`newswatch run` as operators see it: the HTTP endpoint, metrics, JSON logs, reload and shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import HttpServer, Workspace, free_port, http_client

# Every request to the endpoints (the tests poll /metrics): a new connection, as httpx.get's.
PROBE = http_client(timeout=5)

CONFIG = """\
http: {{listen: "127.0.0.1:{port}"}}
shutdown_grace: {grace}
sources:
  - name: desk
    directory: ../seeds
    every: 2s
channels:
  - name: newsroom
    webhook: {hook}
    secret: ${{NEWSWATCH_WEBHOOK_SECRET}}
rules:
  - name: kremlin-kyiv
    people: [Vladimir Putin]
    notify: [newsroom]
{extra}"""

UNICEF_RULE = """\
  - name: children-in-war
    topics: [UNICEF]
    notify: [newsroom]
"""


@dataclass
class Running:
    """A `newswatch run` child process with its endpoint and its JSON log."""

    process: subprocess.Popen[str]
    base: str
    log_path: Path
    workspace: Workspace
    write: Callable[..., None]
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another `newswatch` command on the same config and environment."""
        return self.workspace.cli(*args, env=self.env)

    def get(self, path: str) -> httpx.Response:
        return PROBE.get(self.base + path)

    def logs(self) -> list[dict[str, Any]]:
        """Every line of the log, parsed (a line that is not JSON fails the test here)."""
        text = self.log_path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample from /metrics (0 when it does not exist yet)."""
        response = self.get("/metrics")
        assert response.status_code == 200
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def add_article(workspace: Workspace, name: str, title: str, body: str) -> None:
    (workspace.seeds / name).write_text(f"{title}\n\n{body}\n", encoding="utf-8")


@pytest.fixture
def start(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str, tmp_path: Path
) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []
    port = free_port()

    def write(grace: str = "10s", extra: str = "") -> None:
        workspace.write_config(
            CONFIG.format(port=port, grace=grace, hook=http_server.url("/hook"), extra=extra)
        )

    def launch(grace: str = "10s") -> Running:
        write(grace)
        log_path = tmp_path / "run.log"
        with log_path.open("w") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "newswatch", "--config", str(workspace.config), "run"],
                env={**os.environ, **workspace.env, "NEWSWATCH_WEBHOOK_SECRET": webhook_secret},
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                text=True,
            )
        env = {"NEWSWATCH_WEBHOOK_SECRET": webhook_secret}
        running = Running(process, f"http://127.0.0.1:{port}", log_path, workspace, write, env)
        started.append(running)

        def is_ready() -> bool:
            assert process.poll() is None, log_path.read_text()
            try:
                return running.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(is_ready, "/readyz to answer 200")
        return running

    yield launch
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_endpoints_answer_and_metrics_move_when_polls_and_alerts_happen(
    start: Callable[..., Running], http_server: HttpServer, workspace: Workspace, webhook_secret: str
) -> None:
    run = start()
    health = run.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert run.get("/readyz").json() == {"status": "ready", "checks": {"database": True, "scheduler": True}}
    assert run.get("/nowhere").status_code == 404

    # The seed article mentions Putin: one poll stores it, one alert is delivered.
    wait_for(lambda: run.metric("newswatch_deliveries_total", channel="newsroom", state="sent") == 1, "alert")
    polls_before = run.metric("newswatch_polls_total", source="desk", outcome="ok")
    assert polls_before >= 1
    assert run.metric("newswatch_articles_stored_total", source="desk", kind="new") == 1
    assert run.metric("newswatch_rule_matches_total", rule="kremlin-kyiv") == 1
    assert run.metric("newswatch_delivery_latency_seconds_count", channel="newsroom") == 1
    assert run.metric("newswatch_poll_duration_seconds_count", outcome="ok") >= 1
    assert run.metric("newswatch_alerts", channel="newsroom", state="sent") == 1
    assert run.metric("newswatch_outbox_depth") == 0
    assert run.metric("newswatch_outbox_oldest_pending_age_seconds") == 0

    # A new article that matches: the counters move by one more poll, article, match and delivery.
    add_article(workspace, "second.txt", "Vladimir Putin speaks", "Vladimir Putin spoke in Moscow.")
    wait_for(lambda: run.metric("newswatch_deliveries_total", channel="newsroom", state="sent") == 2, "alert")
    assert run.metric("newswatch_polls_total", source="desk", outcome="ok") > polls_before
    assert run.metric("newswatch_articles_stored_total", source="desk", kind="new") == 2
    assert run.metric("newswatch_rule_matches_total", rule="kremlin-kyiv") == 2
    assert run.metric("newswatch_delivery_latency_seconds_count", channel="newsroom") == 2
    assert run.metric("newswatch_alerts", channel="newsroom", state="sent") == 2

    # A receiver that fails: the alert waits in the outbox and the gauges say so.
    http_server.post_status = 503
    add_article(workspace, "third.txt", "Putin again", "Vladimir Putin, once more.")
    wait_for(
        lambda: run.metric("newswatch_deliveries_total", channel="newsroom", state="failed") == 1, "failure"
    )
    assert run.metric("newswatch_outbox_depth") == 1
    assert run.metric("newswatch_alerts", channel="newsroom", state="failed") == 1
    wait_for(lambda: run.metric("newswatch_outbox_oldest_pending_age_seconds") > 0, "pending age")

    assert run.stop() == 0
    lines = run.logs()  # every line parses as JSON
    polled = [line for line in lines if line["message"].startswith("polled:")]
    assert polled and all(line["source"] == "desk" for line in polled)
    delivered = [line for line in lines if line["message"] == "alert delivered"]
    assert len(delivered) == 2
    assert all({"alert_id", "rule", "channel", "article_id"} <= line.keys() for line in delivered)
    assert webhook_secret not in run.log_path.read_text()
    assert webhook_secret.removeprefix("whsec_") not in run.log_path.read_text()


def test_sighup_applies_a_good_config_and_refuses_a_broken_one(
    start: Callable[..., Running], http_server: HttpServer, workspace: Workspace
) -> None:
    run = start()
    wait_for(lambda: len(http_server.received) == 1, "the first alert")

    # Broken config: refused, logged, and the old config keeps running.
    workspace.config.write_text("sources: [ {name: desk, every: soon", encoding="utf-8")
    run.process.send_signal(signal.SIGHUP)
    wait_for(lambda: any("reload refused" in line["message"] for line in run.logs()), "the refusal")
    refusal = next(line for line in run.logs() if "reload refused" in line["message"])
    assert refusal["level"] == "error" and "YAML syntax error" in refusal["message"]
    polls = run.metric("newswatch_polls_total", source="desk", outcome="ok")
    wait_for(lambda: run.metric("newswatch_polls_total", source="desk", outcome="ok") > polls, "more polls")
    assert run.get("/healthz").status_code == 200
    # `newswatch reload` checks the file first and does not disturb the service.
    refused = run.cli("reload")
    assert refused.returncode == 2 and "YAML syntax error" in refused.stderr

    # Good config with a new rule, through `newswatch reload`: the new rule fires.
    run.write(extra=UNICEF_RULE)
    requested = run.cli("reload")
    assert requested.returncode == 0, requested.stderr
    assert f"pid {run.process.pid}" in requested.stdout
    wait_for(lambda: any(line["message"].startswith("config reloaded") for line in run.logs()), "reload")
    add_article(workspace, "unicef.txt", "Schools reopen", "Aid groups worked on it.\n\nTopics: UNICEF")
    wait_for(lambda: len(http_server.received) == 2, "an alert from the new rule")
    assert json.loads(http_server.received[1].body)["data"]["rule"] == "children-in-war"
    assert run.stop() == 0


def test_sigterm_finishes_an_inflight_delivery_and_exits_0(
    start: Callable[..., Running], http_server: HttpServer, workspace: Workspace
) -> None:
    http_server.post_delay = 3.0
    run = start(grace="20s")
    wait_for(lambda: len(http_server.received) == 1, "the delivery to start")
    assert run.stop() == 0
    lines = run.logs()
    stopping = next(i for i, line in enumerate(lines) if line["message"].startswith("stopping:"))
    assert not any(line["message"].startswith("polled:") for line in lines[stopping:])  # no new polls
    assert any(line["message"] == "alert delivered" for line in lines[stopping:])
    assert any(line["message"] == "outbox empty at shutdown" for line in lines)
    alerts = json.loads(run.cli("alerts", "--json").stdout)
    assert [a["status"] for a in alerts] == ["sent"]


def test_sigterm_past_the_deadline_records_what_is_left_pending(
    start: Callable[..., Running], http_server: HttpServer, workspace: Workspace
) -> None:
    http_server.post_delay = 20.0
    run = start(grace="1s")
    wait_for(lambda: len(http_server.received) == 1, "the delivery to start")
    began = time.monotonic()
    assert run.stop() == 0
    assert time.monotonic() - began < 15  # the deadline, not the slow receiver, decided
    left = [line for line in run.logs() if "left pending" in line["message"]]
    assert len(left) == 1 and left[0]["pending"] == 1 and left[0]["level"] == "warning"
    alerts = json.loads(run.cli("alerts", "--json").stdout)
    assert [a["status"] for a in alerts] == ["pending"]
