"""Migration 0013 (cluster nodes, alert claims) goes down and up on each backend and matches the model."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect

from core.db import MIGRATIONS, Database

# From an empty database, as a new install's (not a copy of one already at head: tests/conftest.py).
pytestmark = pytest.mark.empty_database


def test_migration_0013_goes_down_and_up_and_matches_the_model(database_url: str) -> None:
    db = Database(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0011")
        inspector = inspect(db.engine)
        assert "nodes" not in inspector.get_table_names()
        assert "claimed_by" not in {c["name"] for c in inspector.get_columns("alerts")}
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        inspector = inspect(db.engine)
        assert {c["name"] for c in inspector.get_columns("nodes")} == {
            "name",
            "role",
            "queues",
            "http",
            "started_at",
            "last_heartbeat",
            "state",
        }
        assert {"claimed_by", "claimed_until"} <= {c["name"] for c in inspector.get_columns("alerts")}
    finally:
        db.close()
