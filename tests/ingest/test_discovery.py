"""WebSub discovery (Link headers, then the document) and the signature of a push."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ingest.discovery import NONE, FeedLinks, discover, document_links, header_links
from ingest.websub import check_signature, sign

HUB, TOPIC = "https://hub.example/", "https://news.example/feed.xml"

RSS = f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>News</title>
<link>https://news.example/</link>
<atom:link rel="hub" href="{HUB}"/><atom:link rel="self" href="{TOPIC}" type="application/rss+xml"/>
<item><guid>1</guid><title>One</title><atom:link rel="hub" href="https://evil.example/hub"/></item>
</channel></rss>""".encode()

ATOM = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://news.example/atom/">
<title>News</title><id>urn:x</id><updated>2026-12-01T00:00:00Z</updated>
<link rel="alternate" href="https://news.example/"/>
<link rel="self" href="feed.atom"/>
<link rel="hub" href="https://hub-one.example/"/><link rel="hub" href="https://hub-two.example/"/>
<entry><id>urn:1</id><title>One</title><updated>2026-12-01T00:00:00Z</updated>
<link rel="hub" href="https://evil.example/hub"/></entry>
</feed>"""


def test_rss_names_its_hub_and_self_in_atom_links_and_entries_are_not_read() -> None:
    assert document_links(RSS, "https://news.example/rss") == FeedLinks((HUB,), TOPIC)


def test_atom_links_resolve_against_xml_base_and_keep_every_hub_in_order() -> None:
    links = document_links(ATOM, "https://news.example/atom")
    assert links == FeedLinks(
        ("https://hub-one.example/", "https://hub-two.example/"), "https://news.example/atom/feed.atom"
    )
    assert links.usable


def test_json_feed_hubs_and_feed_url() -> None:
    body = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "J",
    "feed_url": "https://news.example/feed.json",
    "hubs": [{"type": "WebSub", "url": "https://hub.example/"}, {"type": "rssCloud", "url": "https://c/"}],
    "items": []}"""
    links = document_links(body, "https://news.example/feed.json", "application/feed+json")
    assert links == FeedLinks(("https://hub.example/",), "https://news.example/feed.json")


@pytest.mark.parametrize(
    "body",
    [
        b"<rss><channel><atom:link rel='hub' href='x'/>",  # ill-formed
        b"<html><head><link rel='hub' href='https://hub.example/'></head></html>",  # not a feed
        b'<rss version="2.0"><channel><link>https://news.example/</link></channel></rss>',  # no hub
        b"{not json",
    ],
)
def test_documents_without_websub_name_nothing(body: bytes) -> None:
    assert not document_links(body, "https://news.example/").usable


def test_non_http_and_overlong_urls_are_ignored() -> None:
    body = (
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        '<atom:link rel="hub" href="javascript:alert(1)"/><atom:link rel="hub" href="file:///etc/passwd"/>'
        f'<atom:link rel="hub" href="https://hub.example/{"a" * 3000}"/>'
        f'<atom:link rel="self" href="{TOPIC}"/></channel></rss>'
    ).encode()
    assert document_links(body, "https://news.example/") == FeedLinks((), TOPIC)


def test_link_headers_quoted_unquoted_several_rels_and_relative() -> None:
    value = '<https://hub.example/a,b>; rel=hub; title="x, y", </feed.xml>; rel="self alternate"'
    assert header_links(value, "https://news.example/path") == FeedLinks(
        ("https://hub.example/a,b",), "https://news.example/feed.xml"
    )
    assert header_links(None) == NONE
    assert header_links('<https://news.example/>; rel="alternate"') == NONE


def test_headers_come_first_and_the_document_is_read_only_without_them() -> None:
    document = FeedLinks(("https://doc-hub.example/",), "https://news.example/doc-self")
    headers = '<https://header-hub.example/>; rel="hub", <https://news.example/header-self>; rel="self"'
    assert discover(headers, document) == FeedLinks(
        ("https://header-hub.example/",), "https://news.example/header-self"
    )
    assert discover(None, document) == document
    # A hub in the headers and the self link only in the document: both are used.
    assert discover('<https://header-hub.example/>; rel="hub"', document) == FeedLinks(
        ("https://header-hub.example/",), "https://news.example/doc-self"
    )


@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
def test_a_signature_by_the_subscription_secret_is_accepted(algorithm: str) -> None:
    body, secret = b"<rss>...</rss>", "s3cret"
    digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    assert check_signature(f"{algorithm}={digest}", body, secret).ok
    assert check_signature(f"{algorithm.upper()}={digest.upper()}", body, secret).ok
    assert sign(body, secret, algorithm) == f"{algorithm}={digest}"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no X-Hub-Signature"),
        ("", "no X-Hub-Signature"),
        ("md5=abc", "unsupported signature method 'md5'"),
        ("sha512=" + "0" * 128, "unsupported signature method 'sha512'"),
        ("sha256", "unsupported signature method"),
        ("sha256=" + "0" * 64, "sha256 signature does not match"),
        ("sha256=é", "does not match"),
    ],
)
def test_anything_else_is_refused_with_its_reason(header: str | None, reason: str) -> None:
    verdict = check_signature(header, b"<rss>...</rss>", "s3cret")
    assert not verdict.ok and reason in verdict.reason
    wrong_key = sign(b"<rss>...</rss>", "another")
    assert not check_signature(wrong_key, b"<rss>...</rss>", "s3cret").ok
