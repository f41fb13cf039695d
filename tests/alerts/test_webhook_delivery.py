"""Webhook delivery against a real receiver on loopback: retries, Retry-After, timeouts, 3xx, 410,
dead alerts and `alerts retry`, secret rotation, payload formats, and a crash between match and send."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import HttpServer, Reply, Workspace

OLD_SECRET = "whsec_" + base64.b64encode(b"the-old-secret-of-32-bytes-long!").decode()


def write_config(workspace: Workspace, hook: str, channel_extra: str = "", rule_extra: str = "") -> None:
    """One fixture source (one article about Putin), one webhook channel, one rule: one alert."""
    workspace.write_config(
        f"""\
sources:
  - name: desk
    directory: ../seeds
channels:
  - name: newsroom
    webhook: {hook}
    secret: ${{NEWSWATCH_WEBHOOK_SECRET}}
{channel_extra}
rules:
  - name: kremlin
    people: [Vladimir Putin]
    notify: [newsroom]
{rule_extra}
"""
    )


def alerts_json(workspace: Workspace, env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = workspace.cli("alerts", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


@pytest.fixture
def env(webhook_secret: str) -> dict[str, str]:
    return {"NEWSWATCH_WEBHOOK_SECRET": webhook_secret}


def test_500_then_429_then_204_is_delivered_once_with_one_id_and_the_waits_kept(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str], webhook_secret: str
) -> None:
    write_config(workspace, http_server.url("/hook"))
    http_server.post_script = [Reply(500), Reply(429, {"Retry-After": "2"}), Reply(204)]
    result = workspace.cli("run", "--once", env=env)
    assert result.returncode == 0, result.stderr  # the early retries happened in the same run

    received = http_server.received
    assert len(received) == 3
    receiver = Webhook(webhook_secret)
    events = [receiver.verify(r.body, r.headers) for r in received]
    assert {e["data"]["article"]["source"] for e in events} == {"desk"}
    assert len({r.headers["webhook-id"] for r in received}) == 1
    assert received[1].at - received[0].at >= 5.0  # the Standard Webhooks schedule: 5 s first
    assert received[2].at - received[1].at >= 2.0  # Retry-After: 2
    assert received[2].at - received[1].at < 5.0  # ... rather than the schedule's 5 minutes
    [alert] = alerts_json(workspace, env)
    assert alert["status"] == "sent" and alert["attempts"] == 3

    again = workspace.cli("run", "--once", env=env)
    assert again.returncode == 0 and len(http_server.received) == 3


def test_a_hanging_receiver_times_out_and_the_retry_delivers(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str]
) -> None:
    write_config(workspace, http_server.url("/hook"), "    timeout: 1s\n    retry: [1s]")
    http_server.post_script = [Reply(204, stall=30), Reply(204)]
    result = workspace.cli("run", "--once", env=env)
    assert result.returncode == 0, result.stderr
    assert "no answer within 1 s" in result.stderr
    first, second = http_server.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.at - first.at >= 2.0  # 1 s timeout, then the 1 s wait
    assert [a["status"] for a in alerts_json(workspace, env)] == ["sent"]


def test_a_redirect_is_a_failure_and_is_not_followed(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str]
) -> None:
    write_config(workspace, http_server.url("/hook"), "    retry: [1h]")
    http_server.post_script = [Reply(302, {"Location": http_server.url("/elsewhere")})]
    result = workspace.cli("run", "--once", env=env)
    assert result.returncode == 1
    assert [r.path for r in http_server.received] == ["/hook"]
    assert http_server.gets == []
    [alert] = alerts_json(workspace, env)
    assert alert["status"] == "failed" and alert["last_error"] == "webhook newsroom: HTTP 302"


def test_410_disables_the_channel_loudly_until_a_send_test_succeeds(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str], webhook_secret: str
) -> None:
    write_config(workspace, http_server.url("/hook"))
    http_server.post_script = [Reply(410)]
    result = workspace.cli("--log-format", "human", "run", "--once", env=env)
    assert result.returncode == 1
    assert (
        "CRITICAL" in result.stderr and "CHANNEL DISABLED: webhook newsroom: HTTP 410 Gone" in result.stderr
    )
    assert len(http_server.received) == 1

    assert workspace.cli("run", "--once", env=env).returncode == 0
    assert len(http_server.received) == 1  # disabled: nothing more is sent
    assert [a["status"] for a in alerts_json(workspace, env)] == ["failed"]

    test = workspace.cli("alerts", "send-test", "newsroom", env=env)
    assert test.returncode == 0, test.stderr
    ping = Webhook(webhook_secret).verify(http_server.received[1].body, http_server.received[1].headers)
    assert ping["type"] == "newswatch.test" and ping["data"]["channel"] == "newsroom"
    assert http_server.received[1].headers["webhook-id"] in test.stdout

    assert workspace.cli("run", "--once", env=env).returncode == 0
    assert len(http_server.received) == 3
    assert [a["status"] for a in alerts_json(workspace, env)] == ["sent"]


def test_after_the_last_retry_an_alert_is_dead_and_alerts_retry_revives_it(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str]
) -> None:
    write_config(workspace, http_server.url("/hook"), "    retry: [1s]")
    http_server.post_status = 500
    result = workspace.cli("run", "--once", env=env)
    assert result.returncode == 1
    assert "alert is dead" in result.stderr
    assert len(http_server.received) == 2
    [dead] = alerts_json(workspace, env, "--status", "dead")
    assert dead["attempts"] == 2
    assert alerts_json(workspace, env, "--status", "sent") == []
    assert alerts_json(workspace, env, "--status", "pending") == []

    missing = workspace.cli("alerts", "retry", "999", env=env)
    assert missing.returncode == 2 and "there is no alert 999" in missing.stderr

    http_server.post_status = 204
    retried = workspace.cli("alerts", "retry", "--dead", env=env)
    assert retried.returncode == 0, retried.stderr
    assert "sent 1" in retried.stdout
    assert len({r.headers["webhook-id"] for r in http_server.received}) == 1
    assert [a["status"] for a in alerts_json(workspace, env)] == ["sent"]

    done = workspace.cli("alerts", "retry", str(dead["id"]), env=env)
    assert done.returncode == 2 and "already delivered" in done.stderr


def test_rotation_signs_with_every_secret_and_secrets_never_reach_the_logs(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    secrets_file = workspace.root / "hook.secrets"
    secrets_file.write_text(f"# newest first\n{webhook_secret}\n{OLD_SECRET}\n")
    workspace.write_config(
        f"""\
sources: [{{name: desk, directory: ../seeds}}]
channels:
  - name: newsroom
    webhook: {http_server.url("/hook")}
    secret_file: ../hook.secrets
rules: [{{name: kremlin, people: [Vladimir Putin], notify: [newsroom]}}]
"""
    )
    http_server.post_script = [Reply(500)]  # one failure, so the error path logs too
    result = workspace.cli("-vv", "run", "--once")
    assert result.returncode == 0, result.stderr
    request = http_server.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (webhook_secret, OLD_SECRET):  # a receiver on either secret accepts it
        Webhook(secret).verify(request.body, request.headers)

    listing = workspace.cli("alerts", "--json")
    check = workspace.cli("check")
    for secret in (webhook_secret, OLD_SECRET):
        key = secret.removeprefix("whsec_")
        for output in (result.stderr, result.stdout, listing.stdout, check.stdout, check.stderr):
            assert key not in output


def test_secret_list_in_the_config_is_rotation_too(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str], webhook_secret: str
) -> None:
    workspace.write_config(
        f"""\
sources: [{{name: desk, directory: ../seeds}}]
channels:
  - name: newsroom
    webhook: {http_server.url("/hook")}
    secret: ["${{NEWSWATCH_WEBHOOK_SECRET}}", "{OLD_SECRET}"]
rules: [{{name: kremlin, people: [Vladimir Putin], notify: [newsroom]}}]
"""
    )
    assert workspace.cli("run", "--once", env=env).returncode == 0
    [request] = http_server.received
    Webhook(OLD_SECRET).verify(request.body, request.headers)
    Webhook(webhook_secret).verify(request.body, request.headers)


@pytest.mark.parametrize("fmt", ["slack", "discord"])
def test_chat_formats_reach_the_receiver_signed(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str], webhook_secret: str, fmt: str
) -> None:
    write_config(workspace, http_server.url("/hook"), f"    format: {fmt}")
    assert workspace.cli("run", "--once", env=env).returncode == 0
    [request] = http_server.received
    body = Webhook(webhook_secret).verify(request.body, request.headers)
    assert request.headers["content-type"] == "application/json"
    if fmt == "slack":
        assert body["text"].startswith("[kremlin] Russian President Vladimir Putin")
        assert body["blocks"][1]["type"] == "section" and "Putin" in body["blocks"][1]["text"]["text"]
    else:
        assert body["content"].startswith("[kremlin] Russian President Vladimir Putin")
        assert body["embeds"][0]["title"].startswith("Russian President Vladimir Putin")
        assert body["allowed_mentions"] == {"parse": []}


def test_a_jinja2_template_shapes_the_body(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str]
) -> None:
    (workspace.root / "config" / "hook.j2").parent.mkdir(parents=True, exist_ok=True)
    (workspace.root / "config" / "hook.j2").write_text(
        "{% for item in items %}{{ item.rule }}|{{ item.article.source }}{% endfor %}"
    )
    write_config(
        workspace,
        http_server.url("/hook"),
        "    format: template\n    template: hook.j2\n    content_type: text/csv",
    )
    assert workspace.cli("run", "--once", env=env).returncode == 0
    [request] = http_server.received
    assert request.body == b"kremlin|desk"
    assert request.headers["content-type"] == "text/csv"


def test_send_test_to_an_unknown_channel_is_a_usage_error(
    bare_workspace: Workspace, http_server: HttpServer, env: dict[str, str]
) -> None:
    write_config(bare_workspace, http_server.url("/hook"))  # refused before the database is opened
    result = bare_workspace.cli("alerts", "send-test", "pager", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "newswatch: no channel named 'pager' (channels: newsroom)"


def test_killed_between_match_and_send_delivers_once_after_restart_with_the_same_id(
    workspace: Workspace, http_server: HttpServer, env: dict[str, str], webhook_secret: str
) -> None:
    write_config(workspace, http_server.url("/hook"))
    http_server.post_script = [Reply(204, stall=120)]  # the first attempt is never answered
    process = subprocess.Popen(
        [sys.executable, "-m", "newswatch", "--config", str(workspace.config), "run"],
        env={**os.environ, **workspace.env, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not http_server.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http_server.received, "the service did not match and start sending in 30 s"
        os.kill(process.pid, signal.SIGKILL)  # mid-request: the match is stored, the send unacknowledged
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert [a["status"] for a in alerts_json(workspace, env)] == ["pending"]

    assert workspace.cli("run", "--once", env=env).returncode == 0
    first, second = http_server.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(webhook_secret).verify(second.body, second.headers)
    assert [a["status"] for a in alerts_json(workspace, env)] == ["sent"]
    assert workspace.cli("run", "--once", env=env).returncode == 0
    assert len(http_server.received) == 2  # once acknowledged, never again
