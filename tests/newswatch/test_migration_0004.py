"""Migration 0004 on a database that already holds articles: each becomes its own first sighting
(on SQLite and on PostgreSQL: the migrations run on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from core.db import MIGRATIONS, ArticleRow, Database, make_engine
from ingest.dedup import NearDuplicateIndex
from ingest.store import article_dict, load_index
from tests.conftest import SEED_FILE

# From an empty database, as a new install's (not a copy of one already at head: tests/conftest.py).
pytestmark = pytest.mark.empty_database

BODY = "\n".join(SEED_FILE.read_text(encoding="utf-8").splitlines()[1:-1])


def test_existing_articles_get_sightings_and_signatures(database_url: str) -> None:
    engine = make_engine(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.execute(
            text(
                "INSERT INTO articles (source, item_key, url, title, text, summary, topics, published_at,"
                " first_seen_at, updated_at, content_hash) VALUES ('desk', 'file:a.txt', NULL, 'T', :body,"
                " '', '[]', '2026-11-24 09:00:00', '2026-11-24 09:00:00', '2026-11-24 09:00:00', 'h')"
            ),
            {"body": BODY},
        )
    engine.dispose()

    db = Database(database_url)  # upgrades to head
    now = datetime(2026, 11, 25, tzinfo=UTC)
    with db.session() as session:
        index = load_index(session, NearDuplicateIndex(0.5, timedelta(days=7)), now)
        (row,) = session.query(ArticleRow).all()
        assert [(s["source"], s["how"]) for s in article_dict(row)["sources"]] == [("desk", "first")]
        assert row.signature is not None and row.text_hash is not None and row.html == ""
    assert len(index) == 1
    db.close()
