"""Full text, the network half: an item's linked page fetched safely and politely.

Safely: through the one client factory (ingest/http.py), hop by hop like a feed (ingest/sources/feed.py),
so the private-address guard checks every redirect, and `fetch.max_bytes`, the timeouts and the
decompression limits hold. Politely: at most `full_text.per_host` requests at once to one host, their
starts `full_text.host_delay` apart (or a robots.txt Crawl-delay, if longer), and nothing robots.txt
disallows (stdlib `urllib.robotparser`, cached per host). The CPU half is ingest/fulltext.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from core.config import MAX_HOST_DELAY, FetchSettings, FullTextSettings
from ingest.http import USER_AGENT
from ingest.sources.feed import FeedFetchError, fetch_feed

log = logging.getLogger(__name__)

ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
HTML_TYPES = frozenset({"", "text/html", "application/xhtml+xml"})
# robots.txt: read at most this much (Google reads 500 KiB), kept this long, and a host whose
# robots.txt could not be read is asked again after ROBOTS_RETRY.
ROBOTS_BYTES = 512 * 1024
ROBOTS_TTL = 24 * 3600.0
ROBOTS_RETRY = 600.0
ROBOTS_HOSTS = 10_000  # hosts whose robots.txt is kept (the least recently used go first)


def _origin(url: str) -> str:
    """`scheme://host[:port]` of `url`, lower case, without any user name or password: the key of
    the per-host limits and of the robots.txt cache."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


class PageError(Exception):
    """A page that was not fetched, and why (a robots.txt rule, a refused address, too large, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PageBody:
    """A fetched page: its bytes as sent (decompressed), and where it was read after redirects."""

    body: bytes
    url: str
    content_type: str


@dataclass
class _Host:
    slots: asyncio.Semaphore
    starting: asyncio.Lock  # one request at a time waits for its start, so starts keep their spacing
    next_start: float = 0.0  # the event loop's clock: no request to the host starts before it
    users: int = 0


class HostGate:
    """At most `per_host` requests at once to one host, their starts at least a delay apart."""

    def __init__(self, per_host: int, delay: float) -> None:
        self.per_host = per_host
        self.delay = delay
        self._hosts: dict[str, _Host] = {}

    @asynccontextmanager
    async def slot(self, host: str, delay: float | None = None) -> AsyncIterator[None]:
        """Wait for a turn at `host` (`delay`: this host's own, e.g. its Crawl-delay), and hold it."""
        loop = asyncio.get_running_loop()
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) > 1000:
                self._sweep(loop.time())
            state = self._hosts[host] = _Host(asyncio.Semaphore(self.per_host), asyncio.Lock())
        state.users += 1
        try:
            async with state.slots:
                async with state.starting:
                    wait = state.next_start - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    # From when this request really starts: a late wake-up does not shorten the gap.
                    state.next_start = loop.time() + (self.delay if delay is None else delay)
                yield
        finally:
            state.users -= 1

    def _sweep(self, now: float) -> None:
        for host in [h for h, s in self._hosts.items() if s.users == 0 and s.next_start <= now]:
            del self._hosts[host]


@dataclass(frozen=True)
class _Robots:
    parser: RobotFileParser | None  # None: unreadable, so nothing is fetched from the host for now
    problem: str | None
    until: float  # time.monotonic() after which it is read again


class RobotsCache:
    """Each host's robots.txt, read once (through the same guarded client) and kept a day.

    As `urllib.robotparser` reads an answer: 401/403 disallow everything, another 4xx (no robots.txt)
    allows everything. A 5xx, a refused address, a timeout or an oversized file disallow everything
    until it is asked again (ROBOTS_RETRY): when a site's rules cannot be read, none of its pages are."""

    def __init__(self, client: httpx.AsyncClient, settings: FetchSettings, user_agent: str) -> None:
        self._client = client
        self._settings = settings
        self.user_agent = user_agent
        self._hosts: OrderedDict[str, _Robots] = OrderedDict()
        self._reading: dict[str, asyncio.Future[_Robots]] = {}

    async def check(self, url: str, gate: HostGate) -> float | None:
        """Raise PageError when robots.txt does not let this user agent fetch `url`; else return the
        host's Crawl-delay in seconds (None when it sets none)."""
        origin = _origin(url)
        robots = await self._robots(origin, gate)
        if robots.parser is None:
            raise PageError(f"robots.txt of {origin} could not be read ({robots.problem}); page not fetched")
        if not robots.parser.can_fetch(self.user_agent, url):
            raise PageError(f"robots.txt of {origin} disallows {url}")
        delay = robots.parser.crawl_delay(self.user_agent)
        return float(delay) if delay is not None else None

    async def _robots(self, origin: str, gate: HostGate) -> _Robots:
        known = self._hosts.get(origin)
        if known is not None and known.until > time.monotonic():
            self._hosts.move_to_end(origin)
            return known
        reading = self._reading.get(origin)
        if reading is not None:  # another page of this host is reading it: wait for that
            try:
                return await asyncio.shield(reading)
            except asyncio.CancelledError:
                if not reading.cancelled():
                    raise  # this wait was cancelled, not the reading
                return await self._robots(origin, gate)
        future: asyncio.Future[_Robots] = asyncio.get_running_loop().create_future()
        self._reading[origin] = future
        try:
            async with gate.slot(origin):
                robots = await self._read(origin)
            future.set_result(robots)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting for it
            raise
        finally:
            del self._reading[origin]
        self._hosts[origin] = robots
        self._hosts.move_to_end(origin)
        while len(self._hosts) > ROBOTS_HOSTS:
            self._hosts.popitem(last=False)
        return robots

    async def _read(self, origin: str) -> _Robots:
        url = f"{origin}/robots.txt"
        now = time.monotonic()
        parser = RobotFileParser(url)
        try:
            result = await fetch_feed(
                self._client,
                "robots.txt",
                url,
                max_bytes=min(self._settings.max_bytes, ROBOTS_BYTES),
                deadline=self._settings.fetch_deadline.total_seconds(),
                max_redirects=self._settings.max_redirects,
            )
        except FeedFetchError as exc:
            if exc.status in (401, 403):
                parser.parse(["User-agent: *", "Disallow: /"])
                return _Robots(parser, None, now + ROBOTS_TTL)
            if exc.status is not None and 400 <= exc.status < 500:
                parser.parse([])  # nothing disallowed
                return _Robots(parser, None, now + ROBOTS_TTL)
            log.warning("robots.txt of %s could not be read: %s", origin, exc.reason)
            return _Robots(None, exc.reason, now + ROBOTS_RETRY)
        parser.parse(result.body.decode("utf-8", errors="replace").splitlines())
        return _Robots(parser, None, now + ROBOTS_TTL)


class PageFetcher:
    """Fetches items' linked pages for one service: one guarded client, one gate, one robots cache."""

    def __init__(self, client: httpx.AsyncClient, fetch: FetchSettings, full_text: FullTextSettings) -> None:
        self._client = client
        self._settings = fetch
        self.gate = HostGate(full_text.per_host, full_text.host_delay.total_seconds())
        self.robots = RobotsCache(client, fetch, fetch.user_agent or USER_AGENT)
        self._at_once = asyncio.Semaphore(fetch.concurrency)  # pages at once in all: the client's pool

    async def fetch(self, url: str) -> PageBody:
        """GET the page at `url`, politely; raise PageError saying why it was not fetched."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PageError(f"{url[:200]!r} is not an http(s) link")
        crawl_delay = await self.robots.check(url, self.gate)
        delay = None
        if crawl_delay is not None:
            delay = min(max(crawl_delay, self.gate.delay), MAX_HOST_DELAY.total_seconds())
        origin = _origin(url)
        async with self.gate.slot(origin, delay), self._at_once:
            try:
                result = await fetch_feed(
                    self._client,
                    "page",
                    url,
                    headers={"Accept": ACCEPT},
                    max_bytes=self._settings.max_bytes,
                    deadline=self._settings.fetch_deadline.total_seconds(),
                    max_redirects=self._settings.max_redirects,
                )
            except FeedFetchError as exc:
                raise PageError(exc.reason) from None
        kind = result.content_type.split(";", 1)[0].strip().lower()
        if kind not in HTML_TYPES:
            raise PageError(f"{result.url} is not an HTML page (Content-Type: {kind})")
        return PageBody(result.body, result.url, result.content_type)
