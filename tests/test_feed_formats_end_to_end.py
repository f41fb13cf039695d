"""Each feed named in issue 22, served on loopback and read by `newswatch run --once`, gives the
articles a newsroom expects in `newswatch articles --json` (titles, links, text, dates), on both
database backends."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.conftest import HttpServer, Served, Workspace
from tests.ingest.feeds import NAMED_CASES, NamedCase

CONFIG = """\
fetch:
  allow_private_addresses: true
sources:
  - name: wire
    feed: {feed}
"""


@pytest.mark.parametrize("case", NAMED_CASES, ids=[c.name for c in NAMED_CASES])
def test_named_feed_through_run_once(workspace: Workspace, http_server: HttpServer, case: NamedCase) -> None:
    http_server.routes["/feeds/main.xml"] = Served(case.body, content_type="application/xml")
    workspace.write_config(CONFIG.format(feed=http_server.url("/feeds/main.xml")))
    run = workspace.cli("run", "--once")
    assert run.returncode == 0, run.stderr
    listed = workspace.cli("articles", "--json")
    assert listed.returncode == 0, listed.stderr
    articles = {a["url"]: a for a in json.loads(listed.stdout)}
    assert sorted(articles) == sorted(case.urls)  # every item is an article of its own, at its link
    for index, url in enumerate(case.urls):
        article = articles[url]
        assert article["title"] == case.titles[index]
        if case.text:
            assert case.text[index] in article["text"]
        if case.published:
            when = case.published[index]
            assert when is not None and datetime.fromisoformat(article["published_at"]) == when
