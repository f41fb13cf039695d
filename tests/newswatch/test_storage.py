"""Storage commands as a user runs them: `db upgrade` and `db migrate-from` into PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import Workspace, postgres_database

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
  - name: children-in-war
    topics: [UNICEF, refugees]
    notify: [terminal]
"""


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from newswatch.db import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_db_upgrade_creates_the_schema_on_each_database(workspace: Workspace, database_url: str) -> None:
    workspace.write_config(CONFIG)
    env = {"NEWSWATCH_DATABASE_URL": database_url}
    first = workspace.cli("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert f"database upgraded: at revision {_head_revision()}" in first.stdout
    again = workspace.cli("db", "upgrade", env=env)  # a second upgrade is a no-op, not an error
    assert again.returncode == 0, again.stderr
    listed = workspace.cli("articles", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_migrate_from_copies_sqlite_into_postgresql(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    assert workspace.cli("run", "--once").returncode == 0
    old_articles = json.loads(workspace.cli("articles", "--json").stdout)
    old_alerts = json.loads(workspace.cli("alerts", "--json").stdout)
    assert len(old_articles) == 1 and len(old_alerts) == 2
    old_db = workspace.config.parent / "newswatch.db"

    with postgres_database() as url:
        env = {"NEWSWATCH_DATABASE_URL": url}
        moved = workspace.cli("db", "migrate-from", f"sqlite:///{old_db}", env=env)
        assert moved.returncode == 0, moved.stderr
        assert "articles: 1/1" in moved.stderr  # progress, per table
        assert (
            "copied 1 articles, 0 channel_state, 1 source_health, 1 sources, 2 alerts, 1 sightings"
            in moved.stdout
        )
        assert json.loads(workspace.cli("articles", "--json", env=env).stdout) == old_articles
        assert json.loads(workspace.cli("alerts", "--json", env=env).stdout) == old_alerts

        # New rows get ids past the copied ones (the sequences were moved on).
        with psycopg.connect(_plain(url)) as connection:
            next_id = connection.execute("SELECT nextval(pg_get_serial_sequence('alerts', 'id'))").fetchone()
        assert next_id is not None and next_id[0] == max(a["id"] for a in old_alerts) + 1

        # A second copy into the now-filled database is refused, with the reason on one line.
        refused = workspace.cli("db", "migrate-from", f"sqlite:///{old_db}", env=env)
        assert refused.returncode == 2
        assert "already holds data (articles, source_health, sources, alerts, sightings)" in refused.stderr
        assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("sqlite:///{root}/missing.db", "no SQLite database at"),
        ("postgresql://postgres@127.0.0.1/test", "is not an sqlite:/// URL"),
    ],
)
def test_migrate_from_refuses_a_bad_source(workspace: Workspace, source: str, message: str) -> None:
    workspace.write_config(CONFIG)
    result = workspace.cli("db", "migrate-from", source.format(root=workspace.root))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def _start_run(workspace: Workspace, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "newswatch", "--config", str(workspace.config), "run"],
        env={**os.environ, **env},
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
def test_a_second_run_on_the_same_database_is_refused(
    workspace: Workspace, database_url: str, stop: signal.Signals
) -> None:
    workspace.write_config(CONFIG)
    env = {"NEWSWATCH_DATABASE_URL": database_url}
    first = _start_run(workspace, env)
    try:
        second = workspace.cli("run", "--once", env=env)
        assert second.returncode == 1
        assert "another `newswatch run` is already scheduling on this database" in second.stderr
        assert "Traceback" not in second.stderr
        assert "polled" not in second.stderr  # refused before it touched a source
    finally:
        first.send_signal(stop)
        first.communicate(timeout=15)
    # The lock goes with the process, even after SIGKILL: the next run may schedule.
    after = workspace.cli("run", "--once", env=env)
    assert after.returncode == 0, after.stderr


@pytest.mark.parametrize("args", [("run",), ("worker",)])
def test_distributed_mode_on_sqlite_is_a_config_error(workspace: Workspace, args: tuple[str, ...]) -> None:
    workspace.write_config("mode: distributed\n" + CONFIG)
    result = workspace.cli(*args)
    assert result.returncode == 2
    assert "distributed mode needs `database: postgresql+psycopg://...`" in result.stderr
    assert "Traceback" not in result.stderr
