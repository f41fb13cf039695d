"""Hostile input, as a user meets it: each case goes through `newswatch run --once` on loopback, beside
a healthy feed whose alert must still reach a real webhook receiver. One source's bad answer, folder
or title fails that source alone (exit 1), with one clear line; a config that cannot work is refused
before anything runs (exit 2), by `check` and `run` in the same words.

Every test here runs on SQLite and on PostgreSQL (through the `workspace` fixture)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.version import __version__
from tests.conftest import SEED_FILE, HttpServer, Served, Workspace

HEALTHY_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Healthy</title>
<item><guid>h-1</guid><title>Vladimir Putin meets envoys in Minsk</title>
<link>http://healthy.example/1</link>
<description>The talks in Minsk lasted four hours and ended without a statement.</description></item>
</channel></rss>"""

CONFIG = """\
fetch:
  allow_private_addresses: {allow}
  timeout: 5s
  max_backoff: 2h
sources:
  - name: healthy
    feed: {healthy}
{extra}
channels:
  - name: newsroom
    webhook: {hook}
rules:
  - name: kremlin
    people: [Vladimir Putin]
    notify: [newsroom]
"""


def _config(server: HttpServer, extra: str, allow: str = "true") -> str:
    return CONFIG.format(
        allow=allow, healthy=server.url("/healthy.xml"), extra=extra, hook=server.url("/hook")
    )


def _delivered(server: HttpServer) -> list[dict[str, object]]:
    """The articles the webhook receiver got, in order."""
    events = [json.loads(r.body) for r in server.received if r.path == "/hook"]
    return [e["data"]["article"] for e in events if e["type"] == "article.matched"]


def _healthy_alerted(server: HttpServer) -> bool:
    return any(a["title"] == "Vladimir Putin meets envoys in Minsk" for a in _delivered(server))


def _sources(workspace: Workspace) -> dict[str, dict[str, object]]:
    listed = workspace.cli("sources", "--json")
    assert listed.returncode == 0, listed.stderr
    return {row["name"]: row for row in json.loads(listed.stdout)}


@pytest.fixture
def server(http_server: HttpServer) -> HttpServer:
    http_server.routes["/healthy.xml"] = Served(HEALTHY_RSS)
    return http_server


@pytest.mark.parametrize("retry_after", ["99999999999999999999", "1" * 5000, "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_past_every_bound_waits_max_backoff(
    workspace: Workspace, server: HttpServer, retry_after: str
) -> None:
    server.routes["/busy.xml"] = Served(b"", status=429, headers={"Retry-After": retry_after})
    extra = f"  - name: busy\n    feed: {server.url('/busy.xml')}\n"
    workspace.write_config(_config(server, extra))

    before = datetime.now(UTC)
    first = workspace.cli("run", "--once")
    after = datetime.now(UTC)
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr and "HTTP 429" in first.stderr
    assert _healthy_alerted(server)
    busy = _sources(workspace)["busy"]
    assert busy["status"] == "error" and busy["http_status"] == 429
    retry = datetime.fromisoformat(str(busy["retry_not_before"]))
    assert before + timedelta(hours=2) <= retry <= after + timedelta(hours=2)  # fetch.max_backoff

    gets = len([g for g in server.gets if g.path == "/busy.xml"])
    second = workspace.cli("run", "--once")
    assert second.returncode == 0, second.stderr  # busy waits its window; nothing failed
    assert len([g for g in server.gets if g.path == "/busy.xml"]) == gets


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://0177.0.0.1:{port}/feed.xml", "is not a URL that can be fetched: Invalid IPv4 address"),
        ("http://127.0.0.1:99999/feed.xml", "a port is 1 to 65535"),
        ("http://a..b:{port}/feed.xml", "is not a URL that can be fetched"),
    ],
)
def test_a_feed_url_httpx_would_refuse_is_refused_by_check_and_run_alike(
    workspace: Workspace, server: HttpServer, url: str, says: str
) -> None:
    extra = f"  - name: odd\n    feed: {url.format(port=server.port)}\n"
    workspace.write_config(_config(server, extra))
    check = workspace.cli("check")
    run = workspace.cli("run", "--once")
    assert check.returncode == run.returncode == 2
    assert check.stderr == run.stderr, (check.stderr, run.stderr)
    assert len(check.stderr.strip().splitlines()) == 1 and "Traceback" not in check.stderr
    assert "sources[1].feed (source 'odd')" in check.stderr and says in check.stderr
    assert not server.gets  # refused before anything was polled


@pytest.mark.parametrize(
    "location",
    ["http://0177.0.0.1:{port}/feed.xml", "http://a..b:{port}/feed.xml", "http://127.0.0.1:65536/feed.xml"],
)
def test_a_redirect_to_a_url_httpx_cannot_use_fails_that_source_alone(
    workspace: Workspace, server: HttpServer, location: str
) -> None:
    target = location.format(port=server.port)
    server.routes["/hop.xml"] = Served(b"", status=302, headers={"Location": target})
    extra = f"  - name: hop\n    feed: {server.url('/hop.xml')}\n"
    workspace.write_config(_config(server, extra))
    done = workspace.cli("run", "--once")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "poll failed" in done.stderr
    assert _healthy_alerted(server)
    hop = _sources(workspace)["hop"]
    assert hop["status"] == "error" and hop["failures"] == 1


def test_a_huge_or_multiline_title_is_one_line_capped_with_an_ellipsis(
    workspace: Workspace, server: HttpServer
) -> None:
    huge = "Vladimir Putin speaks: " + "and then more words " * 500_000  # 10 MB
    server.routes["/titles.xml"] = Served(
        (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            f"<item><guid>t-1</guid><title>{huge}</title><link>http://titles.example/1</link>"
            "<description>A speech that went on and on in the Kremlin hall.</description></item>"
            "<item><guid>t-2</guid><title>Vladimir Putin&#10;in Paris&#13;&#10;today</title>"
            "<link>http://titles.example/2</link>"
            "<description>A visit to Paris that nobody expected this week.</description></item>"
            "</channel></rss>"
        ).encode()
    )
    extra = f"  - name: titles\n    feed: {server.url('/titles.xml')}\n"
    workspace.write_config(_config(server, extra))
    done = workspace.cli("run", "--once")
    assert done.returncode == 0, done.stderr
    titles = {str(a["title"]) for a in _delivered(server)}
    assert "Vladimir Putin meets envoys in Minsk" in titles
    assert "Vladimir Putin in Paris today" in titles
    [long] = [t for t in titles if t.startswith("Vladimir Putin speaks:")]
    assert len(long) <= 1000 and long.endswith("…") and "\n" not in long

    stored = workspace.cli("articles", "--json")
    assert stored.returncode == 0, stored.stderr
    for article in json.loads(stored.stdout):
        assert len(article["title"]) <= 1000 and "\n" not in article["title"] and "\r" not in article["title"]


def test_a_changed_folder_starts_afresh(workspace: Workspace, server: HttpServer) -> None:
    missing = "  - name: desk\n    directory: ../not-there\n"
    workspace.write_config(_config(server, missing))
    check = workspace.cli("check")
    assert check.returncode == 2 and "source 'desk': folder " in check.stderr
    assert "not-there does not exist or is not a folder" in check.stderr
    first = workspace.cli("run", "--once")
    assert first.returncode == 1 and "not-there does not exist" in first.stderr
    assert _healthy_alerted(server)
    assert _sources(workspace)["desk"]["failures"] == 1

    workspace.write_config(_config(server, "  - name: desk\n    directory: ../seeds\n"))
    second = workspace.cli("run", "--once")
    assert second.returncode == 0, second.stderr
    assert "skipped" not in second.stderr  # the old folder's backoff does not apply to the new one
    desk = _sources(workspace)["desk"]
    assert desk["status"] == "ok" and desk["failures"] == 0 and desk["retry_not_before"] is None
    assert desk["articles_seen"] == 1


def test_private_addresses_allowed_by_a_list_and_nothing_else(
    workspace: Workspace, server: HttpServer
) -> None:
    other = HttpServer(host="127.0.0.2")  # loopback too, but not on the list
    try:
        other.routes["/feed.xml"] = Served(HEALTHY_RSS)
        server.routes["/hop.xml"] = Served(b"", status=302, headers={"Location": other.url("/feed.xml")})
        extra = f"  - name: hop\n    feed: {server.url('/hop.xml')}\n"
        workspace.write_config(_config(server, extra, allow="[127.0.0.1/32, intranet.example]"))
        done = workspace.cli("run", "--once")
        assert done.returncode == 1, done.stderr
        assert _healthy_alerted(server)  # 127.0.0.1 is on the list
        assert "127.0.0.2" in done.stderr and "non-public address" in done.stderr
        assert not other.gets  # the redirect was refused before connecting
        assert "Traceback" not in done.stderr
    finally:
        other.close()


def test_feed_requests_and_webhooks_say_they_are_newswatch(workspace: Workspace, server: HttpServer) -> None:
    workspace.write_config(_config(server, ""))
    done = workspace.cli("run", "--once")
    assert done.returncode == 0, done.stderr
    agent = f"Newswatch/{__version__}"
    [get] = [g for g in server.gets if g.path == "/healthy.xml"]
    [post] = [r for r in server.received if r.path == "/hook"]
    for request in (get, post):
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers["user-agent"].startswith(agent), request.headers


# --- folders that cannot be read: as root every folder is readable, so the command runs as nobody ---


@pytest.fixture
def nobody_workspace(workspace: Workspace, backend: str) -> Iterator[Workspace]:
    """A workspace in a folder `nobody` can use (pytest's own temporary folders are root's only)."""
    root = Path(tempfile.mkdtemp(prefix="newswatch-nobody-"))
    root.chmod(0o777)
    space = Workspace(root, dict(workspace.env))
    space.seeds.mkdir()
    space.seeds.chmod(0o755)
    shutil.copy(SEED_FILE, space.seeds / SEED_FILE.name)
    if backend == "sqlite":
        space.env["NEWSWATCH_DATABASE_URL"] = f"sqlite:///{root / 'newswatch.db'}"
    try:
        yield space
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _as_nobody(space: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    command += [sys.executable, "-m", "newswatch", "--config", str(space.config), *args]
    env = {**os.environ, **space.env, "HOME": str(space.root)}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=space.root)


@pytest.mark.parametrize("what", ["folder", "subfolder"])
def test_a_folder_that_cannot_be_read_fails_its_poll_and_check(
    nobody_workspace: Workspace, server: HttpServer, what: str
) -> None:
    space = nobody_workspace
    # The CPU stage in a thread: nobody cannot start this venv's interpreter again (it links into
    # root's home), which a process pool would need; the folder is what this test is about.
    config = _config(server, "  - name: desk\n    directory: ../seeds\n") + "pipeline: {workers: 0}\n"
    space.write_config(config)
    space.config.parent.chmod(0o755)
    locked = space.seeds if what == "folder" else space.seeds / "2026"
    locked.mkdir(exist_ok=True)
    (locked / "hidden-story.txt").write_text("Putin story\n\nIn a folder nobody may read.\n")
    locked.chmod(0o000)
    assert os.listdir(locked)  # root still reads it: only the unprivileged run meets the error

    done = _as_nobody(space, "run", "--once")
    assert done.returncode == 1, done.stderr
    assert f"cannot read folder {locked}: Permission denied" in done.stderr
    assert "Traceback" not in done.stderr
    assert _healthy_alerted(server)

    check = _as_nobody(space, "check")
    assert check.returncode == 2, check.stderr + check.stdout
    assert f"source 'desk': cannot read folder {locked}: Permission denied" in check.stderr
    assert "Traceback" not in check.stderr
