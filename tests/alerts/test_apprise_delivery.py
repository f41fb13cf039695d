"""The apprise channel against real receivers on loopback, through Apprise's own json:// and form://
services: one message per alert per URL, a 500 retried, a partial failure retried for the failed
URL only (alone and in a digest), the channel's timeout given to Apprise, `alerts send-test`,
templates, and every `${VAR}` secret of a URL masked in logs, `check --json` and `alerts --json`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from alerts.outbox import listing
from core.db import Database
from newswatch.service import Service
from newswatch.web import render_status
from tests.conftest import HttpServer, Reply, Workspace

RULE = "rules: [{name: kremlin, people: [Vladimir Putin], notify: [team]}]\n"
TOKEN = "tok3n-Secret-in-the-path"
PASSWORD = "pa55-Secret-in-userinfo"
RUN: dict[str, Any] = {"capture_output": True, "text": True, "timeout": 60}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value


@pytest.fixture
def second_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()


def write_config(workspace: Workspace, urls: list[str], channel_extra: str = "", rule: str = RULE) -> None:
    """One fixture source (one article about Putin), one apprise channel, one rule: one alert."""
    listed = "".join(f"      - {url}\n" for url in urls)
    workspace.write_config(
        "sources: [{name: desk, directory: ../seeds}]\n"
        f"channels:\n  - name: team\n    apprise:\n{listed}{channel_extra}{rule}"
    )


def service(workspace: Workspace, clock: Clock, env: dict[str, str] | None = None) -> Service:
    workspace.env.update(env or {})
    config = workspace.load_config()
    return Service(config, Database(config.database), now=clock)


def run(svc: Service, *, poll: bool) -> None:
    async def go() -> None:
        async with svc:
            if poll:
                await svc.poll(svc.config.sources[0])
            await svc.deliver()

    asyncio.run(go())


def rows(svc: Service) -> list[dict[str, Any]]:
    with svc.db.session() as session:
        return listing(session)


def json_url(server: HttpServer, path: str) -> str:
    return f"json://127.0.0.1:{server.port}{path}"


def test_json_and_form_each_get_the_alert_once_with_the_title_and_body(
    workspace: Workspace, http_server: HttpServer
) -> None:
    urls = [json_url(http_server, "/json"), f"form://127.0.0.1:{http_server.port}/form"]
    write_config(workspace, urls)
    svc = service(workspace, Clock(datetime.now(UTC)))
    run(svc, poll=True)
    by_path = {r.path: r for r in http_server.received}
    assert sorted(by_path) == ["/form", "/json"] and len(http_server.received) == 2
    sent = json.loads(by_path["/json"].body)
    assert sent["title"].startswith("[newswatch] kremlin: Russian President Vladimir Putin")
    assert 'Rule "kremlin" matched an article.' in sent["message"]
    assert "Putin (person" in sent["message"]  # what matched, as the email says it
    form = parse_qs(by_path["/form"].body.decode())
    assert form["title"] == [sent["title"]] and form["message"] == [sent["message"]]
    [alert] = rows(svc)
    assert (alert["status"], alert["attempts"], alert["last_error"]) == ("sent", 1, None)
    run(svc, poll=True)  # the same article again: nothing new to send
    assert len(http_server.received) == 2
    svc.db.close()


def test_a_500_is_retried_and_the_alert_delivered_exactly_once(
    workspace: Workspace, http_server: HttpServer
) -> None:
    write_config(workspace, [json_url(http_server, "/hook")])
    http_server.post_script = [Reply(500)]
    clock = Clock(datetime.now(UTC))
    svc = service(workspace, clock)
    run(svc, poll=True)
    [failed] = rows(svc)
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert "apprise team: 1 of 1 URLs failed" in failed["last_error"]
    assert "error=500" in failed["last_error"]  # Apprise's own words for it
    assert failed["delivered_to"] is None

    run(svc, poll=False)  # not due yet: the first retry waits 5 s
    assert len(http_server.received) == 1
    clock.value += timedelta(seconds=6)
    run(svc, poll=False)
    assert len(http_server.received) == 2
    [sent] = rows(svc)
    assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 2, None)
    clock.value += timedelta(hours=1)
    run(svc, poll=False)
    assert len(http_server.received) == 2  # one failed POST, one delivery, nothing after
    svc.db.close()


def test_a_partial_failure_is_retried_for_the_failed_url_only(
    workspace: Workspace, http_server: HttpServer, second_server: HttpServer
) -> None:
    good, flaky = json_url(http_server, "/good"), json_url(second_server, "/flaky")
    write_config(workspace, [good, flaky])
    second_server.post_script = [Reply(500), Reply(503)]
    clock = Clock(datetime.now(UTC))
    svc = service(workspace, clock)
    run(svc, poll=True)
    assert len(http_server.received) == 1 and len(second_server.received) == 1
    [alert] = rows(svc)
    assert alert["status"] == "failed"
    assert alert["delivered_to"] == [good]  # named by its masked form: here the URL as written
    assert f"1 of 2 URLs failed: {flaky}:" in alert["last_error"]

    clock.value += timedelta(seconds=6)
    run(svc, poll=False)  # the flaky URL fails again; the good one is not sent to again
    assert len(http_server.received) == 1 and len(second_server.received) == 2
    assert rows(svc)[0]["delivered_to"] == [good]

    clock.value += timedelta(minutes=6)
    run(svc, poll=False)
    assert len(http_server.received) == 1 and len(second_server.received) == 3
    [done] = rows(svc)
    assert (done["status"], done["attempts"]) == ("sent", 3)
    first, last = (json.loads(r.body) for r in (second_server.received[0], second_server.received[-1]))
    assert first == last == json.loads(http_server.received[0].body)  # the same message to each
    svc.db.close()


def test_a_digest_that_partly_fails_is_retried_for_the_failed_url_only(
    workspace: Workspace, http_server: HttpServer, second_server: HttpServer
) -> None:
    good, flaky = json_url(http_server, "/good"), json_url(second_server, "/flaky")
    write_config(workspace, [good, flaky], "    digest: hourly\n")
    second_server.post_script = [Reply(500)]
    clock = Clock(datetime(2026, 11, 25, 9, 20, tzinfo=UTC))
    svc = service(workspace, clock)
    run(svc, poll=True)
    assert http_server.received == [] and second_server.received == []  # held for the digest
    clock.value = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)
    run(svc, poll=False)
    assert len(http_server.received) == 1 and len(second_server.received) == 1
    assert [r["delivered_to"] for r in rows(svc)] == [[good]]
    clock.value += timedelta(seconds=6)
    run(svc, poll=False)
    assert len(http_server.received) == 1 and len(second_server.received) == 2
    digest = json.loads(second_server.received[1].body)
    assert digest["title"] == "[newswatch] digest: 1 alerts (kremlin)"
    assert "Newswatch digest (hourly:2026-11-25T09:00): 1 alerts." in digest["message"]
    assert [r["status"] for r in rows(svc)] == ["sent"]
    svc.db.close()


def test_the_channel_timeout_is_apprises_read_timeout(workspace: Workspace, http_server: HttpServer) -> None:
    # Apprise's own read timeout is 4 s: an answer after 5 s arrives only because the channel's
    # `timeout: 8s` was given to Apprise; with `timeout: 1s` the same answer is too late.
    write_config(workspace, [json_url(http_server, "/slow")], "    timeout: 8s\n")
    http_server.post_script = [Reply(200, stall=5)]
    svc = service(workspace, Clock(datetime.now(UTC)))
    run(svc, poll=True)
    assert [r["status"] for r in rows(svc)] == ["sent"]
    svc.db.close()


def test_the_event_loop_runs_while_apprise_waits_for_an_answer(
    workspace: Workspace, http_server: HttpServer
) -> None:
    write_config(workspace, [json_url(http_server, "/slow")])
    http_server.post_delay = 3  # the receiver holds the POST (counted in flight) before answering
    svc = service(workspace, Clock(datetime.now(UTC)))
    seen: dict[str, int] = {}

    async def go() -> None:
        async with svc:
            await svc.poll(svc.config.sources[0])
            delivering = asyncio.ensure_future(svc.deliver())
            # A send that held the loop would let this look only after the receiver answered.
            while http_server.in_flight == 0 and not delivering.done():
                await asyncio.sleep(0.01)
            seen["in flight while the loop ran"] = http_server.in_flight
            await delivering

    asyncio.run(go())
    assert seen == {"in flight while the loop ran": 1}
    assert [r["status"] for r in rows(svc)] == ["sent"]
    svc.db.close()


def test_a_short_timeout_fails_the_send_and_says_so(workspace: Workspace, http_server: HttpServer) -> None:
    write_config(workspace, [json_url(http_server, "/slow")], "    timeout: 1s\n    retry: [1h]\n")
    http_server.post_script = [Reply(200, stall=5)]
    svc = service(workspace, Clock(datetime.now(UTC)))
    run(svc, poll=True)
    [alert] = rows(svc)
    assert alert["status"] == "failed" and "1 of 1 URLs failed" in alert["last_error"]
    svc.db.close()


def test_send_test_reaches_every_url(
    workspace: Workspace, http_server: HttpServer, second_server: HttpServer
) -> None:
    write_config(workspace, [json_url(http_server, "/a"), f"form://127.0.0.1:{second_server.port}/b"])
    result = workspace.cli("alerts", "send-test", "team", "--json")
    assert result.returncode == 0, result.stderr
    message_id = json.loads(result.stdout)["webhook_id"]
    [sent] = http_server.received
    assert json.loads(sent.body)["title"] == "[newswatch] test message for channel team"
    assert message_id in json.loads(sent.body)["message"]
    [form] = second_server.received
    assert parse_qs(form.body.decode())["title"] == ["[newswatch] test message for channel team"]


def test_send_test_fails_with_exit_1_and_apprises_reason(
    workspace: Workspace, http_server: HttpServer
) -> None:
    write_config(workspace, [json_url(http_server, "/a")])
    http_server.post_status = 500
    result = workspace.cli("alerts", "send-test", "team")
    assert result.returncode == 1
    assert "apprise team: 1 of 1 URLs failed" in result.stderr and "Traceback" not in result.stderr


def test_a_user_template_folder_replaces_the_title_and_body(
    workspace: Workspace, http_server: HttpServer
) -> None:
    folder = workspace.root / "config" / "messages"
    folder.mkdir(parents=True)
    (folder / "apprise_title.txt").write_text("Desk: {{ article.source }}\n")
    (folder / "apprise_body.txt").write_text("{{ article.title }} <{{ article.url }}>")
    write_config(workspace, [json_url(http_server, "/a")], "    templates: messages\n")
    svc = service(workspace, Clock(datetime.now(UTC)))
    run(svc, poll=True)
    sent = json.loads(http_server.received[0].body)
    assert sent["title"] == "Desk: desk"
    assert sent["message"].startswith("Russian President Vladimir Putin")
    svc.db.close()


def test_secrets_from_the_environment_are_masked_in_logs_check_alerts_and_the_status_page(
    workspace: Workspace, http_server: HttpServer
) -> None:
    env = {"HOOK_TOKEN": TOKEN, "HOOK_PASSWORD": PASSWORD}
    url = f"json://desk:${{HOOK_PASSWORD}}@127.0.0.1:{http_server.port}/hooks/${{HOOK_TOKEN}}?+X-Key=${{HOOK_TOKEN}}"
    write_config(workspace, [url], "    retry: [1h]\n")
    http_server.post_status = 500
    shown = f"json://desk:****@127.0.0.1:{http_server.port}/hooks/${{HOOK_TOKEN}}"

    checked = workspace.cli("check", "--json", env=env)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["apprise"] == {"team": [shown]}

    ran = workspace.cli("-vv", "--log-format", "json", "run", "--once", env=env)
    assert ran.returncode == 1  # the delivery failed
    [received] = http_server.received
    assert received.path == f"/hooks/{TOKEN}" and received.headers["X-Key"] == TOKEN  # really sent
    failure = next(json.loads(line) for line in ran.stderr.splitlines() if "delivery failed" in line)
    assert shown in failure["message"] and "error=500" in failure["message"]

    listed = workspace.cli("alerts", "--json", env=env)
    [alert] = json.loads(listed.stdout)
    assert alert["last_error"].startswith(f"apprise team: 1 of 1 URLs failed: {shown}: ")

    svc = service(workspace, Clock(datetime.now(UTC)), env)
    page = render_status(svc)
    assert shown in page
    svc.db.close()
    for text in (checked.stdout, checked.stderr, ran.stdout, ran.stderr, listed.stdout, page):
        assert TOKEN not in text and PASSWORD not in text


def test_apprises_own_log_lines_never_reach_our_log(workspace: Workspace, http_server: HttpServer) -> None:
    # Apprise logs a failed send itself (and may name the URL); only our redacted line is written.
    env = {"HOOK_TOKEN": TOKEN}
    write_config(workspace, [f"json://127.0.0.1:{http_server.port}/${{HOOK_TOKEN}}"], "    retry: [1h]\n")
    http_server.post_status = 500
    ran = workspace.cli("-vv", "--log-format", "json", "run", "--once", env=env)
    loggers = {json.loads(line)["logger"] for line in ran.stderr.splitlines() if line.startswith("{")}
    assert "alerts.delivery" in loggers and not any(name.startswith("apprise") for name in loggers)
    assert TOKEN not in ran.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://somewhere/x", "channels[0].apprise[1] (channel 'team'): unknown Apprise scheme foo://"),
        ("slack://${SLACK_TOKEN}", "channels[0].apprise[1] (channel 'team'): is not a slack:// URL"),
        ("just words", "channels[0].apprise[1] (channel 'team'): is not an Apprise URL"),
    ],
)
def test_a_bad_apprise_url_is_exit_2_with_its_key_path_and_no_secret(
    bare_workspace: Workspace, url: str, message: str
) -> None:
    write_config(bare_workspace, ["json://127.0.0.1:9/ok", url])
    result = bare_workspace.cli("check", env={"SLACK_TOKEN": TOKEN})
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert message in line and "Traceback" not in result.stderr
    assert TOKEN not in result.stderr


def test_apprise_is_imported_only_for_a_config_with_an_apprise_channel(bare_workspace: Workspace) -> None:
    # Importing Apprise and loading its services takes a third of a second: no other config pays it.
    probe = (
        "import sys; from newswatch.cli import main; code = main(['--config', sys.argv[1], 'check']);"
        " print('apprise' in sys.modules, code)"
    )
    bare_workspace.write_config(
        "sources: [{name: desk, directory: ../seeds}]\nchannels: [{name: team, console: true}]\n" + RULE
    )
    env = {**os.environ, **bare_workspace.env}
    plain = subprocess.run([sys.executable, "-c", probe, str(bare_workspace.config)], env=env, **RUN)
    assert plain.stdout.split()[-2:] == ["False", "0"], plain.stderr
    write_config(bare_workspace, ["json://127.0.0.1:9/x"])
    with_apprise = subprocess.run([sys.executable, "-c", probe, str(bare_workspace.config)], env=env, **RUN)
    assert with_apprise.stdout.split()[-2:] == ["True", "0"], with_apprise.stderr
