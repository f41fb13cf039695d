"""End to end, as a user runs it: fixtures and a served feed -> the database -> webhook and email.

Every test here runs on SQLite and on PostgreSQL (through the `workspace` fixture)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import HttpServer, Served, SmtpServer, Workspace, clear_of_the_hour

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title><link>http://wire.example/</link>
<item><guid>wire-1</guid><title>Zelensky visits the front</title>
<link>http://wire.example/a/1</link><pubDate>Tue, 24 Nov 2026 09:30:00 GMT</pubDate>
<category>Ukraine</category>
<description>&lt;p&gt;President Zelensky toured positions near the river.&lt;/p&gt;
&lt;p&gt;Advert&lt;/p&gt;</description></item>
<item><guid>wire-2</guid><title>Rasputin opera opens</title><link>http://wire.example/a/2</link>
<pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate>
<description>A new production about Rasputin opened in Vienna.</description></item>
</channel></rss>
"""

CONFIG = """\
fetch:
  allow_private_addresses: {allow}
sources:
  - name: desk
    directory: ../seeds
    every: 1m
  - name: wire
    feed: {feed}
    every: 10m
channels:
  - name: newsroom
    webhook: {hook}
    secret: ${{NEWSWATCH_WEBHOOK_SECRET}}
  - name: desk-mail
    email:
      to: [desk@example.org]
      cc: [editor@example.org]
      bcc: [archive@example.org]
      from: newswatch@example.org
      smtp: {{host: 127.0.0.1, port: {smtp}}}
rules:
  - name: kremlin-kyiv
    people:
      - Vladimir Putin
      - name: Volodymyr Zelenskyy
        aliases: [Zelensky, Zelenskiy]
    notify: [newsroom, desk-mail]
  - name: children-in-war
    topics: [UNICEF, refugees]
    keywords: ["humanitarian corridor"]
    notify: [newsroom]
"""


@pytest.fixture
def setup(
    workspace: Workspace, http_server: HttpServer, smtp_server: SmtpServer, webhook_secret: str
) -> tuple[Workspace, dict[str, str]]:
    http_server.routes["/rss.xml"] = Served(RSS)
    workspace.write_config(
        CONFIG.format(
            allow="true",
            feed=http_server.url("/rss.xml"),
            hook=http_server.url("/hook"),
            smtp=smtp_server.port,
        )
    )
    return workspace, {"NEWSWATCH_WEBHOOK_SECRET": webhook_secret}


def test_fixtures_and_feed_reach_webhook_and_email_once(
    setup: tuple[Workspace, dict[str, str]],
    http_server: HttpServer,
    smtp_server: SmtpServer,
    webhook_secret: str,
) -> None:
    workspace, env = setup
    first = workspace.cli("run", "--once", env=env)
    assert first.returncode == 0, first.stderr

    # Webhooks: seed -> both rules, wire-1 (alias "Zelensky") -> kremlin-kyiv; Rasputin -> none.
    receiver = Webhook(webhook_secret)
    events = []
    for request in http_server.received:
        assert request.path == "/hook"
        events.append(receiver.verify(request.body, request.headers))
    pairs = sorted((e["data"]["rule"], e["data"]["article"]["source"]) for e in events)
    assert pairs == [("children-in-war", "desk"), ("kremlin-kyiv", "desk"), ("kremlin-kyiv", "wire")]
    assert all(e["type"] == "article.matched" for e in events)
    wire = next(e for e in events if e["data"]["article"]["source"] == "wire")
    assert wire["data"]["article"]["title"] == "Zelensky visits the front"
    assert wire["data"]["article"]["url"] == "http://wire.example/a/1"
    assert wire["data"]["article"]["published_at"] == "2026-11-24T09:30:00+00:00"
    assert wire["data"]["article"]["topics"] == ["Ukraine"]
    assert wire["data"]["matched"][0]["surface"] == "Zelensky"
    assert len({r.headers["webhook-id"] for r in http_server.received}) == 3

    # Email: one per kremlin-kyiv alert, to To + Cc + Bcc, Bcc not in the headers.
    assert len(smtp_server.messages) == 2
    subjects = sorted(m["Subject"] for m, _ in smtp_server.messages)
    assert subjects[0].startswith("[newswatch] kremlin-kyiv: Russian President Vladimir Putin")
    assert subjects[1] == "[newswatch] kremlin-kyiv: Zelensky visits the front"
    message, recipients = smtp_server.messages[0]
    assert sorted(recipients) == ["archive@example.org", "desk@example.org", "editor@example.org"]
    assert message["Bcc"] is None
    assert message["Auto-Submitted"] == "auto-generated"
    plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    text = plain.get_payload(decode=True).decode()
    assert "What matched:" in text
    assert any(p.get_content_type() == "text/html" for p in message.walk())

    # A second run finds nothing new and sends nothing.
    second = workspace.cli("run", "--once", env=env)
    assert second.returncode == 0, second.stderr
    assert len(http_server.received) == 3
    assert len(smtp_server.messages) == 2

    alerts = json.loads(workspace.cli("alerts", "--json", env=env).stdout)
    assert len(alerts) == 5  # 3 webhook + 2 email
    assert {a["status"] for a in alerts} == {"sent"}


def test_articles_json_lists_clean_articles_newest_first(
    setup: tuple[Workspace, dict[str, str]],
) -> None:
    workspace, env = setup
    assert workspace.cli("run", "--once", env=env).returncode == 0
    result = workspace.cli("articles", "--json", env=env)
    assert result.returncode == 0, result.stderr
    articles = json.loads(result.stdout)
    assert len(articles) == 3
    for article in articles:
        assert {"id", "title", "url", "source", "published_at", "topics", "text"} <= set(article)
    times = [a["published_at"] for a in articles]
    assert times == sorted(times, reverse=True)
    seed = next(a for a in articles if a["source"] == "desk")
    assert seed["topics"] == ["Vladimir Putin", "Ukraine", "Russia", "News"]
    assert "Advert" not in seed["text"].splitlines()
    wire = next(a for a in articles if a["title"] == "Zelensky visits the front")
    assert wire["text"] == "President Zelensky toured positions near the river."
    limited = json.loads(workspace.cli("articles", "--json", "--limit", "1", env=env).stdout)
    assert len(limited) == 1


def test_a_changed_fixture_updates_the_article_without_a_new_one(
    setup: tuple[Workspace, dict[str, str]],
    http_server: HttpServer,
) -> None:
    workspace, env = setup
    assert workspace.cli("run", "--once", env=env).returncode == 0
    seed = next(workspace.seeds.glob("*.txt"))
    seed.write_text(seed.read_text() + "\nA late paragraph.\n")
    assert workspace.cli("run", "--once", env=env).returncode == 0
    articles = json.loads(workspace.cli("articles", "--json", env=env).stdout)
    desk = [a for a in articles if a["source"] == "desk"]
    assert len(desk) == 1
    assert desk[0]["text"].endswith("A late paragraph.")
    assert len(http_server.received) == 3  # already alerted for both rules: no repeat


def test_failed_webhook_is_recorded_and_exit_code_is_1(
    setup: tuple[Workspace, dict[str, str]],
    http_server: HttpServer,
) -> None:
    workspace, env = setup
    http_server.post_status = 500
    result = workspace.cli("run", "--once", env=env)
    assert result.returncode == 1
    assert "HTTP 500" in result.stderr
    alerts = json.loads(workspace.cli("alerts", "--json", env=env).stdout)
    hooks = [a for a in alerts if a["channel"] == "newsroom"]
    assert {a["status"] for a in hooks} == {"failed"}
    assert all(a["attempts"] == 2 and a["last_error"] == "webhook newsroom: HTTP 500" for a in hooks)
    assert {a["status"] for a in alerts if a["channel"] == "desk-mail"} == {"sent"}


def test_bad_feed_does_not_stop_the_other_sources(
    setup: tuple[Workspace, dict[str, str]],
    http_server: HttpServer,
) -> None:
    workspace, env = setup
    http_server.routes["/rss.xml"] = Served(b"gone", status=404)
    result = workspace.cli("--log-format", "human", "run", "--once", env=env)
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr and "source=wire" in result.stderr
    articles = json.loads(workspace.cli("articles", "--json", env=env).stdout)
    assert [a["source"] for a in articles] == ["desk"]


def test_private_addresses_are_refused_unless_allowed(
    workspace: Workspace,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    webhook_secret: str,
) -> None:
    http_server.routes["/rss.xml"] = Served(RSS)
    workspace.write_config(
        CONFIG.format(
            allow="false",
            feed=http_server.url("/rss.xml"),
            hook=http_server.url("/hook"),
            smtp=smtp_server.port,
        )
    )
    result = workspace.cli("run", "--once", env={"NEWSWATCH_WEBHOOK_SECRET": webhook_secret})
    assert result.returncode == 1
    assert "resolves to non-public address 127.0.0.1" in result.stderr
    assert http_server.gets == []  # refused before any request left


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_polls_on_schedule_and_stops_cleanly_on_signal(
    setup: tuple[Workspace, dict[str, str]],
    http_server: HttpServer,
    sig: signal.Signals,
) -> None:
    workspace, env = setup
    import os

    process = subprocess.Popen(
        [sys.executable, "-m", "newswatch", "--config", str(workspace.config), "run"],
        env={**os.environ, **workspace.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(http_server.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(http_server.received) == 3, "the service did not poll and deliver in 30 s"
        process.send_signal(sig)
        _out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped" in err


def test_a_changed_fixture_alerts_again_only_for_a_rule_with_on_update(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    workspace.write_config(
        "sources:\n  - {name: desk, directory: ../seeds}\n"
        "channels:\n"
        f"  - name: newsroom\n    webhook: {http_server.url('/hook')}\n"
        "    secret: ${NEWSWATCH_WEBHOOK_SECRET}\n"
        "rules:\n"
        "  - {name: once, people: [Vladimir Putin], notify: [newsroom]}\n"
        "  - {name: follow, people: [Vladimir Putin], notify: [newsroom], on_update: true}\n"
    )
    env = {"NEWSWATCH_WEBHOOK_SECRET": webhook_secret}
    receiver = Webhook(webhook_secret)
    assert workspace.cli("run", "--once", env=env).returncode == 0
    first = {receiver.verify(r.body, r.headers)["data"]["rule"]: r for r in http_server.received}
    assert sorted(first) == ["follow", "once"]

    seed = next(workspace.seeds.glob("*.txt"))
    seed.write_text(seed.read_text() + "\nA late paragraph.\n")
    second = workspace.cli("run", "--once", env=env)
    assert second.returncode == 0, second.stderr
    assert len(http_server.received) == 3
    again = http_server.received[2]
    event = receiver.verify(again.body, again.headers)
    assert event["type"] == "article.matched"
    assert event["data"]["rule"] == "follow"
    assert event["data"]["article"]["text"].endswith("A late paragraph.")
    assert again.headers["webhook-id"] != first["follow"].headers["webhook-id"]
    alerts = json.loads(workspace.cli("alerts", "--json", env=env).stdout)
    assert len(alerts) == 2 and {a["status"] for a in alerts} == {"sent"}  # the same row, sent again

    third = workspace.cli("run", "--once", env=env)
    assert third.returncode == 0, third.stderr
    assert len(http_server.received) == 3


def test_names_as_long_as_the_config_allows_are_stored_on_each_backend(workspace: Workspace) -> None:
    # PostgreSQL refuses a name longer than its VARCHAR(200) column, so the config stops at 200.
    source, channel, rule = ("s" * 200, "c" * 200, "r" * 200)
    workspace.write_config(
        f"sources: [{{name: {source}, directory: ../seeds}}]\n"
        f"channels: [{{name: {channel}, console: true}}]\n"
        f"rules: [{{name: {rule}, people: [Vladimir Putin], notify: [{channel}], digest: hourly}}]\n"
    )
    clear_of_the_hour()  # the alert waits for the hour's digest
    result = workspace.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    [alert] = json.loads(workspace.cli("alerts", "--json").stdout)
    assert (alert["rule"], alert["channel"], alert["status"]) == (rule, channel, "pending")
    assert alert["batch"].startswith(f"rule:{rule}:hourly:")  # the digest it waits for
    [row] = json.loads(workspace.cli("sources", "--json").stdout)
    assert (row["name"], row["status"]) == (source, "ok")
