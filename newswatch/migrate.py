"""Schema upgrades on demand and copying an embedded SQLite database into PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, func, select, text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from core.db import Base, error_reason, make_engine, upgrade
from core.errors import ConfigError
from core.text import storable_text

BATCH = 1000
RUNTIME_ONLY = frozenset({"nodes"})  # tables `migrate-from` leaves out: a cluster's heartbeats

Progress = Callable[[str, int, int], None]  # (table, rows done, rows in all)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(url: str) -> str | None:
    """Run the migrations on `url` and return the revision it is now at."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        return current_revision(engine)
    finally:
        engine.dispose()


def migrate_from(source_url: str, target_url: str, progress: Progress) -> dict[str, int]:
    """Copy every table of the database at `source_url` into the (empty) one at `target_url`.

    Both are brought to the newest schema first; returns the rows copied per table.
    """
    if not source_url.startswith("sqlite"):
        raise ConfigError(f"db migrate-from: {source_url!r} is not an sqlite:/// URL")
    path = source_url.split(":///", 1)[-1]
    if not path or path.startswith(":memory:") or not Path(path).is_file():
        raise ConfigError(f"db migrate-from: no SQLite database at {path!r}")
    if target_url.split("?")[0] == source_url.split("?")[0]:
        raise ConfigError("db migrate-from: the source is the configured database itself")
    source, target = make_engine(source_url), make_engine(target_url)
    try:
        upgrade(source)
        upgrade(target)
        # Parents before children, so foreign keys hold; a cluster's heartbeat rows are not data.
        tables = [t for t in Base.metadata.sorted_tables if t.name not in RUNTIME_ONLY]
        with target.connect() as connection:
            filled = [
                t.name for t in tables if connection.execute(select(func.count()).select_from(t)).scalar()
            ]
        if filled:
            raise ConfigError(
                f"db migrate-from: the target database already holds data ({', '.join(filled)});"
                " point `database` at an empty one"
            )
        copied: dict[str, int] = {}
        with source.connect() as reading, target.begin() as writing:
            for table in tables:
                total = reading.execute(select(func.count()).select_from(table)).scalar_one()
                done = 0
                result = reading.execution_options(stream_results=True).execute(select(table))
                for batch in result.mappings().partitions(BATCH):
                    try:
                        writing.execute(table.insert(), [_storable(row, table.name) for row in batch])
                    except (DataError, IntegrityError) as exc:  # a row SQLite kept and the target refuses
                        reason = error_reason(exc)
                        raise ConfigError(f"db migrate-from: cannot copy {table.name}: {reason}") from None
                    done += len(batch)
                    progress(table.name, done, total)
                if total == 0:
                    progress(table.name, 0, 0)
                copied[table.name] = done
            if writing.dialect.name == "postgresql":
                _reset_sequences(writing)
        return copied
    except OperationalError as exc:
        raise ConfigError(f"db migrate-from: {error_reason(exc)}") from None
    finally:
        source.dispose()
        target.dispose()


def _storable(row: RowMapping, table: str) -> dict[str, Any]:
    """A row with its text as the target can store it (`storable_text`): items are parsed that way
    now, but an older SQLite database may hold NUL characters (in a GUID or a link). An alert's
    claim (left by a run that crashed mid-send) is not copied: it is due at once in the new home."""
    values = {key: storable_text(value) if isinstance(value, str) else value for key, value in row.items()}
    if table == "alerts":
        values.update(claimed_by=None, claimed_until=None)
    return values


def _reset_sequences(connection: Connection) -> None:
    """After inserting explicit ids, move each serial sequence past the largest id copied."""
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not column.autoincrement or column.type.python_type is not int:
                continue
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'),"
                    f" COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
                )
            )
