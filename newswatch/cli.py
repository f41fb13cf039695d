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
from newswatch.tables import print_table

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
    parser.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default="auto",
        help="log lines as text or JSON (default auto: text on a terminal, JSON otherwise)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="poll sources on their schedules and send alerts")
    run.add_argument(
        "--once", action="store_true", help="poll every source once, deliver, and exit (1 if anything failed)"
    )

    commands.add_parser("check", help="validate the config and exit (2 if it is not valid)")

    articles = commands.add_parser("articles", help="list stored articles, newest first")
    articles.add_argument("--json", action="store_true", help="print JSON for scripts")
    articles.add_argument("--limit", type=_positive, default=20, metavar="N", help="how many (default 20)")

    alerts = commands.add_parser("alerts", help="list alerts and their delivery state")
    alerts.add_argument("--json", action="store_true", help="print JSON for scripts")
    alerts.add_argument("--limit", type=_positive, default=50, metavar="N", help="how many (default 50)")

    commands.add_parser("reload", help="make the running `run` re-read its config (refused if not valid)")
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh"), help='eval "$(newswatch completion bash)"')
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
    parser = build_parser()
    args = parser.parse_args(argv)
    verbosity = -1 if args.quiet else args.verbose + (1 if args.command == "run" else 0)
    logs.setup(verbosity, args.log_format)
    if args.command == "completion":
        from newswatch.completion import script

        print(script(parser, args.shell), end="")
        return EXIT_OK
    try:
        config = load_config(config_path(args.config))
        handler = {"run": _run, "check": _check, "articles": _articles, "alerts": _alerts, "reload": _reload}
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
        asyncio.run(_run_forever(Service(config, db), config_path(args.config)))
        return EXIT_OK
    finally:
        db.close()


async def _run_once(service: Any) -> bool:
    async with service:
        ok: bool = await service.run_once()
        return ok


async def _run_forever(service: Any, path: Path) -> None:
    from newswatch.runtime import serving

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with service:
        with serving(service, path, loop):
            await service.run_forever(stop)


def _reload(config: Config, args: argparse.Namespace) -> int:
    from newswatch.runtime import signal_reload

    pid = signal_reload(config_path(args.config))  # the config already loaded: it is valid
    print(f"reload requested (pid {pid}); the service logs the outcome")
    return EXIT_OK


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
    print_table(
        ("id", "published", "source", "title", "topics"),
        (
            (r["id"], r["published_at"][:16], r["source"], _cut(r["title"], 70), ", ".join(r["topics"]))
            for r in rows
        ),
        empty="no articles stored yet; run `newswatch run --once`",
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
    print_table(
        ("id", "status", "rule", "channel", "attempts", "title", "last error"),
        (
            (
                r["id"],
                r["status"],
                r["rule"],
                r["channel"],
                r["attempts"],
                _cut(r["title"], 50),
                _cut(r["last_error"] or "", 60),
            )
            for r in rows
        ),
        empty="no alerts yet",
    )
    return EXIT_OK


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
