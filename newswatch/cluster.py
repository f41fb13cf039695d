"""What a distributed node tells the others: its heartbeat row in `nodes`, and the scheduler lock.

Every `run --distributed` and `worker` node writes its row every HEARTBEAT_EVERY (role, queues,
where it serves http, state); the status page of any node lists them all. Only one
`run --distributed` node schedules: it holds a PostgreSQL session advisory lock on a connection
of its own and checks that connection every LOCK_CHECK_EVERY (a lost connection is a lost lock:
the node stops, and its supervisor restarts it as a standby). A second one waits as a standby,
trying the lock every LOCK_CHECK_EVERY; the lock dies with its holder's connection, so after a
kill -9 the standby takes over within a couple of seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SQLAlchemyError

from core.db import Database, NodeRow, SourceState, utcnow

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 2.0  # seconds
SILENT_AFTER = timedelta(seconds=15)  # a node not heard from for this long is shown as silent
LOCK_CHECK_EVERY = 1.0  # seconds: the standby's tries, the holder's checks of its lock connection
# pg_try_advisory_lock takes a bigint: "nwsched" in ASCII (the single-node guard uses another key).
SCHEDULER_LOCK = 0x6E777363686564
# Server-side TCP keepalives for the lock's connection: a holder whose machine vanished (no FIN)
# loses the lock after about 5 + 2 x 3 s instead of the system's default two hours.
_KEEPALIVES = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
)


@dataclass
class NodeInfo:
    """This node, as its heartbeat row describes it."""

    name: str
    role: str  # scheduler, worker
    queues: tuple[str, ...]
    http: str | None = None
    state: str = "starting"  # starting, standby, running, stopped
    started_at: datetime = field(default_factory=utcnow)


def beat(db: Database, node: NodeInfo, now: datetime | None = None) -> None:
    """Write this node's row (insert or refresh)."""
    now = now or utcnow()
    values = {
        "name": node.name,
        "role": node.role,
        "queues": ",".join(node.queues),
        "http": node.http,
        "started_at": node.started_at,
        "last_heartbeat": now,
        "state": node.state,
    }
    statement = postgresql.insert(NodeRow).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={k: statement.excluded[k] for k in ("http", "last_heartbeat", "state", "queues", "role")},
    )
    with db.session() as session:
        session.execute(statement)


def forget_stopped(db: Database, older_than: timedelta = timedelta(days=1)) -> None:
    """Drop rows of nodes not heard from for a day (each restart is a new name)."""
    from sqlalchemy import delete

    with db.session() as session:
        session.execute(delete(NodeRow).where(NodeRow.last_heartbeat < utcnow() - older_than))


async def heartbeat(db: Database, node: NodeInfo, every: float = HEARTBEAT_EVERY) -> None:
    """Beat until cancelled; a failed beat is logged and the next one tries again."""
    while True:
        try:
            await asyncio.to_thread(beat, db, node)
        except Exception as exc:  # noqa: BLE001 - the database may be away a moment; /readyz says so
            log.warning("heartbeat not written: %s", " ".join(str(exc).split()))
        await asyncio.sleep(every)


def stopped(db: Database, node: NodeInfo) -> None:
    """Record that this node stopped cleanly (best effort)."""
    node.state = "stopped"
    try:
        beat(db, node)
    except Exception:  # shutting down
        log.debug("could not record the stop", exc_info=True)


@dataclass(frozen=True)
class NodeView:
    """One row of the status page's node table."""

    name: str
    role: str
    queues: str
    http: str | None
    started_at: str
    last_heartbeat: str
    seconds_ago: float
    state: str  # as written, or "silent" when not heard from for SILENT_AFTER


def nodes(db: Database, now: datetime | None = None) -> list[NodeView]:
    """Every node that wrote a heartbeat, newest start first."""
    now = now or utcnow()
    with db.session() as session:
        rows = session.scalars(select(NodeRow).order_by(NodeRow.started_at.desc(), NodeRow.name)).all()
        views = []
        for row in rows:
            ago = max((now - row.last_heartbeat).total_seconds(), 0.0)
            silent = row.state != "stopped" and now - row.last_heartbeat > SILENT_AFTER
            views.append(
                NodeView(
                    row.name,
                    row.role,
                    row.queues,
                    row.http,
                    row.started_at.isoformat(timespec="seconds"),
                    row.last_heartbeat.isoformat(timespec="seconds"),
                    round(ago, 1),
                    "silent" if silent else row.state,
                )
            )
    return views


def next_polls(db: Database) -> dict[str, datetime]:
    """When the cluster next polls each source: the `next_poll_at` its claims move on."""
    with db.session() as session:
        rows = session.execute(
            select(SourceState.name, SourceState.next_poll_at).where(SourceState.next_poll_at.is_not(None))
        ).all()
    return {name: at for name, at in rows if at is not None}


def worker_alive(db: Database, worker_id: int | None, within: float) -> bool:
    """True when procrastinate's worker `worker_id` beat within `within` seconds."""
    if worker_id is None:
        return False
    with db.session() as session:
        fresh = session.execute(
            text(
                "SELECT last_heartbeat > now() - make_interval(secs => :within)"
                " FROM procrastinate_workers WHERE id = :id"
            ),
            {"id": worker_id, "within": within},
        ).scalar()
    return bool(fresh)


class SchedulerLock:
    """The one-scheduler lock of a cluster, on a connection of its own."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Connection | None = None

    def try_take(self) -> bool:
        """Take the lock if free; False when another node holds it."""
        if self._connection is None:
            self._connection = self.db.engine.connect()
            for statement in _KEEPALIVES:
                self._connection.execute(text(statement))
        taken = bool(
            self._connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEDULER_LOCK}
            ).scalar()
        )
        self._connection.commit()
        return taken

    def holder(self) -> str:
        """Who holds the lock, as PostgreSQL sees it (for the standby's log line)."""
        with self.db.session() as session:
            row = session.execute(
                text(
                    "SELECT a.pid, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND (l.classid::bigint << 32) | l.objid::bigint = :key"
                ),
                {"key": SCHEDULER_LOCK},
            ).first()
        return f"PostgreSQL backend pid {row[0]}, client {row[1] or 'local'}" if row else "unknown"

    def still_held(self) -> bool:
        """True while the lock's connection answers (the lock lives exactly as long)."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
            self._connection.commit()
            self._connection.close()
        except Exception:
            log.debug("releasing the scheduler lock failed", exc_info=True)
        self._connection = None


async def wait_for_scheduler_lock(lock: SchedulerLock, node: NodeInfo) -> None:
    """Return once this node holds the scheduler lock; until then it is a standby (logged once)."""
    if await asyncio.to_thread(lock.try_take):
        return
    node.state = "standby"
    holder = await asyncio.to_thread(lock.holder)
    log.warning(
        "standby: another `run --distributed` schedules on this database (%s); taking over when it stops",
        holder,
    )
    while not await asyncio.to_thread(lock.try_take):
        await asyncio.sleep(LOCK_CHECK_EVERY)
    log.warning("standby over: this node now schedules")


async def watch_scheduler_lock(lock: SchedulerLock, lost: Callable[[], None]) -> None:
    """Check the lock's connection every LOCK_CHECK_EVERY; call `lost` once if it goes."""
    while True:
        await asyncio.sleep(LOCK_CHECK_EVERY)
        if not await asyncio.to_thread(lock.still_held):
            log.error("lost the scheduler lock (its database connection dropped); stopping this node")
            lost()
            return
