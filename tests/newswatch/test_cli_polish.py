"""CLI polish: tables for people, JSON for scripts, shell completion generated from the parser."""

from __future__ import annotations

import json
import subprocess

from newswatch.cli import build_parser
from newswatch.completion import script
from tests.conftest import Workspace

CONFIG = """\
database: sqlite:///newswatch.db
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


def test_bash_completion_offers_commands_and_their_options(workspace: Workspace) -> None:
    result = workspace.cli("completion", "bash")
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
