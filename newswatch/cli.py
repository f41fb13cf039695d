"""The `newswatch` command: a thin edge over the service, storage and config.

It answers at once: only the standard library and the small modules below are imported when it
starts; each command imports what it needs (the config model, SQLAlchemy, the matcher, HTTP) when
it runs, so `--version`, `--help` and `check` never pay for the database (bench/cli_start.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, NewswatchError
from newswatch import logs

if TYPE_CHECKING:
    from datetime import timedelta

    from core.config import Config
    from core.db import Database
    from newswatch.service import RunReport, Service

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Version(argparse.Action):
    """`--version`, reading the installed version only when asked (importlib.metadata is not free)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from core.version import __version__

        print(f"newswatch {__version__}")
        parser.exit()


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before the command (`top`) or after it.

    After a command they default to SUPPRESS, so an option given before the command is not reset
    by the command's parser: `newswatch -c x.yaml check` and `newswatch check -c x.yaml` are the
    same. `-v` after the command counts apart (`verbose_after`) and adds to the one before it."""
    group = parser if top else parser.add_argument_group("global options (also before the command)")
    unset: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    group.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        help="config file (default: $NEWSWATCH_CONFIG, else config/newswatch.yaml)",
        **({"default": None} if top else unset),
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest="verbose" if top else "verbose_after",
        help="more log detail (-vv for debug)",
        **({"default": 0} if top else unset),
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="log only warnings and errors",
        **({"default": False} if top else unset),
    )
    group.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        help="log lines as text or JSON (default auto: text on a terminal, JSON otherwise)",
        **({"default": "auto"} if top else unset),
    )


class _Commands:
    """Adds command parsers that take the global options too (after the command)."""

    def __init__(self, action: Any) -> None:
        self._action = action

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._action.add_parser(name, **kwargs)
        _global_options(parser, top=False)
        return parser


def _commands(parser: argparse.ArgumentParser, dest: str, metavar: str, *, required: bool) -> _Commands:
    return _Commands(parser.add_subparsers(dest=dest, metavar=metavar, required=required))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch",
        description="Poll news sources, store clean articles, and alert on watched people and topics.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    _global_options(parser, top=True)
    commands = _commands(parser, "command", "COMMAND", required=True)

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

    check = commands.add_parser(
        "check", help="validate the config and run the rules' examples (2 if either is not right)"
    )
    _json_flag(check)

    db = commands.add_parser(
        "db", help="database maintenance: schema upgrades, moving to PostgreSQL, pruning old data"
    )
    db_commands = _commands(db, "db_command", "ACTION", required=True)
    _json_flag(db_commands.add_parser("upgrade", help="run the schema migrations on the configured database"))
    migrate = db_commands.add_parser(
        "migrate-from", help="copy an SQLite database into the configured (empty) database"
    )
    migrate.add_argument("source", metavar="sqlite:///old.db", help="the SQLite database to copy from")
    _json_flag(migrate)
    prune = db_commands.add_parser("prune", help="delete what `retention` lets go, now, and print the counts")
    prune.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    _json_flag(prune)

    articles = commands.add_parser("articles", help="list stored articles, newest first, or search them")
    articles.add_argument("--json", action="store_true", help="print JSON for scripts")
    articles.add_argument("--limit", type=_positive, default=20, metavar="N", help="how many (default 20)")
    articles.add_argument(
        "--search",
        metavar="QUERY",
        help='best matches first: words, "a phrase", -excluded, prefix*',
    )
    articles.add_argument("--since", type=_duration, metavar="AGE", help="published this recently (e.g. 7d)")
    articles.add_argument("--source", metavar="NAME", help="only articles seen in this source")
    articles.add_argument("--rule", metavar="NAME", help="only articles this rule matched")

    rules = commands.add_parser("rules", help="try rules on stored articles or files, sending nothing")
    rules_commands = _commands(rules, "rules_command", "ACTION", required=True)
    rules_test = rules_commands.add_parser("test", help="replay rules: hit counts and would-be alerts")
    rules_test.add_argument(
        "--since", type=_duration, default="30d", metavar="AGE", help="stored articles this recent (30d)"
    )
    rules_test.add_argument("--rule", metavar="NAME", help="only this rule")
    rules_test.add_argument(
        "--file", type=Path, action="append", metavar="PATH", help="test on this article file (repeatable)"
    )
    rules_test.add_argument("--json", action="store_true", help="print JSON for scripts")
    rules_explain = rules_commands.add_parser("explain", help="why each rule did or did not match")
    rules_explain.add_argument("article_id", type=_positive, metavar="ARTICLE_ID")
    rules_explain.add_argument("--json", action="store_true", help="print JSON for scripts")

    sources = commands.add_parser("sources", help="list sources and how their last polls went")
    sources.add_argument("--json", action="store_true", help="print JSON for scripts")
    opml = _commands(sources, "sources_action", "ACTION", required=False)
    opml_import = opml.add_parser("import", help="append the feeds of an OPML file to the config")
    opml_import.add_argument("opml", metavar="FILE.opml")
    _json_flag(opml_import, nested=True)
    opml_export = opml.add_parser("export", help="write the feed sources as OPML")
    opml_export.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")

    alerts = commands.add_parser("alerts", help="list alerts and their delivery state; retry; send a test")
    alerts.add_argument("--json", action="store_true", help="print JSON for scripts")
    alerts.add_argument("--limit", type=_positive, default=50, metavar="N", help="how many (default 50)")
    alerts.add_argument("--status", choices=("pending", "sent", "failed", "dead"), help="only these")
    alert_commands = _commands(alerts, "alerts_command", "ACTION", required=False)
    retry = alert_commands.add_parser("retry", help="send a failed or dead alert again, now")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=_positive, metavar="ID", help="the alert (see `alerts`)")
    which.add_argument("--dead", action="store_true", help="every dead alert")
    _json_flag(retry, nested=True)
    send_test = alert_commands.add_parser("send-test", help="send a signed test event to a channel")
    send_test.add_argument("channel", metavar="CHANNEL")
    _json_flag(send_test, nested=True)

    commands.add_parser("reload", help="make the running `run` re-read its config (refused if not valid)")
    config = commands.add_parser("config", help="about the config file itself")
    config_commands = _commands(config, "config_command", "ACTION", required=True)
    config_commands.add_parser("schema", help="print the JSON Schema of the config file (for editors)")
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh"), help='eval "$(newswatch completion bash)"')
    return parser


def _json_flag(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    # nested (an action under a command that has `--json` too): an unset flag must not reset the
    # parent's, so `alerts --json retry 3` and `alerts retry 3 --json` both print JSON.
    default = argparse.SUPPRESS if nested else False
    parser.add_argument("--json", action="store_true", default=default, help="print JSON for scripts")


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


def _duration(value: str) -> timedelta:
    from core.config import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = args.verbose + getattr(args, "verbose_after", 0)
    verbosity = -1 if args.quiet else verbose + (1 if args.command in ("run", "worker") else 0)
    logs.setup(verbosity, args.log_format)
    if args.command == "completion":
        from newswatch.completion import script

        print(script(parser, args.shell), end="")
        return EXIT_OK
    if args.command == "config":  # about the file, not one config: nothing is loaded
        return _config_schema()
    try:
        from core.config import config_path
        from newswatch.settings import load_config

        config = load_config(config_path(args.config))
        handler = {
            "run": _run,
            "check": _check,
            "articles": _articles,
            "alerts": _alerts,
            "sources": _sources,
            "db": _db,
            "rules": _rules,
            "reload": _reload,
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


def _open(config: Config) -> Database:
    """The configured database (created and upgraded if it is new)."""
    from core.db import Database

    return Database(config.database)


def _config_schema() -> int:
    from core.schema import config_schema

    print(json.dumps(config_schema(), ensure_ascii=False, indent=2))
    return EXIT_OK


def _check(config: Config, args: argparse.Namespace) -> int:
    from alerts.rules import check_examples, notes
    from core.config import config_path, require_sources

    require_sources(config_path(args.config), config)
    problems, advice = check_examples(config.rules), notes(config.rules)
    problems += _folder_problems(config) + _address_problems(config)
    for problem in problems:
        print(f"newswatch: {problem}", file=sys.stderr)
    for note in advice:  # valid, but probably not what was meant: said, not failed
        print(f"newswatch: note: {note}", file=sys.stderr)
    if args.json:
        summary = {
            "ok": not problems,
            "sources": len(config.sources),
            "channels": len(config.channels),
            "rules": len(config.rules),
            "problems": problems,
            "notes": advice,
            # Each apprise channel's URLs as Apprise read them, secrets masked.
            "apprise": {c.name: c.apprise_targets() for c in config.channels if c.apprise is not None},
        }
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    if problems:
        return EXIT_USAGE
    if args.json:
        return EXIT_OK
    print(
        f"config OK: {len(config.sources)} sources, {len(config.channels)} channels,"
        f" {len(config.rules)} rules"
    )
    return EXIT_OK


def _folder_problems(config: Config) -> list[str]:
    """Folder sources that are missing or cannot be read (the poll would fail the same way)."""
    from ingest.sources.directory import FolderError, article_files

    problems = []
    for source in config.sources:
        if source.directory is None or not source.enabled:
            continue
        try:
            article_files(source.name, source.directory)
        except FolderError as exc:
            problems.append(str(exc))
    return problems


def _address_problems(config: Config) -> list[str]:
    """Feeds at an address the guard refuses for certain (127.0.0.1, localhost): every poll would fail."""
    feeds = [(s.name, s.feed) for s in config.sources if s.feed is not None and s.enabled]
    if not feeds:  # the HTTP client's module is not imported for a config that fetches nothing
        return []
    from ingest.http import refused_without_lookup

    allowance = config.fetch.allow_private_addresses
    return [
        f"source {name!r}: {refusal}"
        for name, feed in feeds
        if (refusal := refused_without_lookup(feed, allowance)) is not None
    ]


def _db(config: Config, args: argparse.Namespace) -> int:
    from newswatch.migrate import migrate_from, upgrade_database
    from newswatch.tables import counters

    if args.db_command == "prune":
        return _db_prune(config, args)
    if args.db_command == "upgrade":
        revision = upgrade_database(config.database)
        if args.json:
            print(json.dumps({"revision": revision}))
        else:
            print(f"database upgraded: at revision {revision}")
        return EXIT_OK
    with counters() as count:  # a bar per table on a terminal, else `table: n/N` lines on stderr
        copied = migrate_from(args.source, config.database, count)
    if args.json:
        print(json.dumps({"copied": copied}, indent=2))
    else:
        print("copied " + ", ".join(f"{count} {table}" for table, count in copied.items()))
    return EXIT_OK


def _db_prune(config: Config, args: argparse.Namespace) -> int:
    from core.config import format_duration
    from core.db import utcnow
    from newswatch.retention import Pruned, prune

    retention = config.retention
    kept = {
        kind: format_duration(value) if value is not None else None
        for kind, value in (("articles", retention.articles), ("alerts", retention.alerts))
    }
    if retention.enabled:
        db = _open(config)
        try:
            names = [s.name for s in config.sources]
            pruned = prune(db, retention, names, utcnow(), dry_run=args.dry_run)
        finally:
            db.close()
    else:  # nothing can go, so the database is not opened: not created, not upgraded
        pruned = Pruned(dry_run=args.dry_run)
    if args.json:
        summary = {"dry_run": pruned.dry_run, "alerts": pruned.alerts, "articles": pruned.articles}
        print(json.dumps({**summary, "retention": kept}))
        return EXIT_OK
    if not retention.enabled:
        print("nothing to prune: `retention` is not set, so articles and alerts are kept forever")
        return EXIT_OK
    alerts = f"{pruned.alerts} alerts" + (
        f" (finished more than {kept['alerts']} ago)" if kept["alerts"] else " (kept forever)"
    )
    articles = f"{pruned.articles} articles" + (
        f" (not seen for {kept['articles']})" if kept["articles"] else " (kept forever)"
    )
    if args.dry_run:
        print(f"would prune {alerts} and {articles}; nothing was deleted")
    else:
        print(f"pruned {alerts} and {articles}")
    return EXIT_OK


def _worker(config: Config, args: argparse.Namespace) -> int:
    from newswatch.distributed import WORKER_QUEUES

    return _distributed(config, args.queues or WORKER_QUEUES, "worker")


def _distributed(config: Config, queues: tuple[str, ...], role: str) -> int:
    import asyncio
    import os
    import socket

    from newswatch.distributed import conninfo, run_node

    conninfo(config.database)  # refuses SQLite with a clear message
    db = _open(config)
    try:
        asyncio.run(run_node(config, db, queues, f"{role}@{socket.gethostname()}:{os.getpid()}", role))
        return EXIT_OK
    finally:
        db.close()


def _run(config: Config, args: argparse.Namespace) -> int:
    import asyncio

    from core.config import config_path, require_sources
    from newswatch.guard import single_node
    from newswatch.service import Service

    require_sources(config_path(args.config), config)
    if (args.distributed or config.mode == "distributed") and not args.once:
        from newswatch.distributed import ALL_QUEUES

        return _distributed(config, ALL_QUEUES, "scheduler")
    db = _open(config)
    try:
        with single_node(db.engine):
            _release_claims(db)
            if args.once:
                report = asyncio.run(_run_once(Service(config, db)))
                print(_once_summary(db, report))
                return EXIT_OK if report.ok else EXIT_FAILED
            asyncio.run(_run_forever(Service(config, db), config_path(args.config)))
            return EXIT_OK
    finally:
        db.close()


def _release_claims(db: Database) -> None:
    """Alerts a crashed single-node `run` was sending go out now, not when their claims lapse."""
    from alerts.outbox import release_all

    with db.session() as session:
        released = release_all(session)
    if released:
        import logging

        logging.getLogger("newswatch").info("%d alerts claimed by a stopped run are due again", released)


async def _run_once(service: Service) -> RunReport:
    async with service:
        return await service.run_once()


def _once_summary(db: Database, report: RunReport) -> str:
    from alerts.outbox import standing
    from core.db import utcnow
    from newswatch.summary import run_summary

    with db.session() as session:
        pending, last_sent = standing(session)
    return run_summary(report, pending, last_sent, utcnow())


async def _run_forever(service: Any, path: Path) -> None:
    import asyncio
    import signal

    from newswatch.runtime import serving

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with service:
        with serving(service, path, loop):
            await service.run_forever(stop)


def _reload(config: Config, args: argparse.Namespace) -> int:
    from core.config import config_path, require_sources
    from newswatch.runtime import signal_reload

    require_sources(config_path(args.config), config)
    pid = signal_reload(config_path(args.config))  # the config already loaded: it is valid
    print(f"reload requested (pid {pid}); the service logs the outcome")
    return EXIT_OK


def _articles(config: Config, args: argparse.Namespace) -> int:
    from core.db import utcnow
    from ingest.search import marked, search_articles
    from ingest.store import article_dict
    from newswatch.tables import When, print_table

    since = utcnow() - args.since if args.since is not None else None
    db = _open(config)
    try:
        with db.session() as session:
            _known_filters(session, config, args.source, args.rule)
            hits = search_articles(
                session, args.search, since=since, source=args.source, rule=args.rule, limit=args.limit
            )
            rows = [article_dict(hit.article) for hit in hits]
    finally:
        db.close()
    searched = bool(args.search and args.search.strip())
    if searched:
        for row, hit in zip(rows, hits, strict=True):
            row["snippet"] = marked(hit.snippet)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if searched:
        print_table(
            ("id", "published", "source", "title", "snippet"),
            (
                (r["id"], When(r["published_at"]), r["source"], _cut(r["title"], 50), _snippet(h.snippet))
                for r, h in zip(rows, hits, strict=True)
            ),
            empty=f"no stored article matches {args.search!r}",
        )
        return EXIT_OK
    print_table(
        ("id", "published", "source", "title", "topics"),
        (
            (r["id"], When(r["published_at"]), r["source"], _cut(r["title"], 70), ", ".join(r["topics"]))
            for r in rows
        ),
        empty="no articles stored yet; run `newswatch run --once`"
        if since is None and args.source is None and args.rule is None
        else "no stored article is in that selection",
    )
    return EXIT_OK


def _known_filters(session: Any, config: Config, source: str | None, rule: str | None) -> None:
    """A --source or --rule that is neither configured nor in the database is a typo: say so."""
    from sqlalchemy import exists, select

    from core.db import AlertRow, SightingRow

    for kind, name, names, stored in (
        ("source", source, [s.name for s in config.sources], SightingRow.source),
        ("rule", rule, [r.name for r in config.rules], AlertRow.rule),
    ):
        if name is None or name in names or session.scalar(select(exists().where(stored == name))):
            continue
        raise ConfigError(f"no {kind} is named {name!r} ({kind}s: {', '.join(names) or 'none defined'})")


def _snippet(snippet: str) -> Any:
    """The snippet for the table, its matches in bold (plain when not on a terminal)."""
    from rich.text import Text

    from ingest.search import spans

    shown = Text()
    for piece, match in spans(" ".join(snippet.split())):
        shown.append(piece, style="bold yellow" if match else None)
    return shown


def _alerts(config: Config, args: argparse.Namespace) -> int:
    from alerts.outbox import listing
    from newswatch.tables import When, print_table

    if args.alerts_command == "retry":
        return _alerts_retry(config, args)
    if args.alerts_command == "send-test":
        return _alerts_send_test(config, args)
    db = _open(config)
    try:
        with db.session() as session:
            rows = listing(session, status=args.status, limit=args.limit)
    finally:
        db.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    print_table(
        ("id", "status", "rule", "channel", "attempts", "sent", "title", "last error"),
        (
            (
                r["id"],
                r["status"],
                r["rule"],
                r["channel"],
                r["attempts"],
                When(r["sent_at"]),
                _cut(r["title"], 50),
                _cut(r["last_error"] or "", 60),
            )
            for r in rows
        ),
        empty="no alerts yet",
        optional=("sent",),
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
    from newswatch.tables import When, print_table

    db = _open(config)
    try:
        with db.session() as session:
            rows = source_rows(session, config.sources)
    finally:
        db.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    # The WebSub column only where WebSub is in use: set up, or a subscription left from before.
    pushes = config.websub is not None or any(r["websub"] for r in rows)
    websub_column = ("websub",) if pushes else ()
    columns = ("name", "status", *websub_column, "http", "failures", "last poll", "last success")
    print_table(
        (*columns, "next poll", "seen", "url", "last error"),
        (
            (
                r["name"],
                r["status"],
                *((r["websub"]["state"] if r["websub"] else "-",) if pushes else ()),
                r["http_status"] or "-",
                r["failures"],
                When(r["last_poll"]),
                When(r["last_success"]),
                When(r["next_poll"]),
                r["articles_seen"],
                _cut(r["url"], 60),
                _cut(r["error"] or "", 60),
            )
            for r in rows
        ),
        empty="no sources configured",
        optional=("url", "seen", "websub", "next poll", "last poll"),
    )
    return EXIT_OK


def _alerts_retry(config: Config, args: argparse.Namespace) -> int:
    import asyncio

    from alerts.outbox import requeue, status_of
    from core.db import utcnow
    from newswatch.service import Service

    db = _open(config)
    try:
        with db.session() as session:
            if args.id is not None:
                status = status_of(session, args.id)
                if status is None:
                    raise ConfigError(f"there is no alert {args.id} (see `newswatch alerts`)")
                if status == "sent":
                    raise ConfigError(f"alert {args.id} was already delivered; nothing to retry")
            count = requeue(session, args.id, utcnow())
        if not args.json:
            print(f"{count} alert(s) queued again; delivering now")
        report = asyncio.run(_deliver(Service(config, db)))
    finally:
        db.close()
    if args.json:
        outcome = {"queued": count, "sent": report.sent, "failed": report.failed, "dead": report.dead}
        print(json.dumps({"ok": report.ok, **outcome}))
    else:
        print(f"sent {report.sent}, failed {report.failed}, dead {report.dead}")
    return EXIT_OK if report.ok else EXIT_FAILED


async def _deliver(service: Any) -> Any:
    async with service:
        return await service.deliver()


def _alerts_send_test(config: Config, args: argparse.Namespace) -> int:
    import asyncio

    from newswatch.service import Service

    if args.channel not in {c.name for c in config.channels}:
        known = ", ".join(sorted(c.name for c in config.channels)) or "none defined"
        raise ConfigError(f"no channel named {args.channel!r} (channels: {known})")
    db = _open(config)
    try:
        message_id = asyncio.run(_send_test(Service(config, db), args.channel))
    finally:
        db.close()
    if args.json:
        print(json.dumps({"channel": args.channel, "webhook_id": message_id}))
    else:
        print(f"test event delivered to {args.channel} (webhook-id {message_id})")
    return EXIT_OK


async def _send_test(service: Any, channel: str) -> str:
    async with service:
        message_id: str = await service.send_test(channel)
        return message_id


def _rules(config: Config, args: argparse.Namespace) -> int:
    from alerts.replay import file_articles, replay, stored_article, stored_articles
    from alerts.rules import Matcher
    from core.db import utcnow
    from newswatch.tables import progress

    matcher = Matcher(config.rules)
    if args.rules_command == "explain" or not args.file:
        db = _open(config)
        try:
            with db.session() as session:
                if args.rules_command == "explain":
                    verdicts = matcher.explain(stored_article(session, args.article_id))
                    sightings = _sightings(session, args.article_id)
                else:
                    articles = stored_articles(session, utcnow() - args.since)
        finally:
            db.close()
    else:
        articles = file_articles(args.file)
    if args.rules_command == "explain":
        rows = [
            {"rule": v.rule, "fired": v.fired, "reason": v.reason, "hits": [h.as_dict() for h in v.hits]}
            for v in verdicts
        ]
        if args.json:
            explained = {"article_id": args.article_id, "rules": rows, "sightings": sightings}
            print(json.dumps(explained, ensure_ascii=False, indent=2))
            return EXIT_OK
        for row in rows:
            print(f"{row['rule']:<18} {'MATCH' if row['fired'] else 'no':<5}  {row['reason']}")
        if len(sightings) > 1:
            print("seen as:")  # why each copy joined this article (one story, one alert)
            for sighting in sightings:
                print(f"  {_sighting_line(sighting)}")
        return EXIT_OK
    report = replay(matcher, progress(articles, len(articles), "replaying"), args.rule)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"{len(articles)} articles replayed; nothing was sent")
    for entry in report:
        print(f"{entry['rule']}: {entry['hits']} would-be alerts")
        for alert in entry["alerts"]:
            print(f"  {alert['article_id']:>6}  {_cut(alert['title'], 70)}")
            for hit in alert["matched"]:
                where = f"{hit['term']} as {hit['surface']!r} in {hit['field']}"
                print(f"{'':10}{where}: {_cut(hit['snippet'], 80)}")
    return EXIT_OK


def _sightings(session: Any, article_id: int) -> list[dict[str, Any]]:
    """Each sighting of an article: its source and item, how it joined, and for a near duplicate
    the similarity, containment and check that confirmed it."""
    from sqlalchemy import select

    from core.db import SightingRow

    query = select(SightingRow).where(SightingRow.article_id == article_id).order_by(SightingRow.id)
    return [
        {
            "source": s.source,
            "item_key": s.item_key,
            "how": s.how,
            "similarity": s.similarity,
            "containment": s.containment,
            "check": s.checked,
        }
        for s in session.scalars(query)
    ]


def _sighting_line(sighting: dict[str, Any]) -> str:
    line = f"{sighting['source']}: {sighting['item_key']} ({sighting['how']}"
    if sighting["similarity"] is not None:
        line += f", similarity {sighting['similarity']:.2f}"
    if sighting["containment"] is not None:
        line += f", containment {sighting['containment']:.2f}"
    if sighting["check"] is not None:
        line += f", check {sighting['check']}"
    return line + ")"


def _import_opml(config: Config, args: argparse.Namespace) -> int:
    from core.config import config_path
    from ingest.sources.opml import append_to_config, new_sources, read_opml
    from newswatch.settings import load_config

    path = config_path(args.config)
    try:
        data = Path(args.opml).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{args.opml}: cannot read: {exc.strerror}") from None
    added = new_sources(read_opml(data, args.opml), config.sources)
    if not added:
        if args.json:
            print(json.dumps({"imported": 0, "config": str(path)}))
        else:
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
    if args.json:
        print(json.dumps({"imported": len(added), "config": str(path)}))
    else:
        print(f"imported {len(added)} feed sources into {path}")
    return EXIT_OK


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
