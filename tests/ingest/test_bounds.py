"""What servers and feeds supply is bounded at the edge: Retry-After, URLs, private addresses, titles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.config import FetchSettings, url_problem
from ingest.clean import TITLE_CHARS, clean, one_line_title
from ingest.http import InvalidURLError, PrivateAddressError, make_client, parse_url, private_allowance
from ingest.models import ContentKind, RawItem
from ingest.sources.feed import MAX_RETRY_AFTER, parse_retry_after
from tests.conftest import HttpServer, Served, one_story_rss

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("120", timedelta(seconds=120)),
        (" 0 ", timedelta(0)),
        ("99999999999999999999", MAX_RETRY_AFTER),  # overflowed timedelta before
        ("1" * 5000, MAX_RETRY_AFTER),  # more digits than int() reads
        ("0" * 40 + "7", timedelta(seconds=7)),
        ("Tue, 01 Dec 2026 12:01:00 GMT", timedelta(minutes=1)),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Sun, 01 Jan 2017 00:00:00 GMT", timedelta(0)),  # in the past: no wait
        ("٣٣", None),  # Arabic-Indic digits are digits to str.isdigit, not to HTTP
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_bounded(header: str | None, wait: timedelta | None) -> None:
    assert parse_retry_after(header, NOW) == wait


def test_retry_after_takes_a_smaller_limit() -> None:
    assert parse_retry_after("99999999999999999999", NOW, timedelta(hours=6)) == timedelta(hours=6)
    assert parse_retry_after("60", NOW, timedelta(hours=6)) == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://0177.0.0.1:8080/", "Invalid IPv4 address"),
        ("http://[::1/", "is not a URL that can be fetched"),
        ("http://a..b/", "is not a URL that can be fetched"),
        ("http://" + "a" * 64 + ".example/", "is not a URL that can be fetched"),
        ("http://xn--/", "is not a URL that can be fetched"),
        ("http://127.0.0.1:99999/", "a port is 1 to 65535"),
        ("ftp://example.org/", "is not an http:// or https:// URL"),
    ],
)
def test_a_url_httpx_cannot_request_is_one_error_in_the_same_words(url: str, says: str) -> None:
    problem = url_problem(url)
    assert problem is not None and says in problem
    with pytest.raises(InvalidURLError) as caught:
        parse_url(url)
    assert str(caught.value) == problem  # the config error and the poll failure read the same
    assert isinstance(caught.value, httpx.HTTPError)  # a fetch's failure, not a crash


def test_a_redirect_location_is_joined_and_checked() -> None:
    base = httpx.URL("http://127.0.0.1:8080/feed")
    assert parse_url("/other", base) == httpx.URL("http://127.0.0.1:8080/other")
    with pytest.raises(InvalidURLError, match="Invalid IPv4 address"):
        parse_url("http://0177.0.0.1/", base)


@pytest.mark.parametrize(
    "url", ["http://0177.0.0.1:9/", "http://xn--/", "http://a..b/", "http://127.0.0.1:65536/"]
)
def test_the_feed_client_fails_such_urls_as_http_errors(url: str) -> None:
    async def get() -> None:
        settings = FetchSettings(allow_private_addresses=True, timeout=timedelta(seconds=2))
        async with make_client(settings) as client:
            await client.get(url)

    with pytest.raises(httpx.HTTPError):
        asyncio.run(get())


def test_private_addresses_allowed_by_network_and_by_host_name(http_server: HttpServer) -> None:
    allowed, hosts = private_allowance(["127.0.0.1/32", "10.20.0.0/16", "Intranet.Example."])
    assert allowed("127.0.0.1") and allowed("10.20.3.4") and allowed("::ffff:10.20.3.4")
    assert allowed("93.184.216.34")  # public addresses stay allowed
    assert not allowed("127.0.0.2") and not allowed("169.254.169.254") and not allowed("10.21.0.1")
    assert hosts == {"intranet.example"}

    http_server.routes["/rss"] = Served(one_story_rss("x"))

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host in ("intranet.example", "other.example") else []

    async def get(host: str) -> int:
        settings = FetchSettings(allow_private_addresses=["intranet.example"])
        async with make_client(settings, resolver=resolver) as client:
            return (await client.get(f"http://{host}:{http_server.port}/rss")).status_code

    assert asyncio.run(get("intranet.example")) == 200  # the name is listed: its address is allowed
    with pytest.raises(PrivateAddressError, match=r"non-public address 127\.0\.0\.1"):
        asyncio.run(get("other.example"))  # the same address under a name not on the list
    assert len(http_server.gets) == 1


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Putin\nin Paris", "Putin in Paris"),
        ("  a\r\n\tb\u2028c  ", "a b c"),
        ("short", "short"),
        ("", ""),
    ],
)
def test_one_line_title(title: str, expected: str) -> None:
    assert one_line_title(title) == expected


def test_a_long_title_is_cut_at_a_word_with_an_ellipsis() -> None:
    title = one_line_title("word " * 100_000)
    assert len(title) <= TITLE_CHARS and title.endswith("word…")
    unbroken = one_line_title("x" * 5000)
    assert unbroken == "x" * (TITLE_CHARS - 1) + "…"


def test_clean_decodes_newline_entities_in_a_title_to_spaces() -> None:
    item = RawItem("wire", "k", "<p>Body.</p>", ContentKind.HTML, title="Putin&#10;in&#13;&#10;Paris")
    assert clean(item).title == "Putin in Paris"
    huge = RawItem("wire", "k", "<p>Body.</p>", ContentKind.HTML, title="Putin " * 2_000_000)
    assert len(clean(huge).title) <= TITLE_CHARS
