"""docs/quickstart.md works as printed: its config and commands, run by bash in a fresh folder against
a feed and a webhook receiver on loopback, deliver the alert.

The page marks what a reader types with HTML comments (invisible on the site) before each block:
`quickstart: install` (the install command: checked to be the README's, not run, since the test
environment is that install), `quickstart: file NAME` (a file to write), `quickstart: append NAME`
(the "feed on this machine" addition, which applies here) and `quickstart: run` (shell commands,
run in order in one bash). The only changes: the two placeholder URLs below become the loopback
feed and receiver, and `.venv/bin/newswatch` is a stand-in that runs the installed package."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from standardwebhooks import Webhook

from tests.conftest import ROOT, HttpServer, Served

PAGE = ROOT / "docs" / "quickstart.md"
FEED_PLACEHOLDER = "https://example.org/rss.xml"
WEBHOOK_PLACEHOLDER = "https://hooks.example.org/newswatch"
BLOCK = re.compile(r"<!-- quickstart: (\w+)(?: (\S+))? -->\n```\w*\n(.*?)```", re.S)

FEED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Local news</title><link>http://news.example/</link>
<item><guid>local-1</guid><title>Turnout is up in the local election</title>
<link>http://news.example/1</link>
<description>Officials said turnout in the election was the highest in twenty years.</description></item>
<item><guid>local-2</guid><title>New bakery opens on Main Street</title>
<link>http://news.example/2</link>
<description>The bakery sells bread, cakes and coffee from seven every morning.</description></item>
</channel></rss>"""


def _blocks() -> list[tuple[str, str | None, str]]:
    return [(kind, name, text) for kind, name, text in BLOCK.findall(PAGE.read_text(encoding="utf-8"))]


def test_the_quick_start_page_delivers_an_alert_to_a_webhook_as_printed(
    tmp_path: Path, http_server: HttpServer
) -> None:
    blocks = _blocks()
    kinds = [kind for kind, _, _ in blocks]
    assert kinds.count("install") == 1 and kinds.count("file") == 1 and kinds.count("run") >= 2, kinds

    # The install step is the README's set-up command (the demo one, before it runs the demo).
    install = next(text for kind, _, text in blocks if kind == "install").strip()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{install} && .venv/bin/newswatch run --once" in readme

    http_server.routes["/feed.xml"] = Served(FEED)
    urls = {FEED_PLACEHOLDER: http_server.url("/feed.xml"), WEBHOOK_PLACEHOLDER: http_server.url("/hook")}
    stand_in = tmp_path / ".venv" / "bin" / "newswatch"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m newswatch "$@"\n', encoding="utf-8")
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)

    script = ["set -euo pipefail"]
    for kind, name, text in blocks:
        for placeholder, url in urls.items():
            text = text.replace(placeholder, url)
        if kind == "file":
            assert name and len(text.splitlines()) <= 20, "the quick start's config is about 20 lines"
            assert FEED_PLACEHOLDER not in text and WEBHOOK_PLACEHOLDER not in text
            (tmp_path / name).write_text(text, encoding="utf-8")
        elif kind == "append":
            assert name and (tmp_path / name).exists(), "the page appends to a file it wrote before"
            with (tmp_path / name).open("a", encoding="utf-8") as file:
                file.write(text)
        elif kind == "run":
            script.append(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    assert "config OK: 1 sources, 1 channels, 1 rules" in done.stdout
    assert "test event delivered to my-webhook" in done.stdout
    secret = next(line for line in done.stdout.splitlines() if line.startswith("whsec_"))
    posts = [p for p in http_server.received if p.path == "/hook"]
    events = []
    for post in posts:  # every message signed with the secret the page made
        Webhook(secret).verify(post.body, post.headers)
        events.append(json.loads(post.body))
    assert [e["type"] for e in events] == ["newswatch.test", "article.matched"]
    alert = events[1]["data"]
    assert alert["rule"] == "my-topic"
    assert alert["article"]["title"] == "Turnout is up in the local election"  # not the bakery
    assert {hit["term"] for hit in alert["matched"]} == {"election"}
    # `alerts`, the page's last command, shows it sent.
    assert re.search(r"\bsent\b.*my-topic.*my-webhook", done.stdout)
