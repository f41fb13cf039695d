"""End to end: one story from a fixture and two feeds -> one article, three sightings, one alert per rule."""

from __future__ import annotations

import html
import json

from standardwebhooks.webhooks import Webhook

from tests.conftest import SEED_FILE, HttpServer, Served, Workspace

SEED_LINES = SEED_FILE.read_text(encoding="utf-8").strip().splitlines()


def _rss(items: list[tuple[str, str, str]]) -> bytes:
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{html.escape(SEED_LINES[0])}</title><link>{link}</link>"
        f"<pubDate>Tue, 24 Nov 2026 09:30:00 GMT</pubDate>"
        f"<description>{html.escape(body)}</description></item>"
        for guid, link, body in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>http://wire.example/</link>{entries}</channel></rss>"
    ).encode()


def _copy(reword: str, drop: int, footer: str) -> str:
    body = [line for line in SEED_LINES[1:-1] if line != "Advert"]
    body[1] = reword
    del body[drop]
    return "".join(f"<p>{line}</p>" for line in body) + f"<div class='ad-slot'>Ad</div><p>{footer}</p>"


CONFIG = """\
fetch:
  allow_private_addresses: true
dedup:
  threshold: 0.5
  window: 7d
sources:
  - name: desk
    directory: ../seeds
  - name: wire
    feed: {wire}
  - name: paper
    feed: {paper}
channels:
  - name: newsroom
    webhook: {hook}
    secret: ${{NEWSWATCH_WEBHOOK_SECRET}}
rules:
  - name: kremlin-kyiv
    people: [Vladimir Putin, Volodymyr Zelenskyy]
    notify: [newsroom]
  - name: children-in-war
    topics: [UNICEF]
    notify: [newsroom]
"""


def test_one_story_from_three_sources_is_one_article_and_one_alert_per_rule(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    wire = _copy("In the clip, Zelenskyy called the talk one people wait for.", 5, "Reporting by Wire.")
    paper = _copy("Zelenskyy said in a video that people are waiting for the conversation.", 8, "© Paper")
    http_server.routes["/wire.xml"] = Served(
        _rss([("wire-1", "http://wire.example/a/1?utm_source=rss", wire)])
    )
    http_server.routes["/paper.xml"] = Served(_rss([("p-9", "http://paper.example/story#top", paper)]))
    workspace.write_config(
        CONFIG.format(
            wire=http_server.url("/wire.xml"),
            paper=http_server.url("/paper.xml"),
            hook=http_server.url("/hook"),
        )
    )
    env = {"NEWSWATCH_WEBHOOK_SECRET": webhook_secret}
    for _ in range(2):  # a second run (a restart: the index is rebuilt from the database) adds nothing
        run = workspace.cli("run", "--once", env=env)
        assert run.returncode == 0, run.stderr

    articles = json.loads(workspace.cli("articles", "--json", env=env).stdout)
    assert len(articles) == 1
    (article,) = articles
    sightings = sorted((s["source"], s["url"]) for s in article["sources"])
    assert sightings == [
        ("desk", None),
        ("paper", "http://paper.example/story"),
        ("wire", "http://wire.example/a/1"),
    ]
    assert sorted(s["how"] for s in article["sources"])[1:] == ["near", "near"]

    receiver = Webhook(webhook_secret)
    events = [receiver.verify(r.body, r.headers) for r in http_server.received]
    assert sorted(e["data"]["rule"] for e in events) == ["children-in-war", "kremlin-kyiv"]
    assert {e["data"]["article"]["id"] for e in events} == {article["id"]}
