"""The `newswatch` command: a thin edge over the service, storage and config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from newswatch import __version__, logs
from newswatch.config import Config, config_path, load_config
from newswatch.db import Database
from newswatch.errors import ConfigError, NewswatchError

log = logging.getLogger("newswatch")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch",
        description="Poll news sources, store clean articles, and alert on watched people and topics.",
    )
    parser.add_argument("--version", action="version", version=f"newswatch {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        help="config file (default: $NEWSWATCH_CONFIG, else config/newswatch.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log detail (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="poll sources on their schedules and send alerts")
    run.add_argument(
        "--once", action="store_true", help="poll every source once, deliver, and exit (1 if anything failed)"
    )

    run.add_argument(
        "--distributed",
        action="store_true",
        help="schedule through procrastinate on PostgreSQL (as `mode: distributed`); also runs a worker",
    )

    worker = commands.add_parser("worker", help="run a procrastinate worker (distributed mode, PostgreSQL)")
    worker.add_argument(
        "--queues",
        type=_queues,
        default=None,
        metavar="Q1,Q2",
        help="queues to take jobs from (default: schedule,poll,deliver; `fixtures` for folder sources)",
    )

    commands.add_parser("check", help="validate the config and exit (2 if it is not valid)")

    db = commands.add_parser("db", help="database maintenance: schema upgrades, moving to PostgreSQL")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="run the schema migrations on the configured database")
    migrate = db_commands.add_parser(
        "migrate-from", help="copy an SQLite database into the configured (empty) database"
    )
    migrate.add_argument("source", metavar="sqlite:///old.db", help="the SQLite database to copy from")

    articles = commands.add_parser("articles", help="list stored articles, newest first")
    articles.add_argument("--json", action="store_true", help="print JSON for scripts")
    articles.add_argument("--limit", type=_positive, default=20, metavar="N", help="how many (default 20)")

    alerts = commands.add_parser("alerts", help="list alerts and their delivery state")
    alerts.add_argument("--json", action="store_true", help="print JSON for scripts")
    alerts.add_argument("--limit", type=_positive, default=50, metavar="N", help="how many (default 50)")
    return parser


def _queues(value: str) -> tuple[str, ...]:
    queues = tuple(q.strip() for q in value.split(",") if q.strip())
    if not queues:
        raise argparse.ArgumentTypeError("name at least one queue")
    return queues


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    verbosity = -1 if args.quiet else args.verbose + (1 if args.command in ("run", "worker") else 0)
    logs.setup(verbosity)
    try:
        config = load_config(config_path(args.config))
        handler = {
            "run": _run,
            "check": _check,
            "articles": _articles,
            "alerts": _alerts,
            "db": _db,
            "worker": _worker,
        }
        return handler[args.command](config, args)
    except ConfigError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NewswatchError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK


def _check(config: Config, args: argparse.Namespace) -> int:
    print(
        f"config OK: {len(config.sources)} sources, {len(config.channels)} channels,"
        f" {len(config.rules)} rules"
    )
    return EXIT_OK


def _db(config: Config, args: argparse.Namespace) -> int:
    from newswatch.migrate import migrate_from, upgrade_database

    if args.db_command == "upgrade":
        print(f"database upgraded: at revision {upgrade_database(config.database)}")
        return EXIT_OK
    copied = migrate_from(args.source, config.database, lambda line: print(line, file=sys.stderr, flush=True))
    print("copied " + ", ".join(f"{count} {table}" for table, count in copied.items()))
    return EXIT_OK


def _worker(config: Config, args: argparse.Namespace) -> int:
    from newswatch.distributed import WORKER_QUEUES

    return _distributed(config, args.queues or WORKER_QUEUES, "worker")


def _distributed(config: Config, queues: tuple[str, ...], role: str) -> int:
    import os
    import socket

    from newswatch.distributed import conninfo, run_node

    conninfo(config.database)  # refuses SQLite with a clear message
    db = Database(config.database)
    try:
        asyncio.run(run_node(config, db, queues, f"{role}@{socket.gethostname()}:{os.getpid()}"))
        return EXIT_OK
    finally:
        db.close()


def _run(config: Config, args: argparse.Namespace) -> int:
    from newswatch.guard import single_node
    from newswatch.service import Service

    if (args.distributed or config.mode == "distributed") and not args.once:
        from newswatch.distributed import ALL_QUEUES

        return _distributed(config, ALL_QUEUES, "scheduler")
    db = Database(config.database)
    try:
        with single_node(db.engine):
            if args.once:
                ok = asyncio.run(_run_once(Service(config, db)))
                return EXIT_OK if ok else EXIT_FAILED
            asyncio.run(_run_forever(Service(config, db)))
            return EXIT_OK
    finally:
        db.close()


async def _run_once(service: Any) -> bool:
    async with service:
        ok: bool = await service.run_once()
        return ok


async def _run_forever(service: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with service:
        await service.run_forever(stop)


def _articles(config: Config, args: argparse.Namespace) -> int:
    from ingest.store import article_dict, recent_articles

    db = Database(config.database)
    try:
        with db.session() as session:
            rows = [article_dict(row) for row in recent_articles(session, args.limit)]
    finally:
        db.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("no articles stored yet; run `newswatch run --once`")
    for row in rows:
        topics = f"  [{', '.join(row['topics'])}]" if row["topics"] else ""
        print(
            f"{row['id']:>6}  {row['published_at'][:16]}  {row['source']:<12} "
            f"{_cut(row['title'], 70)}{topics}"
        )
    return EXIT_OK


def _alerts(config: Config, args: argparse.Namespace) -> int:
    from alerts.outbox import listing

    db = Database(config.database)
    try:
        with db.session() as session:
            rows = listing(session, limit=args.limit)
    finally:
        db.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("no alerts yet")
    for row in rows:
        error = f"  ({_cut(row['last_error'], 60)})" if row["last_error"] else ""
        print(
            f"{row['id']:>6}  {row['status']:<8} {row['rule']:<18} -> {row['channel']:<12} "
            f"{_cut(row['title'], 50)}{error}"
        )
    return EXIT_OK


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
