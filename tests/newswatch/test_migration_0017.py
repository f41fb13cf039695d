"""Migration 0017 (apprise: the URLs that took an alert) goes down and up on each backend."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect

from core.db import MIGRATIONS, Database

# From an empty database, as a new install's (not a copy of one already at head: tests/conftest.py).
pytestmark = pytest.mark.empty_database


def test_migration_0017_goes_down_and_up(database_url: str) -> None:
    db = Database(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0019c")
        assert "delivered_to" not in {c["name"] for c in inspect(db.engine).get_columns("alerts")}
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        assert "delivered_to" in {c["name"] for c in inspect(db.engine).get_columns("alerts")}
    finally:
        db.close()
