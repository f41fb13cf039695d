"""The one HTTP client factory for fetching feeds, with the guard against private addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
import zlib
from collections.abc import Awaitable, Callable, Iterable

import brotli
import httpcore
import httpx

from core.config import FetchSettings, url_problem
from core.version import __version__

# What feed requests and outgoing webhooks say they are (alerts/channels/webhook.py uses it too).
USER_AGENT = f"Newswatch/{__version__} (+https://github.com/newswatch/newswatch)"
ACCEPT_ENCODING = "gzip, deflate, br"
# 100.64.0.0/10 (carrier-grade NAT) is not `is_private` in Python, so it is listed by hand.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")

Resolver = Callable[[str, int], Awaitable[list[str]]]
AddressPolicy = Callable[[str], bool]
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class PrivateAddressError(httpx.TransportError):
    """The feed URL leads to an address that `fetch.allow_private_addresses` does not allow."""


class InvalidURLError(httpx.RequestError):
    """A URL httpx cannot request (`http://0177.0.0.1/`, a 64-character label, port 99999): an
    httpx.HTTPError like any other failed request, so a poll reports it as that source's failure,
    in the words `check` uses for the same URL in the config (core/config.py `url_problem`)."""


def parse_url(url: str | httpx.URL, base: httpx.URL | None = None) -> httpx.URL:
    """`url` (joined to `base` when given, as a redirect's Location is) as httpx reads it; raises
    InvalidURLError, never httpx.InvalidURL or a UnicodeError, for a URL that cannot be requested."""
    try:
        target = base.join(url) if base is not None else httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise InvalidURLError(f"{str(url)[:200]!r} is not a URL that can be fetched: {exc}") from None
    problem = url_problem(str(target))
    if problem is not None:
        raise InvalidURLError(problem)
    return target


def is_public(address: str) -> bool:
    """Whether an IP address is a public unicast address a feed may live at."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or ip in _CGNAT
    )


def _any_address(address: str) -> bool:
    return True


def private_allowance(setting: bool | list[str]) -> tuple[AddressPolicy, frozenset[str]]:
    """What `fetch.allow_private_addresses` allows: an address policy, and the host names whose
    addresses are allowed whatever they are. `true` allows every address; a list allows public
    addresses, the listed networks (CIDR) and the listed host names; `false` public addresses only."""
    if setting is True:
        return _any_address, frozenset()
    if not setting:
        return is_public, frozenset()
    networks, hosts = [], set()
    for entry in setting:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))

    def allowed(address: str) -> bool:
        if is_public(address):
            return True
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in networks)

    return allowed, frozenset(hosts)


def _refusal(host: str, address: str) -> str:
    return (
        f"{host} resolves to non-public address {address}; list it (or its network, or the host name)"
        " in fetch.allow_private_addresses, or set it to true, to allow it"
    )


def refused_without_lookup(url: str, setting: bool | list[str]) -> str | None:
    """The guard's refusal of `url` that is certain before any DNS lookup, in the words a poll would
    fail with: its host is an IP address, or `localhost`, that `setting` (fetch.allow_private_addresses)
    does not allow. `newswatch check` reports it. A host name's addresses are only known at poll time."""
    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, ValueError):
        return None  # url_problem's to report
    allowed, hosts = private_allowance(setting)
    name = host.lower().rstrip(".")
    if name in hosts:
        return None
    if name == "localhost" or name.endswith(".localhost"):  # loopback by definition (RFC 6761)
        address = "127.0.0.1"
    else:
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            return None
    return None if allowed(address) else _refusal(host, address)


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the order the system prefers them."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host once, connects to a checked address, and checks the socket's peer again.

    Checking at connect time (not before the request) covers every redirect hop and DNS rebinding:
    the address that is checked is the address that is connected to.
    """

    def __init__(
        self,
        allowed: AddressPolicy,
        resolver: Resolver = system_resolver,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self._allowed = allowed
        self._resolve = resolver
        self._hosts = allowed_hosts  # host names whose addresses are all allowed (by configuration)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (OSError, ValueError, OverflowError) as exc:  # UnicodeError: a label idna cannot encode
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        allowed = self._allowed
        if host.lower().rstrip(".") in self._hosts:
            allowed = _any_address
        refused = [a for a in addresses if not allowed(a)]
        if refused:
            # One private answer is enough to refuse: a name that mixes public and private addresses
            # is how rebinding attacks pick the private one later.
            raise PrivateAddressError(_refusal(host, refused[0]))
        last: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
                continue
            except (OSError, ValueError, OverflowError, ExceptionGroup) as exc:  # port 99999, ...
                while isinstance(exc, ExceptionGroup) and exc.exceptions:
                    exc = exc.exceptions[0]  # anyio's task group wraps the socket's own error
                last = httpcore.ConnectError(f"cannot connect to {host} port {port}: {exc}")
                continue
            peer = stream.get_extra_info("server_addr")
            peer_address = str(peer[0]) if peer else address
            if not allowed(peer_address):
                await stream.aclose()
                raise PrivateAddressError(f"{host} connected to non-public address {peer_address}")
            return stream
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("feeds are fetched over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _FeedClient(httpx.AsyncClient):
    """httpx's client, whose requests refuse a URL it cannot use as an httpx.HTTPError (not
    httpx.InvalidURL, a UnicodeError or idna's errors, which no fetch would expect)."""

    def build_request(self, method: str, url: httpx.URL | str, **kwargs: typing.Any) -> httpx.Request:
        try:
            return super().build_request(method, url, **kwargs)
        except (httpx.InvalidURL, ValueError) as exc:
            raise InvalidURLError(f"{str(url)[:200]!r} is not a URL that can be fetched: {exc}") from None


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool built on the guarded network backend."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx takes no network backend argument, so the pool it built is swapped for one that uses
        # ours (same settings: HTTP/1.1 keep-alive, the default TLS context). httpx is pinned below 1.0.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )


def make_client(
    settings: FetchSettings,
    *,
    resolver: Resolver = system_resolver,
    address_allowed: AddressPolicy | None = None,
) -> httpx.AsyncClient:
    """The shared async client for feeds: timeouts, keep-alive, a User-Agent, and the address guard.

    Redirects are not followed here: the feed source follows them itself, hop by hop, to notice
    permanent moves. `resolver` and `address_allowed` exist for tests (a made-up name on loopback).
    """
    timeout = settings.timeout.total_seconds()
    policy, hosts = private_allowance(settings.allow_private_addresses)
    if address_allowed is None:
        address_allowed = policy
    limits = httpx.Limits(
        max_connections=settings.concurrency,
        max_keepalive_connections=settings.concurrency,
        keepalive_expiry=30.0,
    )
    return _FeedClient(
        transport=_GuardedTransport(GuardedBackend(address_allowed, resolver, hosts), limits),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would hide the address actually connected
        headers={"User-Agent": settings.user_agent or USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
    )


class BodyTooLargeError(Exception):
    """A response body, raw or decompressed, went past `fetch.max_bytes`."""


class _Decoder(typing.Protocol):
    def feed(self, chunk: bytes) -> bytes: ...


class _Identity:
    def feed(self, chunk: bytes) -> bytes:
        return chunk


class _Zlib:
    """gzip or deflate, decompressed in bounded steps so a bomb never inflates past the cap."""

    def __init__(self, encoding: str, limit: int) -> None:
        # 47 = 32 (detect gzip or zlib header) + 15; raw deflate (no header) is retried below.
        self._zlib = zlib.decompressobj(47 if encoding == "gzip" else 15)
        self._encoding = encoding
        self._limit = limit
        self._started = False

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray()
        data = chunk
        while data:
            try:
                piece = self._zlib.decompress(data, self._limit + 1 - len(out))
            except zlib.error:
                if self._encoding == "deflate" and not self._started:
                    self._zlib = zlib.decompressobj(-15)
                    self._started = True
                    continue
                raise
            self._started = True
            out += piece
            if len(out) > self._limit:
                raise BodyTooLargeError(f"decompressed body is larger than {self._limit} bytes")
            data = self._zlib.unconsumed_tail
            if not piece and not data:
                break
        return bytes(out)


class _Brotli:
    def __init__(self, limit: int) -> None:
        self._brotli = brotli.Decompressor()
        self._limit = limit

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray(self._brotli.process(chunk, output_buffer_limit=self._limit + 1))
        while (
            len(out) <= self._limit
            and not self._brotli.is_finished()
            and not self._brotli.can_accept_more_data()
        ):
            out += self._brotli.process(b"", output_buffer_limit=self._limit + 1 - len(out))
        if len(out) > self._limit:
            raise BodyTooLargeError(f"decompressed body is larger than {self._limit} bytes")
        return bytes(out)


def _decoder(content_encoding: str, limit: int) -> _Decoder:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Zlib("gzip" if encoding != "deflate" else "deflate", limit)
    if encoding == "br":
        return _Brotli(limit)
    raise httpx.DecodingError(f"unsupported Content-Encoding {content_encoding!r}")


async def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body of a streamed response, refused as soon as it (raw or decoded) passes max_bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLargeError(f"body is {declared} bytes, more than {max_bytes}")
    decoder = _decoder(response.headers.get("content-encoding", ""), max_bytes)
    raw = 0
    body = bytearray()
    async for chunk in response.aiter_raw():
        raw += len(chunk)
        if raw > max_bytes:
            raise BodyTooLargeError(f"body is larger than {max_bytes} bytes")
        try:
            body += decoder.feed(chunk)
        except (zlib.error, brotli.error) as exc:
            raise httpx.DecodingError(f"cannot decompress body: {exc}") from None
        if len(body) > max_bytes:
            raise BodyTooLargeError(f"decompressed body is larger than {max_bytes} bytes")
    return bytes(body)
