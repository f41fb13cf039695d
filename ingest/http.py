"""The one HTTP client factory for fetching feeds, with the guard against private addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

from newswatch import __version__
from newswatch.config import FetchSettings

USER_AGENT = f"Newswatch/{__version__} (+https://github.com/newswatch/newswatch)"
MAX_REDIRECTS = 5
# 100.64.0.0/10 (carrier-grade NAT) is not `is_private` in Python, so it is listed by hand.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class PrivateAddressError(httpx.TransportError):
    """The feed URL leads to an address that `fetch.allow_private_addresses` does not allow."""


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


class GuardedTransport(httpx.AsyncBaseTransport):
    """Refuses requests whose host resolves to a non-public address (checked on every redirect hop)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from None
        for info in infos:
            address = str(info[4][0])
            if not is_public(address):
                raise PrivateAddressError(
                    f"{host} resolves to non-public address {address}; set"
                    " fetch.allow_private_addresses: true to allow it",
                    request=request,
                )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_client(settings: FetchSettings) -> httpx.AsyncClient:
    """The shared async client for feeds: timeouts, redirects, a User-Agent, and the address guard."""
    timeout = settings.timeout.total_seconds()
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10)
    )
    if not settings.allow_private_addresses:
        transport = GuardedTransport(transport)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": settings.user_agent or USER_AGENT},
    )
