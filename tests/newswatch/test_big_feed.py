"""A feed of 100,000 items (issue 15, case 7) through `run --once`, beside a healthy source: the
fetch deadline covers only the network, `fetch.max_items` caps what is processed, and parsing has
its own budget, named in the error when it runs out."""

from __future__ import annotations

import json
import time

from tests.conftest import HttpServer, Served, Workspace, one_story_rss

CONFIG = """\
fetch: {{allow_private_addresses: true, timeout: 10s}}
pipeline: {{process_timeout: {budget}}}
sources:
  - name: huge
    feed: {huge}
  - name: wire
    feed: {wire}
channels:
  - name: hook
    webhook: {hook}
rules:
  - name: kremlin
    people: [Vladimir Putin]
    notify: [hook]
"""


def huge_feed(items: int) -> bytes:
    entries = "".join(
        f"<item><guid>h-{n}</guid><title>Item {n}</title><description>Short text {n}.</description></item>"
        for n in range(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>H</title>{entries}</channel></rss>'.encode()
    )


def _setup(workspace: Workspace, http_server: HttpServer, budget: str) -> None:
    http_server.routes["/huge"] = Served(huge_feed(100_000))
    http_server.routes["/wire"] = Served(one_story_rss("Vladimir Putin spoke on Monday."))
    workspace.write_config(
        CONFIG.format(
            budget=budget,
            huge=http_server.url("/huge"),
            wire=http_server.url("/wire"),
            hook=http_server.url("/hook"),
        )
    )


def _lines(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_a_100000_item_feed_is_capped_at_max_items_and_the_other_source_alerts(
    workspace: Workspace, http_server: HttpServer
) -> None:
    _setup(workspace, http_server, "120s")
    done = workspace.cli("run", "--once")
    assert done.returncode == 0, done.stderr
    assert "no complete answer" not in done.stderr
    lines = _lines(done.stderr)
    capped = [
        line for line in lines if line.get("source") == "huge" and "fetch.max_items" in str(line["message"])
    ]
    assert capped and "99000 items past fetch.max_items (1000)" in str(capped[0]["message"])
    polled = [
        line for line in lines if line.get("source") == "huge" and str(line["message"]).startswith("polled:")
    ]
    assert polled and "100000 items, 1000 new" in str(polled[0]["message"])
    assert [r.path for r in http_server.received] == ["/hook"]  # the healthy source's alert


def test_parsing_past_its_budget_fails_that_source_only_and_says_which_budget(
    workspace: Workspace, http_server: HttpServer
) -> None:
    _setup(workspace, http_server, "1s")
    began = time.monotonic()
    done = workspace.cli("run", "--once")
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - began < 60  # the budget, not the parse, decided
    errors = [line for line in _lines(done.stderr) if line["level"] == "error"]
    assert len(errors) == 1 and errors[0]["source"] == "huge"
    assert "parsing and cleaning took longer than 1s (pipeline.process_timeout)" in str(errors[0]["message"])
    assert "the feed was fetched in full" in str(errors[0]["message"])
    assert "Traceback" not in done.stderr
    assert [r.path for r in http_server.received] == ["/hook"]
