"""The single-node guard: only one `newswatch run` schedules polls and deliveries on a database.

PostgreSQL: a session advisory lock held on a connection of its own for the life of the process.
SQLite: an exclusive `flock` on `<database file>.lock`. Both vanish with the process, even after
SIGKILL, so a crashed node never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from core.errors import NewswatchError

# pg_try_advisory_lock takes a bigint; this one is "newswatch" in ASCII, to stay out of others' way.
ADVISORY_KEY = 0x6E657773776174


class AlreadyRunning(NewswatchError):
    """Another single-node `newswatch run` already schedules on this database."""


@contextmanager
def single_node(engine: Engine) -> Iterator[None]:
    """Hold the database's scheduler lock while the block runs; raise AlreadyRunning if taken."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine):
            yield
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database.startswith(":memory:"):
        yield  # a private in-memory database cannot be shared
        return
    with _lock_file(Path(database + ".lock")):
        yield


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    connection = engine.connect()
    try:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
        connection.commit()
        if not taken:
            holder = connection.execute(
                text(
                    "SELECT a.pid, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND (l.classid::bigint << 32) | l.objid::bigint = :key"
                ),
                {"key": ADVISORY_KEY},
            ).first()
            connection.commit()
            where = f" (PostgreSQL backend pid {holder[0]}, client {holder[1] or 'local'})" if holder else ""
            raise AlreadyRunning(
                f"another `newswatch run` is already scheduling on this database{where}; stop it first"
            )
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            connection.commit()
    finally:
        connection.close()


@contextmanager
def _lock_file(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
            where = f" (pid {holder})" if holder.isdigit() else ""
            raise AlreadyRunning(
                f"another `newswatch run` is already scheduling on this database{where}; stop it first"
                f" (lock file {path})"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing drops the flock
