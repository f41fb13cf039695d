"""Migration 0011 on a database with articles signed by an older version: the old signatures (which
compare with nothing now) are dropped and recomputed for the window's articles at start; sightings
gain `containment` and `checked` (on SQLite and on PostgreSQL: the migrations run on both)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import select, text

from core.db import MIGRATIONS, ArticleRow, Database, SightingRow, make_engine
from ingest.dedup import NearDuplicateIndex, signature
from ingest.store import load_index
from tests.conftest import SEED_FILE

# From an empty database, as a new install's (not a copy of one already at head: tests/conftest.py).
pytestmark = pytest.mark.empty_database

BODY = "\n".join(SEED_FILE.read_text(encoding="utf-8").splitlines()[1:-1])
OLD = json.dumps(list(range(128)))  # an old signature: the same length, another algorithm


def test_old_signatures_are_recomputed_and_sightings_get_the_new_columns(database_url: str) -> None:
    engine = make_engine(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0010")
        for key, body in (("a", BODY), ("b", "Too short.")):
            connection.execute(
                text(
                    "INSERT INTO articles (source, item_key, url, title, text, summary, topics, published_at,"
                    " first_seen_at, updated_at, content_hash, text_hash, signature, html) VALUES"
                    " ('desk', :key, NULL, 'T', :body, '', '[]', '2026-11-24 09:00:00',"
                    " '2026-11-24 09:00:00', '2026-11-24 09:00:00', 'h', 'x', :sig, '')"
                ),
                {"key": key, "body": body, "sig": OLD if key == "a" else "null"},
            )
    engine.dispose()

    db = Database(database_url)  # upgrades to head
    now = datetime(2026, 11, 25, tzinfo=UTC)
    with db.session() as session:
        index = load_index(session, NearDuplicateIndex(0.5, timedelta(days=7)), now)
        rows = {row.item_key: row for row in session.scalars(select(ArticleRow))}
        assert rows["a"].signature == list(signature(BODY) or ())
        assert rows["b"].signature is None
        assert rows["a"].text_hash == "x"  # the exact level's fingerprint is kept
        assert session.scalars(select(SightingRow.containment, SightingRow.checked)).all() == []
        signed = rows["a"].id
    assert len(index) == 1 and signed in index
    with db.session() as session:  # the short text's JSON null is not SQL NULL: not signed again
        legacy = session.scalars(select(ArticleRow.id).where(ArticleRow.signature.is_(None))).all()
        assert legacy == []
    db.close()
