"""CLI polish: tables for people, JSON for scripts, shell completion generated from the parser."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from alerts.delivery import DeliveryReport
from core import dates
from core.config import is_database_url
from newswatch.cli import build_parser, main
from newswatch.completion import script
from newswatch.service import PollOutcome, RunReport
from newswatch.summary import run_summary
from newswatch.tables import When, counters, print_table, progress
from tests.conftest import SEED_FILE, HttpServer, Served, Workspace, one_story_rss

CONFIG = """\
sources:
  - name: desk
    directory: ../seeds
channels:
  - name: terminal
    console: true
rules:
  - name: kremlin-kyiv
    people: [Vladimir Putin]
    notify: [terminal]
"""


def words(line: str) -> list[str]:
    """The words of a table line, without the column rules."""
    return [w for w in line.split() if w not in ("┃", "│")]


def test_articles_and_alerts_print_tables_and_keep_json(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    assert workspace.cli("run", "--once").returncode == 0
    wide = {"COLUMNS": "200"}
    table = workspace.cli("alerts", env=wide)
    assert table.returncode == 0
    header = words(table.stdout.splitlines()[0])
    assert header[:6] == ["id", "status", "rule", "channel", "attempts", "sent"]
    assert "sent" in table.stdout and "kremlin-kyiv" in table.stdout
    assert "(just now)" in table.stdout or "min ago)" in table.stdout  # room for how long ago
    articles = workspace.cli("articles", env=wide)
    assert words(articles.stdout.splitlines()[0])[:4] == ["id", "published", "source", "title"]
    rows = json.loads(workspace.cli("alerts", "--json").stdout)
    assert [(r["rule"], r["status"]) for r in rows] == [("kremlin-kyiv", "sent")]


def test_bash_completion_offers_commands_and_their_options(bare_workspace: Workspace) -> None:
    result = bare_workspace.cli("completion", "bash")
    assert result.returncode == 0

    def complete(*words: str) -> list[str]:
        line = " ".join(["newswatch", *words])
        probe = (
            f"{result.stdout}\nCOMP_WORDS=({line}); COMP_CWORD={len(words)}; "
            '_newswatch_complete; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert {"run", "check", "articles", "alerts", "reload", "completion"} <= set(complete(""))
    assert complete("ar") == ["articles"]
    assert set(complete("articles", "--")) >= {"--json", "--limit"}
    assert complete("run", "--o") == ["--once"]


def test_zsh_completion_uses_bashcompinit() -> None:
    text = script(build_parser(), "zsh")
    assert text.startswith("autoload -U +X bashcompinit && bashcompinit")


def test_sources_prints_a_table_and_keeps_json(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    assert workspace.cli("run", "--once").returncode == 0
    table = workspace.cli("sources", env={"COLUMNS": "250"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert words(lines[0])[:8] == ["name", "status", "http", "failures", "last", "poll", "last", "success"]
    assert any(words(line)[:1] == ["desk"] for line in lines[1:])
    rows = json.loads(workspace.cli("sources", "--json").stdout)
    assert [r["name"] for r in rows] == ["desk"]


def test_check_json_says_ok_and_counts(bare_workspace: Workspace) -> None:
    bare_workspace.write_config(CONFIG)
    result = bare_workspace.cli("check", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "ok": True,
        "sources": 1,
        "channels": 1,
        "rules": 1,
        "problems": [],
        "notes": [],
        "apprise": {},
    }
    bare_workspace.write_config(CONFIG + "    examples:\n      match: [nothing about him]\n")
    failed = bare_workspace.cli("check", "--json")
    assert failed.returncode == 2
    summary = json.loads(failed.stdout)
    assert summary["ok"] is False and "should match 'nothing about him'" in summary["problems"][0]


@pytest.mark.empty_database
def test_db_commands_print_json(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    upgraded = json.loads(workspace.cli("db", "upgrade", "--json").stdout)
    assert isinstance(upgraded["revision"], str) and upgraded["revision"]
    old_db = workspace.root / "old.db"  # an embedded database to copy into the test's database
    old = {"NEWSWATCH_DATABASE_URL": f"sqlite:///{old_db}"}
    assert workspace.cli("run", "--once", env=old).returncode == 0
    moved = workspace.cli("db", "migrate-from", f"sqlite:///{old_db}", "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["copied"]["articles"] == 1  # stdout is only the JSON
    assert "articles: 1/1" in moved.stderr  # not a terminal: plain progress lines, no bar


def test_alert_actions_and_import_print_json(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    assert workspace.cli("run", "--once").returncode == 0
    for args in (("alerts", "retry", "--dead", "--json"), ("alerts", "--json", "retry", "--dead")):
        retried = workspace.cli(*args)
        assert retried.returncode == 0, retried.stderr
        assert json.loads(retried.stdout) == {"ok": True, "queued": 0, "sent": 0, "failed": 0, "dead": 0}
    opml = workspace.config.parent / "feeds.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="Wire" xmlUrl="https://example.org/wire.xml"/></body></opml>'
    )
    imported = workspace.cli("sources", "import", str(opml), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {"imported": 1, "config": str(workspace.config)}
    again = json.loads(workspace.cli("sources", "import", str(opml), "--json").stdout)
    assert again["imported"] == 0


def test_rules_test_json_stays_clean_when_piped(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    assert workspace.cli("run", "--once").returncode == 0
    result = workspace.cli("rules", "test", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["hits"] == 1
    assert "replaying" not in result.stderr and "━" not in result.stderr


def test_progress_draws_on_a_terminal_and_stays_silent_otherwise() -> None:
    tty = Console(file=io.StringIO(), force_terminal=True, width=80)
    assert list(progress(range(3), 3, "replaying", out=tty)) == [0, 1, 2]
    assert "replaying" in tty.file.getvalue()  # type: ignore[attr-defined]
    piped = Console(file=io.StringIO(), force_terminal=False)
    assert list(progress(range(3), 3, "replaying", out=piped)) == [0, 1, 2]
    assert piped.file.getvalue() == ""  # type: ignore[attr-defined]


def test_counters_draw_bars_on_a_terminal_and_print_lines_otherwise() -> None:
    tty = Console(file=io.StringIO(), force_terminal=True, width=80)
    with counters(tty) as count:
        count("articles", 1, 2)
        count("articles", 2, 2)
    drawn = tty.file.getvalue()  # type: ignore[attr-defined]
    assert "articles" in drawn and "2/2" in drawn and "articles: 1/2" not in drawn
    piped = Console(file=io.StringIO(), force_terminal=False)
    with counters(piped) as count:
        count("articles", 1, 2)
        count("alerts", 0, 0)
    assert piped.file.getvalue() == "articles: 1/2\nalerts: 0/0\n"  # type: ignore[attr-defined]


# `newswatch ...` run in this process (`main`), as a user types it; start-up is tested apart.


@pytest.fixture
def newswatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """`newswatch(workspace, *args)`: `newswatch ARGS --config <the workspace's config>` in this
    process, on the workspace's database; returns (exit code, stdout, stderr). The console is 250
    columns wide (tables have room for "(5 min ago)"); the logging set-up `main` does is undone."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("newswatch", "ingest", "alerts")}
    monkeypatch.setenv("COLUMNS", "250")

    def run(workspace: Workspace, *args: str) -> tuple[int, str, str]:
        for key, value in workspace.env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main([*args, "--config", str(workspace.config)])
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The local time zone is Asia/Kolkata (UTC+5:30) for the test: local times differ from UTC."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield "Asia/Kolkata"
    monkeypatch.undo()
    time.tzset()


def test_global_options_work_after_the_command_as_before_it(
    bare_workspace: Workspace, newswatch: Callable[..., tuple[int, str, str]]
) -> None:
    bare_workspace.write_config(CONFIG)
    parse = build_parser().parse_args
    config = str(bare_workspace.config)
    for before, after in [
        (["-c", config, "check"], ["check", "-c", config]),
        (["--config", config, "db", "upgrade"], ["db", "upgrade", "--config", config]),
        (["-q", "--log-format", "json", "sources"], ["sources", "-q", "--log-format", "json"]),
        (["-c", config, "alerts", "retry", "--dead"], ["alerts", "retry", "--dead", "-c", config]),
    ]:
        assert vars(parse(before)) == vars(parse(after)), (before, after)
    assert parse(["-v", "run", "-v"]).verbose + parse(["-v", "run", "-v"]).verbose_after == 2
    assert parse(["-c", "a.yaml", "check", "-c", config]).config == config  # the later one counts
    code, out, err = newswatch(bare_workspace, "check")  # --config comes after the command
    assert (code, out) == (0, "config OK: 1 sources, 1 channels, 1 rules\n"), err


def test_start_up_imports_only_what_the_command_needs(bare_workspace: Workspace) -> None:
    # A fresh interpreter (this test process has imported everything already) runs each command
    # and names the heavy packages it loaded: none for --version and --help, and `check` of a config
    # without URLs opens no database and fetches nothing, so neither SQLAlchemy nor httpx.
    bare_workspace.write_config(CONFIG)
    heavy = ("sqlalchemy", "httpx", "pydantic", "rich", "numpy", "alerts", "ingest")
    probe = (
        "import sys, contextlib, io\n"
        "from newswatch.__main__ import run\n"
        "sys.argv = ['newswatch', *sys.argv[1:]]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        run()\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))\n"
    )

    def loaded(*args: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True, timeout=60
        )
        return list(json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')))

    assert loaded("--version") == []
    assert loaded("--help") == []
    assert loaded("check", "-c", str(bare_workspace.config)) == ["alerts", "ingest", "pydantic"]


@settings(max_examples=400, deadline=None)
@given(url=st.text(alphabet="ab:/@[]?+_ 1٥.%=&", max_size=25))
def test_the_configs_database_url_check_agrees_with_sqlalchemy(url: str) -> None:
    # `check` does not import SQLAlchemy to read the URL, but must refuse exactly what it refuses.
    try:
        make_url(url)
        readable = True
    except (ArgumentError, ValueError):
        readable = False
    assert is_database_url(url) is readable


def test_dates_are_local_minutes_on_a_terminal_and_utc_iso_for_scripts(zone: str) -> None:
    moment = datetime(2026, 12, 1, 6, 30, 59, tzinfo=UTC)
    assert dates.local(moment) == "2026-12-01 12:00"  # Kolkata is UTC+5:30
    assert dates.local("2026-12-01T06:30:59+00:00") == "2026-12-01 12:00"
    assert dates.local(None) == "-"
    assert dates.iso(moment) == "2026-12-01T06:30:59+00:00"
    assert dates.iso(datetime(2026, 12, 1, 12, 0, 59, tzinfo=ZoneInfo(zone))) == "2026-12-01T06:30:59+00:00"
    ago = [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=5, seconds=30), "5 min ago"),
        (timedelta(hours=3), "3 h ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=40), "40 days ago"),
        (timedelta(days=800), "2 years ago"),
        (-timedelta(seconds=20), "in under a minute"),
        (-timedelta(minutes=2), "in 2 min"),
    ]
    for before, said in ago:
        assert dates.ago(moment - before, moment) == said
    assert dates.local_and_ago(moment, moment + timedelta(minutes=5)) == "2026-12-01 12:00 (5 min ago)"


def test_a_table_adds_how_long_ago_only_where_it_has_room(zone: str) -> None:
    now = datetime(2026, 12, 1, 6, 35, tzinfo=UTC)
    rows = [("desk", When(now - timedelta(minutes=5)), When(None))]

    def table(width: int) -> str:
        buffer = io.StringIO()
        print_table(("name", "last poll", "next poll"), rows, out=Console(file=buffer, width=width), now=now)
        return buffer.getvalue()

    wide = table(120)
    assert "2026-12-01 12:00 (5 min ago)" in wide and words(wide.splitlines()[-1])[-1] == "-"
    narrow = table(34)
    assert "2026-12-01" in narrow and "ago" not in narrow


def test_a_narrow_table_leaves_out_its_optional_columns_and_folds_only_long_text(zone: str) -> None:
    now = datetime(2026, 12, 1, 6, 35, tzinfo=UTC)
    columns = ("name", "status", "last success", "url", "last error")
    rows = [("wire-desk", "error", When(now), "https://example.org/" + "x" * 40, "HTTP 404 Not Found " * 3)]

    def table(width: int) -> list[str]:
        buffer = io.StringIO()
        out = Console(file=buffer, width=width)
        print_table(columns, rows, out=out, now=now, optional=("url",))
        return buffer.getvalue().splitlines()

    wide = table(200)
    assert words(wide[0]) == ["name", "status", "last", "success", "url", "last", "error"]
    assert "2026-12-01 12:05 (just now)" in wide[2] and "https://example.org/" in wide[2]
    narrow = table(60)  # no room for how long ago, nor for the URL
    assert words(narrow[0]) == ["name", "status", "last", "success", "last", "error"]
    cells = [cell.strip() for cell in narrow[2].split("│")]
    assert cells[:3] == ["wire-desk", "error", "2026-12-01 12:05"]  # whole, on one line
    assert all(len(line) <= 60 for line in narrow) and len(narrow) > 3  # the error folds


def test_the_sources_table_shows_http_status_failures_and_last_success(
    workspace: Workspace, http_server: HttpServer, newswatch: Callable[..., tuple[int, str, str]], zone: str
) -> None:
    http_server.routes["/rss"] = Served(one_story_rss("Vladimir Putin spoke."))
    workspace.write_config(
        "fetch: {allow_private_addresses: true}\n"
        "sources:\n"
        f"  - {{name: wire, feed: '{http_server.url('/rss')}'}}\n"
        f"  - {{name: down, feed: '{http_server.url('/gone-missing')}'}}\n"
    )
    code, _, err = newswatch(workspace, "run", "--once")
    assert code == 1, err  # one source failed
    code, out, err = newswatch(workspace, "sources")
    assert code == 0, err
    _, listed, _ = newswatch(workspace, "sources", "--json")
    state = {row["name"]: row for row in json.loads(listed)}
    header, _rule, *lines = out.splitlines()
    assert [cell.strip() for cell in header.split("┃")][:7] == [
        "name", "status", "http", "failures", "last poll", "last success", "next poll"
    ]  # fmt: skip
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.split("│")] for line in lines)}
    down, wire = rows["down"], rows["wire"]
    assert down[:4] == ["down", "error", "404", "1"]
    assert down[4] == dates.local_and_ago(state["down"]["last_poll"])  # "2026-12-01 12:00 (just now)"
    assert down[5] == "-"  # never a success
    assert down[6].startswith(dates.local(state["down"]["next_poll"]) + " (in ")
    assert "HTTP 404" in down[-1]
    assert wire[:4] == ["wire", "ok", "200", "0"]
    assert wire[4] == wire[5] == dates.local_and_ago(state["wire"]["last_success"])


def test_run_once_ends_with_a_summary_that_points_to_the_alerts_when_nothing_is_new(
    workspace: Workspace, newswatch: Callable[..., tuple[int, str, str]], zone: str
) -> None:
    workspace.write_config(CONFIG)
    code, out, err = newswatch(workspace, "run", "--once")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-1] == (
        "polled 1 source, 0 failed; articles: 1 new, 0 updated, 0 duplicates merged;"
        " alerts: 1 sent, 0 pending"
    )
    # The console alert: the seed file's time in local minutes, each mention of Putin once.
    seed = datetime.fromtimestamp((workspace.seeds / SEED_FILE.name).stat().st_mtime, UTC)
    assert f"published: {dates.local(seed)}" in out
    [matched] = [line for line in lines if line.startswith("  matched: ")]
    assert (
        matched.count("'Vladimir Putin' in title") == 1 and "Putin (person 'Vladimir Putin' in text)" in out
    )
    code, out, err = newswatch(workspace, "run", "--once")
    assert code == 0, err
    _, listed, _ = newswatch(workspace, "alerts", "--json")
    [alert] = json.loads(listed)
    assert out.splitlines() == [
        "polled 1 source, 0 failed; articles: 0 new, 0 updated, 0 duplicates merged; alerts: 0 sent,"
        f" 0 pending. Nothing new: the last alert went out {dates.local(alert['sent_at'])} (just now);"
        " see `newswatch alerts`"
    ]


def test_the_run_summary_counts_what_failed_was_skipped_or_died() -> None:
    now = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    outcomes = (
        PollOutcome("wire", ok=True, items=3, new=2, updated=1, merged=1),
        PollOutcome("down", ok=False, error="HTTP 500"),
        PollOutcome("slow", ok=True, skipped="inside its retry window"),
    )
    busy = RunReport(outcomes, DeliveryReport(sent=2, failed=1, dead=1))
    assert run_summary(busy, pending=1, last_sent=now, now=now) == (
        "polled 2 of 3 sources, 1 failed; articles: 2 new, 1 updated, 1 duplicates merged;"
        " alerts: 2 sent, 1 pending, 1 dead"
    )
    quiet = RunReport((PollOutcome("wire", ok=True),), DeliveryReport())
    assert run_summary(quiet, pending=0, last_sent=None, now=now).endswith(
        "alerts: 0 sent, 0 pending. Nothing new, and no alert has gone out yet"
    )
