"""`newswatch articles --search` as a user runs it, on each backend: ranked rows with a snippet in the
table and in `--json`, the filters, and one clear line with exit code 2 for a search that cannot run."""

from __future__ import annotations

import json

import pytest

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


def test_search_prints_ranked_rows_with_snippets(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    assert workspace.cli("run", "--once").returncode == 0
    rows = json.loads(workspace.cli("articles", "--search", '"Lyse Doucet" -football', "--json").stdout)
    assert len(rows) == 1
    assert "**Lyse** **Doucet**" in rows[0]["snippet"] or "**Lyse Doucet**" in rows[0]["snippet"]
    assert "Zelenskyy" in rows[0]["title"] and rows[0]["source"] == "desk"

    table = workspace.cli("articles", "--search", "zelensk*", "--since", "3650d", "--rule", "kremlin-kyiv")
    assert table.returncode == 0, table.stderr
    header = [word for word in table.stdout.splitlines()[0].split() if word != "┃"]
    assert header == ["id", "published", "source", "title", "snippet"]
    assert "Zelenskyy" in table.stdout
    assert "\x1b[" not in table.stdout  # piped: plain text

    none = workspace.cli("articles", "--search", "quokka")
    assert none.returncode == 0 and "no stored article matches 'quokka'" in none.stdout
    assert json.loads(workspace.cli("articles", "--search", "putin", "--source", "desk", "--json").stdout)


def test_a_search_that_cannot_run_is_one_line_and_exit_2(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    for args, message in (
        (("--search", '"'), "has no word to look for"),
        (("--search=-putin",), "only excludes: add a word to look for"),
        (("--search", "p*"), "a prefix needs at least 2 letters"),
        (("--search", "putin", "--source", "nowhere"), "no source is named 'nowhere' (sources: desk)"),
        (("--search", "putin", "--rule", "nothing"), "no rule is named 'nothing' (rules: kremlin-kyiv)"),
        (("--search", "putin", "--since", "soon"), "--since"),
    ):
        result = workspace.cli("articles", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    hostile = workspace.cli("articles", "--search", "AND( NEAR ^x:*", "--json")
    assert hostile.returncode == 0, hostile.stderr
    assert json.loads(hostile.stdout) == []


@pytest.mark.empty_database
def test_articles_copied_by_migrate_from_are_found(workspace: Workspace) -> None:
    """`db migrate-from` copies the articles table row by row; the target's triggers index them."""
    workspace.write_config(CONFIG)
    old_db = workspace.root / "old.db"
    ran = workspace.cli("run", "--once", env={"NEWSWATCH_DATABASE_URL": f"sqlite:///{old_db}"})
    assert ran.returncode == 0, ran.stderr
    moved = workspace.cli("db", "migrate-from", f"sqlite:///{old_db}")
    assert moved.returncode == 0, moved.stderr
    rows = json.loads(workspace.cli("articles", "--search", '"Lyse Doucet"', "--json").stdout)
    assert [r["source"] for r in rows] == ["desk"]
