"""Migration 0014 (full text) on a database with articles from before it: they read as `feed`, with no
page error and no author; it goes down and up again (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect, select, text

from core.db import MIGRATIONS, ArticleRow, Database, make_engine
from ingest.store import article_dict

# From an empty database, as a new install's (not a copy of one already at head: tests/conftest.py).
pytestmark = pytest.mark.empty_database

COLUMNS = {"text_source", "page_error", "author"}


def _alembic(connection: object) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def test_articles_from_before_it_come_from_the_feed(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(_alembic(connection), "0017")
        connection.execute(
            text(
                "INSERT INTO articles (source, item_key, url, title, text, summary, topics, published_at,"
                " first_seen_at, updated_at, content_hash, text_hash, signature, html) VALUES"
                " ('wire', 'k-1', 'https://wire.example/1', 'T', 'Body.', '', '[]', '2026-11-24 09:00:00',"
                " '2026-11-24 09:00:00', '2026-11-24 09:00:00', 'h', 'x', NULL, '')"
            )
        )
    engine.dispose()

    db = Database(database_url)  # upgrades to head
    try:
        with db.session() as session:
            [row] = session.scalars(select(ArticleRow)).all()
            shown = article_dict(row)
        assert (shown["text_source"], shown["page_error"], shown["author"]) == ("feed", None, None)

        with db.engine.begin() as connection:
            command.downgrade(_alembic(connection), "0017")
        assert not COLUMNS & {c["name"] for c in inspect(db.engine).get_columns("articles")}
        with db.engine.begin() as connection:
            command.upgrade(_alembic(connection), "head")
        assert {c["name"] for c in inspect(db.engine).get_columns("articles")} >= COLUMNS
        with db.session() as session:
            assert session.scalars(select(ArticleRow.text_source)).all() == ["feed"]
    finally:
        db.close()
