"""The HTTP endpoint: /healthz, /readyz, /metrics and a read-only status page at /, in the same process.

The pages: `/` (nodes, sources, recent alerts, articles by date with a filter and paging),
`/sources/<name>` (its health, recent polls and errors, articles) and `/articles/<id>` (its sightings,
matches, alerts and their delivery attempts). Each is plain server-rendered HTML; a small script
(static/status.js) fetches the page again every REFRESH_SECONDS and swaps in its `data-live` parts,
so an open page stays current without a reload. Only GET; nothing writes.

It runs in a background thread (the standard library's threading server) so a slow scrape never holds
up a poll; handlers only read: the database through its session factory, the scheduler's job times.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST

from core import metrics
from core.config import Config
from core.db import Database, utcnow
from newswatch import __version__, cluster, status
from newswatch.article_filter import ArticlePage, filter_articles

if TYPE_CHECKING:
    from newswatch.service import Service

log = logging.getLogger(__name__)

_templates = Environment(
    loader=PackageLoader("newswatch", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)


def next_polls(service: Service) -> dict[str, datetime]:
    """When each source is next polled, from the running scheduler (empty when not running)."""
    scheduler = service.scheduler
    if scheduler is None or not scheduler.running:
        return {}
    polls: dict[str, datetime] = {}
    for job in scheduler.get_jobs():
        if job.id.startswith("poll:") and job.next_run_time is not None:
            polls[job.id.removeprefix("poll:")] = job.next_run_time
    return polls


def ready(service: Service) -> tuple[bool, dict[str, bool]]:
    """Ready means the database answers and the scheduler runs."""
    checks = {
        "database": status.database_ok(service.db),
        "scheduler": service.scheduler is not None and bool(service.scheduler.running),
    }
    return all(checks.values()), checks


@dataclass(frozen=True)
class Probe:
    """What the endpoint says about the node it runs in: a single-node `run` (the default, from
    its scheduler) or a node of a distributed cluster (newswatch/distributed.py)."""

    ready: Callable[[], tuple[bool, dict[str, bool]]]
    next_polls: Callable[[], dict[str, datetime]]
    node: str | None = None  # a cluster node's name: /metrics labels every sample with it
    state: Callable[[], str] | None = None  # a cluster node's state, in /readyz
    cluster: bool = False  # the status page lists the cluster's nodes

    @classmethod
    def single(cls, service: Service) -> Probe:
        return cls(lambda: ready(service), lambda: next_polls(service))


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Only this server's own script and style; no inline script, no frames, no other origin.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
}
STATIC = {
    "/static/status.css": ("status.css", "text/css; charset=utf-8"),
    "/static/status.js": ("status.js", "text/javascript; charset=utf-8"),
}
REFRESH_SECONDS = 10  # how often an open page fetches itself again and swaps in what changed
QUERY_MAX_LENGTH = 200  # a longer query parameter is cut here


class BadRequest(ValueError):
    """A query the pages cannot use: answered 400 with this one line."""


def relative(value: datetime, now: datetime) -> str:
    """`value` from `now`, as a person says it: "42 s ago", "5 min ago", "in 3 h", "2 d ago"."""
    seconds = (now - value).total_seconds()
    span = abs(seconds)
    if span < 60:
        amount = f"{int(span)} s"
    elif span < 3600:
        amount = f"{int(span // 60)} min"
    elif span < 86400:
        amount = f"{int(span // 3600)} h"
    elif span < 86400 * 60:
        amount = f"{int(span // 86400)} d"
    else:
        return value.astimezone(UTC).strftime("%Y-%m-%d")
    return f"in {amount}" if seconds < 0 else f"{amount} ago"


def absolute(value: datetime) -> str:
    """`value` in full, in UTC: 2026-12-02 14:05:09 UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@pass_context
def _when(context: Context, value: datetime | str | None) -> Markup:
    """A time (or its ISO 8601 text) as the pages show it: relative, with the absolute time on hover."""
    if value is None:
        return Markup("&mdash;")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.astimezone(UTC).isoformat(timespec="seconds"), absolute(value), relative(value, context["now"])
    )


def duration(value: timedelta) -> str:
    """A schedule's interval as a person says it: "2 s", "15 min", "1 h 30 min", "1 d"."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts) or "0 s"


def _source_url(name: str) -> str:
    return "/sources/" + quote(name, safe="")


def _external(url: str | None) -> str | None:
    """`url` when a page may link to it (http or https only), else None."""
    return url if url and url.lower().startswith(("http://", "https://")) else None


_templates.filters["when"] = _when
_templates.filters["source_url"] = _source_url
_templates.filters["external"] = _external
_templates.filters["duration"] = duration


def _page_links(base: str, params: dict[str, str], page: ArticlePage) -> dict[str, str | None]:
    """The links to the first, previous, next and last pages of `page`, keeping the filter."""

    def link(number: int) -> str:
        query = {k: v for k, v in params.items() if v}
        if number > 1:
            query["page"] = str(number)
        return base + ("?" + urlencode(query) if query else "")

    before, after = page.page > 1, page.page < page.pages
    return {
        "first": link(1) if before else None,
        "prev": link(page.page - 1) if before else None,
        "next": link(page.page + 1) if after else None,
        "last": link(page.pages) if after else None,
    }


def _render(template: str, node: str | None, **values: Any) -> str:
    return _templates.get_template(template).render(
        version=__version__, now=utcnow(), node=node, refresh=REFRESH_SECONDS, **values
    )


def overview_page(
    db: Database,
    config: Config,
    next_polls: dict[str, datetime],
    *,
    source: str = "",
    rule: str = "",
    text: str = "",
    page: int = 1,
    node: str | None = None,
    nodes: list[cluster.NodeView] | None = None,
) -> str:
    """The status page: the cluster's nodes (distributed), sources with health and next poll,
    recent alerts, and the articles by date, filtered and a page at a time."""
    with db.session() as session:
        articles = filter_articles(session, source, rule, text, page)
    params = {"source": source, "rule": rule, "q": text}
    return _render(
        "status.html",
        node,
        nodes=nodes,
        sources=status.sources(db, config, next_polls),
        alerts=status.recent_alerts(db),
        articles=articles,
        links=_page_links("/", params, articles),
        filter=params,
        source_names=[s.name for s in config.sources],
        rule_names=[r.name for r in config.rules],
    )


def source_page(
    db: Database,
    config: Config,
    name: str,
    next_polls: dict[str, datetime],
    *,
    page: int = 1,
    node: str | None = None,
) -> str | None:
    """The page of one source: its health, recent polls and errors, and its articles (None: no such
    source)."""
    detail = status.source_detail(db, config, name, next_polls)
    if detail is None:
        return None
    with db.session() as session:
        articles = filter_articles(session, source=name, page=page)
    links = _page_links(_source_url(name), {}, articles)
    return _render("source.html", node, detail=detail, articles=articles, links=links)


def article_page(db: Database, article_id: int, *, node: str | None = None) -> str | None:
    """The page of one article: its sightings, matches and alerts with their delivery attempts."""
    detail = status.article_detail(db, article_id)
    return None if detail is None else _render("article.html", node, article=detail)


def render_status(service: Service, probe: Probe | None = None) -> str:
    """The status page (the overview), unfiltered."""
    probe = probe or Probe.single(service)
    return overview_page(
        service.db,
        service.config,
        probe.next_polls(),
        node=probe.node,
        nodes=cluster.nodes(service.db) if probe.cluster else None,
    )


def _query(raw: str) -> dict[str, str]:
    """The first value of each query parameter, each cut at QUERY_MAX_LENGTH."""
    return {k: v[0][:QUERY_MAX_LENGTH] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def _page_number(query: dict[str, str]) -> int:
    raw = query.get("page", "").strip() or "1"
    if not raw.isdigit() or not 0 < int(raw) <= 1_000_000:
        raise BadRequest(f"page must be a whole number from 1, not {raw[:20]!r}")
    return int(raw)


def route(service: Service, probe: Probe, path: str, raw_query: str) -> tuple[int, str] | None:
    """The HTML page at `path` as (status, page), or None when there is none there."""
    query = _query(raw_query)
    if path == "/":
        return 200, overview_page(
            service.db,
            service.config,
            probe.next_polls(),
            source=query.get("source", ""),
            rule=query.get("rule", ""),
            text=query.get("q", ""),
            page=_page_number(query),
            node=probe.node,
            nodes=cluster.nodes(service.db) if probe.cluster else None,
        )
    if path.startswith("/sources/"):
        name = unquote(path.removeprefix("/sources/"))
        page = source_page(
            service.db, service.config, name, probe.next_polls(), page=_page_number(query), node=probe.node
        )
        return None if page is None else (200, page)
    if path.startswith("/articles/"):
        raw = path.removeprefix("/articles/")
        if not raw.isdigit() or len(raw) > 18:
            return None
        page = article_page(service.db, int(raw), node=probe.node)
        return None if page is None else (200, page)
    return None


class StatusServer:
    """The endpoint bound to `address`, serving until `close()`."""

    def __init__(self, service: Service, address: tuple[str, int], probe: Probe | None = None) -> None:
        handler = _handler_for(service, probe or Probe.single(service))
        self._server = ThreadingHTTPServer(address, handler)
        self._server.daemon_threads = True
        self.address = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("http endpoint listening on %s:%s", *self.address)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@cache
def _static(name: str) -> bytes:
    """A file of newswatch/static (the status page's script and style)."""
    return files("newswatch").joinpath("static", name).read_bytes()


def _handler_for(service: Service, probe: Probe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"newswatch/{__version__}"

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            try:
                if path == "/healthz":
                    self._send(200, "application/json", b'{"status":"ok"}')
                elif path == "/readyz":
                    ok, checks = probe.ready()
                    body: dict[str, Any] = {"status": "ready" if ok else "not ready", "checks": checks}
                    if probe.node is not None:
                        body["node"] = probe.node
                    if probe.state is not None:
                        body["state"] = probe.state()
                    self._send(200 if ok else 503, "application/json", json.dumps(body).encode())
                elif path == "/metrics":
                    status.refresh_metrics(service.db)
                    self._send(200, CONTENT_TYPE_LATEST, metrics.exposition(probe.node))
                elif path in STATIC:
                    name, content_type = STATIC[path]
                    self._send(200, content_type, _static(name))
                else:
                    found = route(service, probe, path, query)
                    if found is None:
                        self._send(404, "text/plain; charset=utf-8", b"not found\n")
                    else:
                        self._send(found[0], "text/html; charset=utf-8", found[1].encode())
            except BadRequest as exc:
                self._send(400, "text/plain; charset=utf-8", f"{exc}\n".encode())
            except Exception:  # one bad request must not kill the endpoint
                log.exception("http: %s failed", path)
                self._send(500, "text/plain; charset=utf-8", b"internal error\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for header, value in SECURITY_HEADERS.items():
                self.send_header(header, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

    return Handler
