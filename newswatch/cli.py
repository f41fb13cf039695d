"""The `newswatch` command: a thin edge over the service, storage and config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
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

    commands.add_parser("check", help="validate the config and exit (2 if it is not valid)")

    articles = commands.add_parser("articles", help="list stored articles, newest first")
    articles.add_argument("--json", action="store_true", help="print JSON for scripts")
    articles.add_argument("--limit", type=_positive, default=20, metavar="N", help="how many (default 20)")

    sources = commands.add_parser("sources", help="list sources and how their last polls went")
    sources.add_argument("--json", action="store_true", help="print JSON for scripts")
    opml = sources.add_subparsers(dest="sources_action", metavar="ACTION")
    opml_import = opml.add_parser("import", help="append the feeds of an OPML file to the config")
    opml_import.add_argument("opml", metavar="FILE.opml")
    opml_export = opml.add_parser("export", help="write the feed sources as OPML")
    opml_export.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")

    alerts = commands.add_parser("alerts", help="list alerts and their delivery state")
    alerts.add_argument("--json", action="store_true", help="print JSON for scripts")
    alerts.add_argument("--limit", type=_positive, default=50, metavar="N", help="how many (default 50)")
    return parser


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
    verbosity = -1 if args.quiet else args.verbose + (1 if args.command == "run" else 0)
    logs.setup(verbosity)
    try:
        config = load_config(config_path(args.config))
        handler = {
            "run": _run,
            "check": _check,
            "articles": _articles,
            "alerts": _alerts,
            "sources": _sources,
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


def _run(config: Config, args: argparse.Namespace) -> int:
    from newswatch.service import Service

    db = Database(config.database)
    try:
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


def _sources(config: Config, args: argparse.Namespace) -> int:
    if args.sources_action == "import":
        return _import_opml(config, args)
    if args.sources_action == "export":
        from ingest.sources.opml import write_opml

        document = write_opml(config.sources)
        if args.output:
            Path(args.output).write_text(document, encoding="utf-8")
        else:
            print(document, end="")
        return EXIT_OK
    from ingest.sources.status import source_rows

    db = Database(config.database)
    try:
        with db.session() as session:
            rows = source_rows(session, config.sources)
    finally:
        db.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("no sources configured")
    for row in rows:
        last = (row["last_poll"] or "-")[:19]
        upcoming = (row["next_poll"] or "-")[:19]
        error = f"  ({_cut(row['error'], 60)})" if row["error"] else ""
        print(
            f"{row['name']:<16} {row['status']:<20} last {last:<19}  next {upcoming:<19} "
            f"{row['articles_seen']:>6} seen  {_cut(row['url'], 60)}{error}"
        )
    return EXIT_OK


def _import_opml(config: Config, args: argparse.Namespace) -> int:
    from ingest.sources.opml import append_to_config, new_sources, read_opml

    path = config_path(args.config)
    try:
        data = Path(args.opml).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{args.opml}: cannot read: {exc.strerror}") from None
    added = new_sources(read_opml(data, args.opml), config.sources)
    if not added:
        print("nothing to import: every feed in the file is configured already")
        return EXIT_OK
    text = append_to_config(path.read_text(encoding="utf-8"), added)
    # Validate the new file before it replaces the old one: an import never leaves a broken config.
    candidate = path.with_name(f".{path.name}.import")
    candidate.write_text(text, encoding="utf-8")
    try:
        load_config(candidate)
    except ConfigError:
        candidate.unlink()
        raise
    candidate.replace(path)
    print(f"imported {len(added)} feed sources into {path}")
    return EXIT_OK


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
