"""Migration 0015 (the search index) on a database with articles stored before it, on each backend:
the index is built for them, goes down and up again, and shows a progress bar on a terminal only."""

from __future__ import annotations

import json
import logging
import os
import pty
import select
import subprocess
import sys
import time
import uuid

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from core.db import MIGRATIONS, Database, make_engine
from ingest.search import marked, search_articles
from tests.conftest import Workspace

# From an empty database, as a new install's (not a copy of one already at head: tests/conftest.py).
pytestmark = pytest.mark.empty_database

OLD = [
    ("a", "Путин в Кремле", "Владимир Путин заявил, что Лёша прав."),
    ("b", "Café society", "The café in Łódź reopened after the Straße was rebuilt."),
    ("c", "Prime minister visits Kyiv", "The prime minister met Zelenskyy in Kyiv on Monday."),
]


def _before() -> str:
    """The revision 0015 follows (whatever it is chained after)."""
    before = ScriptDirectory(str(MIGRATIONS)).get_revision("0015").down_revision
    assert isinstance(before, str)
    return before


def _before_the_index(url: str, articles: list[tuple[str, str, str]]) -> None:
    """A database at the revision before the index holding `articles` as (key, title, text)."""
    engine = make_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, _before())
        connection.execute(
            text(
                "INSERT INTO articles (source, item_key, url, title, text, summary, topics, published_at,"
                " first_seen_at, updated_at, content_hash, html) VALUES ('desk', :key, NULL, :title, :text,"
                " '', '[]', '2026-11-24 09:00:00', '2026-11-24 09:00:00', '2026-11-24 09:00:00', 'h', '')"
            ),
            [{"key": key, "title": title, "text": body} for key, title, body in articles],
        )
    engine.dispose()


def _found(db: Database, query: str) -> list[str]:
    with db.session() as session:
        return sorted(hit.article.item_key for hit in search_articles(session, query))


def test_articles_stored_before_the_index_are_found_after_it(database_url: str) -> None:
    _before_the_index(database_url, OLD)
    db = Database(database_url)  # upgrades to head: builds the index
    try:
        assert _found(db, "путин") == ["a"]
        assert _found(db, "леша") == ["a"]
        assert _found(db, "cafe lodz strasse") == ["b"]
        assert _found(db, '"prime minister" -moscow') == ["c"]
        with db.session() as session:
            (hit,) = search_articles(session, "zelenskyy")
        assert "**Zelenskyy**" in marked(hit.snippet)

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, _before())
        tables = inspect(db.engine).get_table_names()
        assert "articles_fts" not in tables and "article_search" not in tables
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        assert _found(db, "путин") == ["a"]
        assert _found(db, "kyiv") == ["c"]
    finally:
        db.close()


CONFIG = """\
sources:
  - name: desk
    directory: ../seeds
"""


def _on_a_terminal(workspace: Workspace, *args: str, timeout: float = 120) -> tuple[int, str]:
    """Run `newswatch ARGS` with its standard error on a pseudo-terminal; (exit code, what it drew)."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "newswatch", "--config", str(workspace.config), *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, **workspace.env, "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        elif child.poll() is not None:
            break
    os.close(leader)
    return child.wait(timeout=30), drawn.decode("utf-8", "replace")


def test_the_backfill_shows_a_progress_bar_on_a_terminal_only(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    many = [(f"k{n}", f"Story {n}", f"Body of story {n} about harbours and grain.") for n in range(4500)]
    _before_the_index(workspace.env["NEWSWATCH_DATABASE_URL"], many)
    code, drawn = _on_a_terminal(workspace, "db", "upgrade")
    assert code == 0, drawn
    assert "building the search index" in drawn
    assert "/4500" in drawn  # the bar counts articles
    listed = workspace.cli("articles", "--search", "harbours", "--limit", "3", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 3


def test_the_backfill_draws_nothing_when_not_on_a_terminal(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    _before_the_index(workspace.env["NEWSWATCH_DATABASE_URL"], OLD)
    upgraded = workspace.cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "building the search index" not in upgraded.stderr
    assert "\x1b[" not in upgraded.stderr


@pytest.mark.only_backend("postgresql", reason="the unaccent extension is PostgreSQL's")
def test_without_unaccent_the_migration_warns_and_search_still_works(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A user who may not create extensions (not the database's owner): the migration logs why
    accents are not folded, and everything else about search works."""
    import psycopg

    from tests.conftest import POSTGRES_ADMIN_URL, postgres_database

    role = f"nw_limited_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        with postgres_database() as url:
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as owner:
                owner.execute(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"')
            limited = url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://{role}@")
            assert limited.endswith(name) and role in limited
            with caplog.at_level(logging.WARNING, logger="newswatch.migrate"):
                db = Database(limited)
            try:
                assert "search on this database does not fold accents" in caplog.text
                with db.session() as session:
                    session.execute(
                        text(
                            "INSERT INTO articles (source, item_key, title, text, summary, topics,"
                            " published_at, first_seen_at, updated_at, content_hash, html) VALUES"
                            " ('desk', 'a', 'Путин в Кремле', 'Владимир Путин ел в café Lyon.', '', '[]',"
                            " now(), now(), now(), 'h', '')"
                        )
                    )
                assert _found(db, "путин") == ["a"]
                assert _found(db, '"владимир путин" -moscow') == ["a"]
                assert _found(db, "café") == ["a"]
                assert _found(db, "cafe") == []  # what the warning says
            finally:
                db.close()
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')
