"""Migration 0016 (WebSub subscriptions) goes down and up on each backend and matches the model."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect

from core.db import MIGRATIONS, Database, WebSubRow

# From an empty database, as a new install's (not a copy of one already at head: tests/conftest.py).
pytestmark = pytest.mark.empty_database


def test_migration_0016_goes_down_and_up_and_matches_the_model(database_url: str) -> None:
    db = Database(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0014")
        assert "websub_subscriptions" not in inspect(db.engine).get_table_names()
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        inspector = inspect(db.engine)
        columns = {c["name"] for c in inspector.get_columns("websub_subscriptions")}
        assert columns == {c.name for c in WebSubRow.__table__.columns}
        assert inspector.get_pk_constraint("websub_subscriptions")["constrained_columns"] == ["token"]
        assert {i["name"] for i in inspector.get_indexes("websub_subscriptions")} == {"ix_websub_source"}
    finally:
        db.close()
