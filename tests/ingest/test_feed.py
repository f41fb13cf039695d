"""The feed source against a real HTTP server on loopback: validators, limits, redirects, the guard."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import brotli
import pytest

from core.config import FetchSettings
from ingest.http import PrivateAddressError, is_public, make_client
from ingest.models import RawItem
from ingest.parse import parse_feed
from ingest.sources.feed import FeedFetchError, FeedResult, fetch_feed
from tests.conftest import HttpServer, Served

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title>
<item><title>Council passes budget</title><link>https://news.example/1</link><guid>n-1</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><description>The council met.</description></item>
</channel></rss>"""

LOOPBACK_OK = FetchSettings(allow_private_addresses=True, timeout=timedelta(seconds=5))
MiB = 1024 * 1024


def fetch(url: str, settings: FetchSettings = LOOPBACK_OK, **kwargs: Any) -> FeedResult:
    """One fetch with a fresh client, as the service does it."""
    client_kwargs = {k: kwargs.pop(k) for k in ("resolver", "address_allowed") if k in kwargs}

    async def go() -> FeedResult:
        async with make_client(settings, **client_kwargs) as client:
            return await fetch_feed(
                client,
                "wire",
                url,
                max_bytes=kwargs.pop("max_bytes", settings.max_bytes),
                deadline=kwargs.pop("deadline", 5.0),
                **kwargs,
            )

    return asyncio.run(go())


def items(result: FeedResult) -> list[RawItem]:
    """The items of a fetched body, parsed as the process stage parses them."""
    return parse_feed("wire", result.body, result.url, result.content_type) if result.body else []


def test_etag_and_last_modified_round_trip_and_304_has_no_items(http_server: HttpServer) -> None:
    http_server.routes["/rss"] = Served(
        RSS, etag='"v1"', headers={"Last-Modified": "Tue, 24 Nov 2026 10:00:00 GMT"}
    )
    first = fetch(http_server.url("/rss"))
    assert first.status == 200 and [i.title for i in items(first)] == ["Council passes budget"]
    assert first.etag == '"v1"' and first.last_modified == "Tue, 24 Nov 2026 10:00:00 GMT"

    second = fetch(http_server.url("/rss"), etag=first.etag, last_modified=first.last_modified)
    sent = http_server.gets[-1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Tue, 24 Nov 2026 10:00:00 GMT"
    assert second.status == 304 and items(second) == [] and second.etag == '"v1"'


def test_user_agent_names_the_project_and_per_source_headers_are_sent(http_server: HttpServer) -> None:
    http_server.routes["/rss"] = Served(RSS)
    fetch(http_server.url("/rss"))
    fetch(http_server.url("/rss"), headers={"User-Agent": "Desk/2", "X-Key": "k"})
    assert http_server.gets[0].headers["User-Agent"].startswith("Newswatch/")
    assert http_server.gets[1].headers["User-Agent"] == "Desk/2"
    assert http_server.gets[1].headers["X-Key"] == "k"
    assert "gzip" in http_server.gets[0].headers["Accept-Encoding"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
        ("br", brotli.compress),
    ],
)
def test_compressed_body_is_decoded(http_server: HttpServer, encoding: str, compress: Any) -> None:
    http_server.routes["/rss"] = Served(compress(RSS), headers={"Content-Encoding": encoding})
    assert [i.key for i in items(fetch(http_server.url("/rss")))] == ["n-1"]


def test_brotli_bomb_is_refused(http_server: HttpServer) -> None:
    bomb = brotli.compress(b"\0" * (64 * MiB))
    assert len(bomb) < 10 * 1024
    http_server.routes["/bomb"] = Served(bomb, headers={"Content-Encoding": "br"})
    with pytest.raises(FeedFetchError, match="decompressed body is larger than 1048576 bytes"):
        fetch(http_server.url("/bomb"), max_bytes=MiB)


def test_oversize_body_is_refused(http_server: HttpServer) -> None:
    http_server.routes["/big"] = Served(RSS + b" " * (2 * MiB))
    with pytest.raises(FeedFetchError, match=r"refused: body is \d+ bytes, more than 1048576"):
        fetch(http_server.url("/big"), max_bytes=MiB)


def test_gzip_bomb_is_refused_before_it_inflates(http_server: HttpServer) -> None:
    bomb = gzip.compress(b"\0" * (64 * MiB), compresslevel=9)
    assert len(bomb) < 100 * 1024  # small on the wire
    http_server.routes["/bomb"] = Served(bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FeedFetchError, match="decompressed body is larger than 1048576 bytes"):
        fetch(http_server.url("/bomb"), max_bytes=MiB)


def test_slow_drip_hits_the_overall_deadline(http_server: HttpServer) -> None:
    # Each byte arrives well inside the read timeout; only the deadline for the whole fetch stops it.
    http_server.routes["/drip"] = Served(RSS, drip=0.05)
    settings = FetchSettings(allow_private_addresses=True, timeout=timedelta(seconds=1))
    with pytest.raises(FeedFetchError, match=r"no complete answer .* within 0.5s"):
        fetch(http_server.url("/drip"), settings, deadline=0.5)


def test_redirect_loop_is_an_error(http_server: HttpServer) -> None:
    http_server.routes["/a"] = Served(b"", status=302, headers={"Location": "/b"})
    http_server.routes["/b"] = Served(b"", status=302, headers={"Location": "/a"})
    with pytest.raises(FeedFetchError, match="redirect loop"):
        fetch(http_server.url("/a"))
    assert [g.path for g in http_server.gets] == ["/a", "/b"]


def test_too_many_redirects(http_server: HttpServer) -> None:
    for i in range(4):
        http_server.routes[f"/r{i}"] = Served(b"", status=307, headers={"Location": f"/r{i + 1}"})
    with pytest.raises(FeedFetchError, match="more than 2 redirects"):
        fetch(http_server.url("/r0"), max_redirects=2)


def test_permanent_redirects_report_the_new_url_and_temporary_ones_do_not(http_server: HttpServer) -> None:
    http_server.routes["/old"] = Served(b"", status=301, headers={"Location": "/mid"})
    http_server.routes["/mid"] = Served(b"", status=308, headers={"Location": "/rss"})
    http_server.routes["/temp"] = Served(b"", status=302, headers={"Location": "/rss"})
    http_server.routes["/rss"] = Served(RSS)
    assert fetch(http_server.url("/old")).moved_to == http_server.url("/rss")
    assert fetch(http_server.url("/temp")).moved_to is None


def test_http_errors_carry_status_and_retry_after(http_server: HttpServer) -> None:
    http_server.routes["/busy"] = Served(b"slow down", status=429, headers={"Retry-After": "120"})
    http_server.routes["/gone"] = Served(b"", status=410)
    with pytest.raises(FeedFetchError) as busy:
        fetch(http_server.url("/busy"))
    assert busy.value.status == 429 and busy.value.retry_after == "120"
    with pytest.raises(FeedFetchError) as gone:
        fetch(http_server.url("/gone"))
    assert gone.value.gone


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_loopback_feed_is_refused_by_default_and_allowed_by_the_flag(http_server: HttpServer) -> None:
    http_server.routes["/rss"] = Served(RSS)
    with pytest.raises(FeedFetchError, match=r"non-public address 127\.0\.0\.1"):
        fetch(http_server.url("/rss"), FetchSettings())
    assert http_server.gets == []
    assert fetch(http_server.url("/rss"), FetchSettings(allow_private_addresses=True)).status == 200


@pytest.fixture
def any_interface() -> Iterator[HttpServer]:
    """A feed server on every local address, so 127.0.0.2 and 127.0.0.1 reach the same server."""
    server = HttpServer("0.0.0.0")
    yield server
    server.close()


# 127.0.0.2 stands in for a public address: the public internet is the one thing tests may mock.
def _stand_in_public(address: str) -> bool:
    return address == "127.0.0.2"


def test_made_up_name_resolving_to_loopback_is_refused_at_connect(any_interface: HttpServer) -> None:
    any_interface.routes["/rss"] = Served(RSS)

    async def resolver(host: str, port: int) -> list[str]:
        return {"feeds.example.test": ["127.0.0.1"], "ok.example.test": ["127.0.0.2"]}[host]

    url = f"http://feeds.example.test:{any_interface.port}/rss"
    with pytest.raises(FeedFetchError, match=r"example\.test resolves to non-public address 127\.0\.0\.1"):
        fetch(url, FetchSettings(), resolver=resolver, address_allowed=_stand_in_public)
    ok = fetch(
        f"http://ok.example.test:{any_interface.port}/rss",
        FetchSettings(),
        resolver=resolver,
        address_allowed=_stand_in_public,
    )
    assert ok.status == 200
    assert [(g.path, g.local_address) for g in any_interface.gets] == [("/rss", "127.0.0.2")]
    assert any_interface.gets[0].headers["Host"] == f"ok.example.test:{any_interface.port}"


def test_redirect_from_allowed_host_to_private_one_is_refused(any_interface: HttpServer) -> None:
    any_interface.routes["/start"] = Served(
        b"", status=302, headers={"Location": any_interface.url("/rss", host="127.0.0.1")}
    )
    any_interface.routes["/rss"] = Served(RSS)
    with pytest.raises(FeedFetchError, match=r"non-public address 127\.0\.0\.1"):
        fetch(
            any_interface.url("/start", host="127.0.0.2"), FetchSettings(), address_allowed=_stand_in_public
        )
    assert [(g.path, g.local_address) for g in any_interface.gets] == [("/start", "127.0.0.2")]


def test_dns_rebinding_cannot_swap_the_checked_address(any_interface: HttpServer) -> None:
    """The name is resolved once per connection and that very address is connected to."""
    any_interface.routes["/rss"] = Served(RSS)
    answers = iter([["127.0.0.2"], ["127.0.0.1"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    url = f"http://rebind.example.test:{any_interface.port}/rss"
    assert fetch(url, FetchSettings(), resolver=rebinding, address_allowed=_stand_in_public).status == 200
    with pytest.raises(FeedFetchError, match="non-public"):
        fetch(url, FetchSettings(), resolver=rebinding, address_allowed=_stand_in_public)
    assert [g.local_address for g in any_interface.gets] == ["127.0.0.2"]


def test_mixed_answers_are_refused(any_interface: HttpServer) -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]

    with pytest.raises(PrivateAddressError):
        asyncio.run(_connect(mixed))


async def _connect(resolver: Any) -> None:
    async with make_client(FetchSettings(), resolver=resolver, address_allowed=_stand_in_public) as client:
        await client.get("http://mixed.example.test:9/")
