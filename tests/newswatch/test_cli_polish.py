"""CLI polish: tables for people, JSON for scripts, shell completion generated from the parser."""

from __future__ import annotations

import io
import json
import subprocess

from rich.console import Console

from newswatch.cli import build_parser
from newswatch.completion import script
from newswatch.tables import counters, progress
from tests.conftest import Workspace

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
    table = workspace.cli("alerts")
    assert table.returncode == 0
    header = words(table.stdout.splitlines()[0])
    assert header[:5] == ["id", "status", "rule", "channel", "attempts"]
    assert "sent" in table.stdout and "kremlin-kyiv" in table.stdout
    articles = workspace.cli("articles")
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
    table = workspace.cli("sources")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert words(lines[0])[:4] == ["name", "status", "last", "poll"]
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
