"""Storage commands as a user runs them, on each backend: `db upgrade`, `db migrate-from` (an SQLite
file into the configured database) and the one-scheduler-per-database guard."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

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
  - name: children-in-war
    topics: [UNICEF, refugees]
    notify: [terminal]
"""

# A different story from the seed (not a near-duplicate of it), about Putin.
SECOND_STORY = (
    "Putin opens a grain terminal\nVladimir Putin opened a grain terminal on the Black Sea coast"
    " on Tuesday, promising exporters lower port fees.\nFarmers in the region said prices for"
    " wheat had fallen for the third month in a row.\nTopics: Russia, Trade\n"
)


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from core.db import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


@pytest.mark.empty_database
def test_db_upgrade_creates_the_schema_on_each_database(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    first = workspace.cli("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert f"database upgraded: at revision {_head_revision()}" in first.stdout
    again = workspace.cli("db", "upgrade")  # a second upgrade is a no-op, not an error
    assert again.returncode == 0, again.stderr
    listed = workspace.cli("articles", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


@pytest.mark.empty_database
def test_migrate_from_copies_an_sqlite_file_into_the_configured_database(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    old_db = workspace.root / "old.db"
    old = {"NEWSWATCH_DATABASE_URL": f"sqlite:///{old_db}"}
    assert workspace.cli("run", "--once", env=old).returncode == 0
    old_articles = json.loads(workspace.cli("articles", "--json", env=old).stdout)
    old_alerts = json.loads(workspace.cli("alerts", "--json", env=old).stdout)
    assert len(old_articles) == 1 and len(old_alerts) == 2

    moved = workspace.cli("db", "migrate-from", f"sqlite:///{old_db}")
    assert moved.returncode == 0, moved.stderr
    assert "articles: 1/1" in moved.stderr  # progress, per table
    assert (
        "copied 1 articles, 0 channel_state, 1 polls, 1 source_health, 1 sources, 0 websub_subscriptions,"
        " 2 alerts, 1 sightings, 2 delivery_attempts" in moved.stdout
    )
    assert json.loads(workspace.cli("articles", "--json").stdout) == old_articles
    assert json.loads(workspace.cli("alerts", "--json").stdout) == old_alerts

    # New rows get ids past the copied ones (on PostgreSQL: the sequences were moved on).
    (workspace.seeds / "second.txt").write_text(SECOND_STORY, encoding="utf-8")
    after = workspace.cli("run", "--once")
    assert after.returncode == 0, after.stderr
    articles = json.loads(workspace.cli("articles", "--json").stdout)
    alerts = json.loads(workspace.cli("alerts", "--json").stdout)
    assert sorted(a["id"] for a in articles) == [old_articles[0]["id"], old_articles[0]["id"] + 1]
    new_alerts = [a for a in alerts if a["id"] not in {old["id"] for old in old_alerts}]
    assert [a["rule"] for a in new_alerts] == ["kremlin-kyiv"]
    assert new_alerts[0]["id"] == max(a["id"] for a in old_alerts) + 1

    # A second copy into the now-filled database is refused, with the reason on one line.
    refused = workspace.cli("db", "migrate-from", f"sqlite:///{old_db}")
    assert refused.returncode == 2
    assert (
        "already holds data (articles, polls, source_health, sources, alerts, sightings, delivery_attempts)"
        in refused.stderr
    )
    assert "Traceback" not in refused.stderr


def _old_database(workspace: Workspace, *statements: str) -> Path:
    """An SQLite file with the seed article stored, then changed by `statements` (as an older
    Newswatch, or SQLite's leniency, could have left it)."""
    old_db = workspace.root / "old.db"
    assert (
        workspace.cli("run", "--once", env={"NEWSWATCH_DATABASE_URL": f"sqlite:///{old_db}"}).returncode == 0
    )
    with sqlite3.connect(old_db) as connection:
        for statement in statements:
            connection.execute(statement)
    return old_db


@pytest.mark.empty_database
def test_migrate_from_drops_nul_characters_an_older_database_holds(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    old_db = _old_database(
        workspace,
        "UPDATE sightings SET item_key = item_key || char(0)",
        "UPDATE articles SET title = 'Putin' || char(0) || ' speaks'",
    )
    moved = workspace.cli("db", "migrate-from", f"sqlite:///{old_db}")
    assert moved.returncode == 0, moved.stderr
    [article] = json.loads(workspace.cli("articles", "--json").stdout)
    assert article["title"] == "Putin speaks"
    again = workspace.cli("run", "--once")  # the item's key is the clean one: seen, unchanged
    assert again.returncode == 0, again.stderr
    assert len(json.loads(workspace.cli("articles", "--json").stdout)) == 1


@pytest.mark.only_backend("postgresql", reason="SQLite keeps a value longer than its column")
@pytest.mark.empty_database
def test_migrate_from_a_row_the_target_refuses_is_one_line_and_copies_nothing(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    old_db = _old_database(workspace, f"UPDATE sources SET name = '{'s' * 250}'")
    refused = workspace.cli("db", "migrate-from", f"sqlite:///{old_db}")
    assert refused.returncode == 2
    assert (
        "newswatch: db migrate-from: cannot copy sources: value too long for type character varying(200)"
        in (refused.stderr)
    )
    assert "Traceback" not in refused.stderr
    assert json.loads(workspace.cli("articles", "--json").stdout) == []  # one transaction: rolled back


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("sqlite:///{root}/missing.db", "no SQLite database at"),
        ("postgresql://postgres@127.0.0.1/test", "is not an sqlite:/// URL"),
    ],
)
def test_migrate_from_refuses_a_bad_source(bare_workspace: Workspace, source: str, message: str) -> None:
    bare_workspace.write_config(CONFIG)  # refused before the configured database is opened
    result = bare_workspace.cli("db", "migrate-from", source.format(root=bare_workspace.root))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def _start_run(workspace: Workspace) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "newswatch", "--config", str(workspace.config), "run"],
        env={**os.environ, **workspace.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait until it holds the lock and has scheduled
        if "running:" in line:
            return process
    process.kill()
    raise AssertionError(f"newswatch run did not start: {process.communicate()}")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_second_run_on_the_same_database_is_refused(workspace: Workspace, stop: signal.Signals) -> None:
    workspace.write_config(CONFIG)
    first = _start_run(workspace)
    try:
        second = workspace.cli("run", "--once")
        assert second.returncode == 1
        assert "another `newswatch run` is already scheduling on this database" in second.stderr
        assert "Traceback" not in second.stderr
        assert "polled" not in second.stderr  # refused before it touched a source
    finally:
        first.send_signal(stop)
        first.communicate(timeout=15)
    # The lock goes with the process, even after SIGKILL: the next run may schedule.
    after = workspace.cli("run", "--once")
    assert after.returncode == 0, after.stderr


@pytest.mark.only_backend("sqlite", reason="about SQLite: distributed mode refuses it")
@pytest.mark.parametrize("args", [("run",), ("worker",)])
def test_distributed_mode_on_sqlite_is_a_config_error(workspace: Workspace, args: tuple[str, ...]) -> None:
    workspace.write_config("mode: distributed\n" + CONFIG)
    result = workspace.cli(*args)
    assert result.returncode == 2
    assert "distributed mode needs `database: postgresql+psycopg://...`" in result.stderr
    assert "Traceback" not in result.stderr
