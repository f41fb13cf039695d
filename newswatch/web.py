"""The HTTP endpoint: /healthz, /readyz, /metrics and a read-only status page at /, in the same process.

It runs in a background thread (the standard library's threading server) so a slow scrape never holds
up a poll; handlers only read: the database through its session factory, the scheduler's job times.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST

from core import metrics
from core.db import utcnow
from newswatch import __version__, status

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


def render_status(service: Service, probe: Probe | None = None) -> str:
    """The status page: the cluster's nodes (distributed), sources with health and next poll,
    recent alerts, recent articles."""
    probe = probe or Probe.single(service)
    from newswatch import cluster

    return _templates.get_template("status.html").render(
        version=__version__,
        now=utcnow().isoformat(timespec="seconds"),
        node=probe.node,
        nodes=cluster.nodes(service.db) if probe.cluster else None,
        sources=status.sources(service.db, service.config, probe.next_polls()),
        alerts=status.recent_alerts(service.db),
        articles=status.recent_articles(service.db),
    )


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


def _handler_for(service: Service, probe: Probe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"newswatch/{__version__}"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
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
                elif path == "/":
                    page = render_status(service, probe).encode()
                    self._send(200, "text/html; charset=utf-8", page)
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found\n")
            except Exception:  # one bad request must not kill the endpoint
                log.exception("http: %s failed", path)
                self._send(500, "text/plain; charset=utf-8", b"internal error\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

    return Handler
