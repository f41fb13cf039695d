"""Real peers on loopback: a feed server, a webhook receiver and an SMTP server; a CLI runner; and
the two database backends every storage test runs on (SQLite and PostgreSQL, `--backend` picks)."""

from __future__ import annotations

import base64
import functools
import io
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from core.config import Config
from core.db import Database
from newswatch.settings import load_config

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))


@dataclass
class Served:
    """What the feed server answers for one path."""

    body: bytes
    content_type: str = "application/rss+xml"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer 304 to a matching If-None-Match (or If-Modified-Since)
    drip: float | None = None  # send the body one byte per `drip` seconds
    delay: float = 0.0  # seconds to wait before answering, to make a poll take time
    opened: threading.Event | None = None  # answer only once this is set (the test says when)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    local_address: str = ""  # the server address the request arrived at
    at: float = field(default_factory=time.monotonic)


@dataclass
class Reply:
    """One scripted answer of the webhook receiver: a status, headers, and how long to stall first."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0


class HttpServer:
    """A real HTTP server on 127.0.0.1: serves `routes` on GET, records every POST."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes: dict[str, Served] = {}
        self.received: list[Received] = []
        self.gets: list[Received] = []
        self.post_status = 200
        self.post_script: list[Reply] = []  # answers for the next POSTs, in order; then post_status
        self.released = threading.Event()  # set at close, so stalled handlers end
        self.post_delay = 0.0  # seconds a POST is held before it is answered (slow receivers)
        self.in_flight = 0  # POSTs being answered now
        self.peak_in_flight = 0  # the most POSTs ever answered at once
        self.gets_in_flight = 0  # GETs of a route with a `delay` being answered now
        self.peak_gets_in_flight = 0  # the most of those ever answered at once
        self._count = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                local = str(self.connection.getsockname()[0])
                owner.gets.append(Received(self.path, dict(self.headers.items()), b"", local))
                served = owner.routes.get(self.path)
                if served is None:
                    self.send_error(404)
                    return
                while served.opened is not None and not served.opened.wait(0.1):
                    if owner.released.is_set():  # the server is closing
                        return
                if served.delay:
                    with owner._count:
                        owner.gets_in_flight += 1
                        owner.peak_gets_in_flight = max(owner.peak_gets_in_flight, owner.gets_in_flight)
                    time.sleep(served.delay)
                    with owner._count:
                        owner.gets_in_flight -= 1
                validators = (self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"))
                if served.etag is not None and served.etag in validators:
                    self.send_response(304)
                    self.send_header("ETag", served.etag)
                    self.end_headers()
                    return
                self.send_response(served.status)
                self.send_header("Content-Type", served.content_type)
                self.send_header("Content-Length", str(len(served.body)))
                if served.etag is not None:
                    self.send_header("ETag", served.etag)
                for name, value in served.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if served.drip is None:
                    self.wfile.write(served.body)
                    return
                try:
                    for i in range(len(served.body)):
                        self.wfile.write(served.body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(served.drip)
                except OSError:  # the client gave up, as it should
                    pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                owner.received.append(Received(self.path, dict(self.headers.items()), body))
                reply = owner.post_script.pop(0) if owner.post_script else Reply(owner.post_status)
                if owner.post_delay:
                    with owner._count:
                        owner.in_flight += 1
                        owner.peak_in_flight = max(owner.peak_in_flight, owner.in_flight)
                    time.sleep(owner.post_delay)
                    with owner._count:
                        owner.in_flight -= 1
                if reply.stall and owner.released.wait(reply.stall):
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self._server.server_address[1]
        # shutdown() waits for the loop to look at its flag again: every 0.05 s, not the default 0.5
        # (half a second at the end of each of hundreds of tests).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str, host: str | None = None) -> str:
        host = host or (self.host if self.host != "0.0.0.0" else "127.0.0.1")
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


def one_story_rss(text: str) -> bytes:
    """An RSS feed of one item (guid n-1, "Putin story") whose description is `text`."""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>'
        "<item><guid>n-1</guid><title>Putin story</title><link>http://wire.example/1</link>"
        f"<description>{text}</description></item></channel></rss>"
    ).encode()


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()


def clear_of_the_hour(margin: float = 30) -> None:
    """Wait for the next hour if this one ends within `margin` seconds. For tests that check an
    alert still waits in an hourly digest on the wall clock: a run that straddles the hour rightly
    sends it (the digest's hour is over), and the test would fail on the clock, not the code."""
    now = time.time()
    left = 3600 - now % 3600
    if left < margin:
        time.sleep(left + 0.5)


def http_client(timeout: float = 10) -> httpx.Client:
    """An HTTP client for a test that asks an endpoint many times. Each request opens a connection
    of its own, as `httpx.get` does; but `httpx.get` also builds a client, TLS context included, per
    call: about 30 ms of CPU, which a test polling an endpoint spends beside what it measures."""
    return httpx.Client(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[Message, list[str]]] = []
        self.replies: list[str] = []  # scripted answers to the next DATA commands, then "250 OK"
        self.sessions: list[dict[str, Any]] = []  # per accepted message: TLS and login seen

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.replies.pop(0) if self.replies else "250 OK"
        if reply.startswith("250"):
            self.messages.append((message_from_bytes(envelope.content), list(envelope.rcpt_tos)))
            tls = server.transport.get_extra_info("ssl_object") is not None
            login = session.auth_data if session.authenticated else None
            self.sessions.append({"tls": tls, "login": login})
        return reply


@dataclass
class SmtpServer:
    port: int
    mailbox: _Mailbox
    ca_file: Path | None = None  # the self-signed certificate a TLS server presents

    @property
    def messages(self) -> list[tuple[Message, list[str]]]:
        return self.mailbox.messages

    @property
    def replies(self) -> list[str]:
        return self.mailbox.replies


SMTP_USER, SMTP_PASSWORD = "newsdesk", "smtp-Pa55word-not-for-logs"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj"]
    command += ["/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok, auth_data=SMTP_USER if ok else None)


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One self-signed certificate and key for the session (an RSA key takes about half a second)."""
    require_peer("openssl")
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["starttls", "ssl"])
def tls_smtp_server(
    request: pytest.FixtureRequest, tls_certificate: tuple[Path, Path]
) -> Iterator[tuple[str, SmtpServer]]:
    """An SMTP server that wants TLS (STARTTLS, or implicit TLS) and a login."""
    import ssl

    cert, key = tls_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = _Mailbox()
    port = free_port()
    options: dict[str, Any] = {"authenticator": _authenticate, "auth_require_tls": True}
    if request.param == "starttls":
        options.update(tls_context=context, require_starttls=True)
    else:  # aiosmtpd does not count implicit TLS towards auth_require_tls; the socket is TLS all the same
        options.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield request.param, SmtpServer(port, mailbox, cert)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def webhook_secret() -> str:
    return "whsec_" + base64.b64encode(b"newswatch-test-secret-32-bytes!!").decode()


@dataclass
class Workspace:
    """A folder with a config file, a database and a fixture folder: what a user sets up."""

    root: Path
    # Extra environment for every CLI call: NEWSWATCH_DATABASE_URL, the test's database on its backend.
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "config" / "newswatch.yaml"

    @property
    def seeds(self) -> Path:
        return self.root / "seeds"

    def write_config(self, text: str) -> Path:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(text, encoding="utf-8")
        return self.config

    def load_config(self) -> Config:
        """The config as `cli` sees it (the environment included, so the database is the test's)."""
        return load_config(self.config, {**os.environ, **self.env})

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run `newswatch --config <this config> ARGS` in this process (see `run_cli`): what the
        command prints and returns, without a Python start-up per call."""
        return run_cli(["--config", str(self.config), *args], {**self.env, **(env or {})})

    def process(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `newswatch --config <this config> ARGS` as a user would, in a child process: for what
        only a process shows (the console script, exit on a signal, start-up imports)."""
        return subprocess.run(
            [sys.executable, "-m", "newswatch", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env, **(env or {})},
        )


def run_cli(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`newswatch ARGV` in this process, as the console script runs it: `env` added to the
    environment, standard output and error captured (not terminals, as in a pipe), the exit code
    from the return value or SystemExit, and an uncaught exception printed as a traceback with exit
    code 1, as Python would. The environment and the logging set-up are put back afterwards."""
    from newswatch.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_environ = dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in ("newswatch", "ingest", "alerts")}
    os.environ.update(env or {})
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help, --version, usage errors
                if exc.code is None or isinstance(exc.code, int):
                    code = exc.code or 0
                else:
                    print(exc.code, file=sys.stderr)
                    code = 1
            except Exception:  # noqa: BLE001 - uncaught: Python prints the traceback and exits 1
                traceback.print_exc()
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
    return subprocess.CompletedProcess(["newswatch", *argv], code, out.getvalue(), err.getvalue())


# The PostgreSQL server the storage tests use; each test gets a database of its own on it.
POSTGRES_ADMIN_URL = os.environ.get("NEWSWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


POSTGRES_TEST_ZONE = "America/St_Johns"  # UTC-3:30 (-2:30 in summer)

# Chromium for the status-page test: Debian's package, unless NEWSWATCH_TEST_CHROMIUM names another.
CHROMIUM = os.environ.get("NEWSWATCH_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@dataclass(frozen=True)
class Peer:
    """A program or server on this machine that some tests need and pip does not install."""

    name: str
    enable: str  # how to provide it, for the summary


PEERS = {
    "postgresql": Peer(
        "PostgreSQL",
        "start a server on 127.0.0.1:5432 with trust auth and a database `test`, or set"
        " NEWSWATCH_TEST_POSTGRES=postgresql://USER@HOST:PORT/DB (or run SQLite only: --backend=sqlite)",
    ),
    "chromium": Peer(
        "Chromium",
        "install it at /usr/bin/chromium (apt-get install chromium), or set NEWSWATCH_TEST_CHROMIUM=PATH",
    ),
    "openssl": Peer("openssl", "install the openssl command (apt-get install openssl)"),
}
MISSING_PEER = "missing peer "  # how a skip reason for a missing peer starts (the summary counts them)


@functools.cache
def _peer_problem(key: str) -> str | None:
    """What is wrong with the peer `key` on this machine (None: it is there). Asked once per process."""
    if key == "postgresql":
        import psycopg

        try:
            psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=5).close()
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            detail = detail.removeprefix("connection failed: ")
            return f"cannot connect to {POSTGRES_ADMIN_URL}: {detail}"
        return None
    if key == "chromium":
        return None if os.access(CHROMIUM, os.X_OK) else f"no browser at {CHROMIUM}"
    if key == "openssl":
        return None if shutil.which("openssl") else "no openssl command on PATH"
    raise KeyError(key)


def require_peer(key: str) -> None:
    """Skip this test when the peer `key` (see PEERS) is missing, with one clear reason, and say in the
    summary how to provide it. In CI (the CI variable is set) a missing peer fails the test instead:
    there the whole suite must run."""
    problem = _peer_problem(key)
    if problem is None:
        return
    reason = f"{MISSING_PEER}{PEERS[key].name}: {problem}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so a missing peer is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


_REQUIRE_PEER = (str(Path(__file__)), require_peer.__code__.co_firstlineno)
_SKIPPED_PEER = "Skipped: " + MISSING_PEER


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A skip for a missing peer is reported where the peer is checked (require_peer), not at each
    test: `-ra` then prints one line per missing peer, with the count of tests it skipped."""
    report: pytest.TestReport = yield
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and str(longrepr[2]).startswith(_SKIPPED_PEER):
        report.longrepr = (_REQUIRE_PEER[0], _REQUIRE_PEER[1], longrepr[2])
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """After the run: which peers were missing, how many tests that skipped, and how to enable them."""
    skipped: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        message = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        message = message.removeprefix("Skipped: ")
        if message.startswith(MISSING_PEER):
            name = message[len(MISSING_PEER) :].split(":", 1)[0]
            skipped[name] = skipped.get(name, 0) + 1
    if not skipped:
        return
    peers = [peer for peer in PEERS.values() if peer.name in skipped]
    count = sum(skipped.values())
    missing = f"{len(peers)} peer{'s' if len(peers) > 1 else ''} missing"
    terminalreporter.write_sep("-", f"{missing}: {count} tests skipped; to run them:")
    for peer in peers:
        tests = f"{skipped[peer.name]} test{'s' if skipped[peer.name] > 1 else ''}"
        terminalreporter.write_line(f"  {peer.name} ({tests}): {peer.enable}")


@contextmanager
def postgres_database(template: str | None = None) -> Iterator[str]:
    """Create a fresh, uniquely named PostgreSQL database (empty, or a copy of the database
    `template`); yield its SQLAlchemy URL; drop it after.

    The fixtures call `require_peer("postgresql")` first: outside CI a missing server skips.
    """
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    name = f"nw_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        # Servers are often not on UTC (this one is): a zone 3.5 hours off shows any timestamp that
        # PostgreSQL would read in its session zone instead of as UTC.
        admin.execute(f"ALTER DATABASE \"{name}\" SET TimeZone TO '{POSTGRES_TEST_ZONE}'")
    info = conninfo_to_dict(POSTGRES_ADMIN_URL)
    host, port, user = info.get("host", "127.0.0.1"), info.get("port", "5432"), info.get("user", "postgres")
    try:
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = ("sqlite", "postgresql")

# Where a `bare_workspace` points NEWSWATCH_DATABASE_URL: nothing listens on port 1, so a command
# that opens a database fails there instead of quietly running on one backend only.
NO_DATABASE_URL = "postgresql+psycopg://nobody@127.0.0.1:1/this-test-opens-no-database"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=(*BACKENDS, "both"),
        default="both",
        help="run the database tests on sqlite, postgresql or both (default: both)",
    )


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject addopts): two workers per core. Most tests wait on a loopback peer, a
    child process or a poll's schedule as much as they compute, so one per core leaves cores idle."""
    return 2 * (os.cpu_count() or 1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "only_backend(name, reason=...): a database test that is about one backend only; it runs on"
        " that one and says why",
    )
    config.addinivalue_line(
        "markers", "alone: runs while no other test does, under pytest-xdist (a responsiveness bound)"
    )
    config.addinivalue_line(
        "markers",
        "empty_database: the test's database (`database_url`, `workspace`, `db`) starts with no tables,"
        " not at the newest schema: for tests of migrations, `db upgrade` and `db migrate-from`",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that opens a database (it uses `backend`, directly or through `database_url`,
    `workspace` or `db`) runs once per backend: ids `[sqlite]` and `[postgresql]`."""
    if "backend" not in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("empty_database") is not None:
            where = metafunc.definition.nodeid
            raise pytest.UsageError(f"{where}: marked empty_database, but it opens no test database")
        return
    backends = list(BACKENDS)
    marker = metafunc.definition.get_closest_marker("only_backend")
    if marker is not None:
        (only,) = marker.args
        if only not in BACKENDS or not marker.kwargs.get("reason"):
            where = metafunc.definition.nodeid
            raise pytest.UsageError(f"{where}: write only_backend('sqlite'|'postgresql', reason=...)")
        backends = [only]
    metafunc.parametrize("backend", backends, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--backend=sqlite|postgresql` deselects the other backend's half (reported as deselected).
    Tests marked `alone` go first: an alone test waits for the tests running beside it to end, and
    at the start those are short ones, not a cluster test of a minute."""
    items.sort(key=lambda item: item.get_closest_marker("alone") is None)  # stable: the rest keep order
    chosen = config.getoption("backend")
    if chosen == "both":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("backend") if params is not None else None
        (drop if backend is not None and backend != chosen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """`sqlite` or `postgresql`: the database backend this run of the test uses. A PostgreSQL run
    needs the server (outside CI a missing one skips the test), whichever way the test reaches it."""
    if request.param == "postgresql":
        require_peer("postgresql")
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file at the newest schema, made once per process: each test gets a copy."""
    path = tmp_path_factory.mktemp("migrated") / "newswatch.db"
    Database(f"sqlite:///{path}").close()
    # The last connection to close checkpoints the WAL into the file and deletes it.
    assert not path.with_name(path.name + "-wal").exists(), "the migrated SQLite file kept a WAL"
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """A PostgreSQL database at the newest schema, made once per process: each test's database is
    created from it (CREATE DATABASE ... TEMPLATE), a file copy instead of running every migration."""
    with postgres_database() as url:
        Database(url).close()  # nobody may stay connected to a template
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A test using this runs twice: on an SQLite file and on a fresh PostgreSQL database. The
    database is at the newest schema already (a copy of one migrated once per process, as the first
    `Database` would leave it), unless the test is marked `empty_database`: then it has no tables."""
    empty = request.node.get_closest_marker("empty_database") is not None
    if backend == "sqlite":
        path = tmp_path / "newswatch.db"
        if not empty:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    require_peer("postgresql")
    with postgres_database(None if empty else request.getfixturevalue("migrated_postgres")) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An upgraded Database on the test's backend, for tests that call storage in process."""
    database = Database(database_url)
    yield database
    database.close()


def _workspace(root: Path, env: dict[str, str]) -> Workspace:
    space = Workspace(root, env)
    space.seeds.mkdir()
    shutil.copy(SEED_FILE, space.seeds / SEED_FILE.name)
    return space


@pytest.fixture
def workspace(tmp_path: Path, database_url: str) -> Workspace:
    """A workspace whose commands use the test's database (`database_url`): runs on both backends."""
    return _workspace(tmp_path, {"NEWSWATCH_DATABASE_URL": database_url})


@pytest.fixture
def bare_workspace(tmp_path: Path) -> Workspace:
    """A workspace for commands that open no database (config checks, completion, OPML, rules on
    files): the test runs once, and a command that did open a database would fail."""
    return _workspace(tmp_path, {"NEWSWATCH_DATABASE_URL": NO_DATABASE_URL})


class Alone:
    """The hold of a test marked `alone` on the machine (see `_alone_when_marked`). A marked test
    that asks for the `alone` fixture takes it itself, around the part it measures:

        with alone:  # waits until no other test runs; none starts until the block ends
            ...

    (or `alone.hold()` ... `alone.release()`); one that does not has it from set-up to the end."""

    def __init__(self, gate: Any = None, lock: Any = None, *, exclusive: bool = False) -> None:
        self._gate, self._lock = gate, lock  # None: not under pytest-xdist, nothing runs beside it
        self.exclusive = exclusive  # this test holds the machine now
        self.held = exclusive  # it has held it (a test that takes its own hold must take it)

    def hold(self) -> None:
        """The measured part begins: wait until every other test has ended, and keep new ones from
        starting, until `release()` or the end of the test."""
        self.held = True
        if self._gate is None or self.exclusive:
            return
        import fcntl

        # This test's shared hold goes first: two alone tests each waiting for the other's would
        # wait forever. The gate then stops new tests; the exclusive lock waits for the running ones.
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        fcntl.flock(self._gate, fcntl.LOCK_EX)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.exclusive = True

    def release(self) -> None:
        """The measured part is over: other tests may run beside the rest of this one."""
        if self._gate is None or not self.exclusive:
            return
        import fcntl

        # Nobody waits on the lock while this test holds the gate, so the conversion cannot be lost.
        fcntl.flock(self._lock, fcntl.LOCK_SH)
        fcntl.flock(self._gate, fcntl.LOCK_UN)
        self.exclusive = False

    def __enter__(self) -> Alone:
        self.hold()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@pytest.fixture(autouse=True)
def _alone_when_marked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Alone]:
    """Under pytest-xdist, a test marked `alone` runs its measured part while no other test runs
    (each other test holds a shared lock, it an exclusive one; a gate lock keeps new tests from
    starving it). For the few tests whose assertion is a responsiveness bound the issue sets
    (/healthz within 1 s while a 10,000-item poll runs; exit within shutdown_grace): on 2 cores,
    another worker's test beside them measures the machine, not the service. A marked test that
    asks for the `alone` fixture holds the machine only around what it measures (see `Alone`); its
    set-up (a feed to generate, a service to start) shares the machine like any other test's."""
    marked = request.node.get_closest_marker("alone") is not None
    in_test = marked and "alone" in request.fixturenames  # the test takes its hold itself
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        hold = Alone(exclusive=marked and not in_test)
        yield hold
    else:
        import fcntl

        whole = marked and not in_test  # exclusive from set-up to the end
        shared = tmp_path_factory.getbasetemp().parent  # the run's folder, common to every worker
        with open(shared / "alone.gate", "a") as gate, open(shared / "alone.lock", "a") as lock:
            fcntl.flock(gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if whole else fcntl.LOCK_SH)
            finally:
                if not whole:
                    fcntl.flock(gate, fcntl.LOCK_UN)
            hold = Alone(gate, lock, exclusive=whole) if marked else Alone()
            try:
                yield hold
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
                if hold.exclusive:
                    fcntl.flock(gate, fcntl.LOCK_UN)
    if in_test and not hold.held:
        pytest.fail("marked alone, but the test never took its hold (`with alone:` around what it measures)")


@pytest.fixture
def alone(request: pytest.FixtureRequest, _alone_when_marked: Alone) -> Alone:
    """This test's hold on the machine (a test marked `alone` only): `with alone:` around the
    measured part, or `alone.hold()` ... `alone.release()`."""
    if request.node.get_closest_marker("alone") is None:
        pytest.fail("the `alone` fixture is for tests marked alone")
    return _alone_when_marked
