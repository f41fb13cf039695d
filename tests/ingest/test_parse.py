"""Feed parsing: every format, hostile XML, broken and non-UTF-8 feeds; fast path vs the reference."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import FetchSettings
from ingest.http import make_client
from ingest.parse import parse_fast, parse_feed, parse_reference, without_doctype
from ingest.sources.feed import fetch_feed
from tests.conftest import HttpServer, Served

WHEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

FORMATS: dict[str, tuple[bytes, str]] = {
    "rss 0.91": (
        b"""<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>W</title><link>https://news.example/</link><description>d</description>
<item><title>Mayor resigns</title><link>https://news.example/1</link><description>Text.</description></item>
</channel></rss>""",
        "",
    ),
    "rss 1.0": (
        b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example/"><title>W</title><link>https://news.example/</link>
<description>d</description></channel>
<item rdf:about="https://news.example/1"><title>Mayor resigns</title><link>https://news.example/1</link>
<dc:date>2026-11-24T10:00:00Z</dc:date><description>Text.</description></item>
</rdf:RDF>""",
        "",
    ),
    "rss 2.0": (
        b"""<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>
<item><title>Mayor resigns</title><link>https://news.example/1</link><guid>https://news.example/1</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><description>Text.</description></item>
</channel></rss>""",
        "",
    ),
    "atom 0.3": (
        b"""<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>W</title>
<entry><title>Mayor resigns</title><link rel="alternate" type="text/html" href="https://news.example/1"/>
<id>https://news.example/1</id><issued>2026-11-24T10:00:00Z</issued><modified>2026-11-24T10:00:00Z</modified>
<summary>Text.</summary></entry></feed>""",
        "",
    ),
    "atom 1.0": (
        b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>W</title>
<entry><title>Mayor resigns</title><link href="https://news.example/1"/><id>https://news.example/1</id>
<published>2026-11-24T10:00:00Z</published><updated>2026-11-24T10:00:00Z</updated>
<content type="html">&lt;p&gt;Text.&lt;/p&gt;</content></entry></feed>""",
        "",
    ),
    "json feed 1.0": (
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1",
                "title": "W",
                "items": [
                    {
                        "id": "https://news.example/1",
                        "url": "https://news.example/1",
                        "title": "Mayor resigns",
                        "content_text": "Text.",
                        "date_published": "2026-11-24T10:00:00Z",
                    }
                ],
            }
        ).encode(),
        "application/json",
    ),
    "json feed 1.1": (
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "W",
                "items": [
                    {
                        "id": "1",
                        "url": "https://news.example/1",
                        "title": "Mayor resigns",
                        "content_html": "<p>Text.</p>",
                        "date_published": "2026-11-24T11:00:00+01:00",
                    }
                ],
            }
        ).encode(),
        "application/feed+json",
    ),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_gives_title_link_and_date(name: str) -> None:
    body, content_type = FORMATS[name]
    [item] = parse_feed("wire", body, "https://news.example/feed", content_type)
    assert item.title == "Mayor resigns"
    assert item.url == "https://news.example/1"
    assert "Text." in item.content
    if name != "rss 0.91":  # RSS 0.91 items carry no date
        assert item.published_at == WHEN


@pytest.mark.parametrize("name", [n for n in FORMATS if not n.startswith("json")])
def test_fast_path_agrees_with_the_reference_parser(name: str) -> None:
    body = without_doctype(FORMATS[name][0])
    fast = parse_fast("wire", body)
    reference = parse_reference("wire", body, "https://news.example/feed")
    assert fast is not None
    assert [(i.title, i.url, i.published_at) for i in fast] == [
        (i.title, i.url, i.published_at) for i in reference
    ]


def test_external_entities_are_neither_fetched_nor_expanded(http_server: HttpServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE", encoding="utf-8")
    http_server.routes["/secret"] = Served(b"TOP-SECRET-HTTP", content_type="text/plain")
    hostile = f"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY web SYSTEM "{http_server.url("/secret")}">
  <!ENTITY file SYSTEM "file://{secret}">
  <!ENTITY % param SYSTEM "{http_server.url("/secret")}"> %param;
]>
<rss version="2.0"><channel><title>W</title>
<item><title>A &web; B &file;</title><link>https://news.example/1</link><description>x</description></item>
</channel></rss>""".encode()
    for parse in (
        lambda b: parse_feed("wire", b, "https://news.example/feed"),
        lambda b: parse_reference("wire", without_doctype(b), "https://news.example/feed"),
        lambda b: parse_fast("wire", without_doctype(b)) or [],
    ):
        items = parse(hostile)
        text = " ".join(f"{i.title} {i.content}" for i in items)
        assert "TOP-SECRET" not in text
    assert http_server.gets == []


def test_billion_laughs_is_not_expanded() -> None:
    entities = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    hostile = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol0 "lol">{entities}]>
<rss version="2.0"><channel><title>W</title>
<item><title>Laughs &lol9;</title><link>https://news.example/1</link><description>&lol9;</description></item>
</channel></rss>""".encode()
    items = parse_feed("wire", hostile, "https://news.example/feed")
    assert [i.url for i in items] == ["https://news.example/1"]
    assert all(len(i.content) < 100 and len(i.title or "") < 100 for i in items)
    assert "lollol" not in (items[0].title or "") + items[0].content


def test_utf16_cannot_smuggle_a_doctype_past_the_filter() -> None:
    hostile = """<?xml version="1.0" encoding="utf-16"?>
<!DOCTYPE rss [<!ENTITY x "EXPANDED">]>
<rss version="2.0"><channel><title>W</title>
<item><title>T &x;</title><link>https://news.example/1</link></item></channel></rss>""".encode("utf-16")
    items = parse_feed("wire", hostile, "https://news.example/feed")
    assert items and "EXPANDED" not in (items[0].title or "")


def test_truncated_feed_gives_the_items_before_the_cut() -> None:
    body = FORMATS["rss 2.0"][0].replace(b"</channel></rss>", b"") + b"<item><title>Half an it"
    items = parse_feed("wire", body, "https://news.example/feed")
    assert [i.title for i in items][:1] == ["Mayor resigns"]


def test_not_a_feed_is_a_source_error() -> None:
    from core.errors import SourceError

    with pytest.raises(SourceError, match="not a feed"):
        parse_feed("wire", b"<html><body>Nope, a login page", "https://news.example/feed")


CYRILLIC = "Мэр подал в отставку"
LATIN = "Café in Zürich schließt"


def _rss(title: str, prolog_encoding: str | None) -> str:
    declared = f' encoding="{prolog_encoding}"' if prolog_encoding else ""
    return (
        f'<?xml version="1.0"{declared}?><rss version="2.0"><channel><title>W</title>'
        f"<item><title>{title}</title><link>https://news.example/1</link><description>x</description>"
        "</item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("title", "codec", "in_prolog", "content_type"),
    [
        (CYRILLIC, "windows-1251", True, "application/rss+xml"),
        (CYRILLIC, "windows-1251", False, "application/rss+xml; charset=windows-1251"),
        (LATIN, "iso-8859-1", True, "application/rss+xml"),
        (LATIN, "iso-8859-1", False, "text/xml; charset=ISO-8859-1"),
    ],
)
def test_non_utf8_encodings_from_prolog_or_header(
    http_server: HttpServer, title: str, codec: str, in_prolog: bool, content_type: str
) -> None:
    body = _rss(title, codec if in_prolog else None).encode(codec)
    http_server.routes["/rss"] = Served(body, content_type=content_type)

    async def go() -> list[str | None]:
        settings = FetchSettings(allow_private_addresses=True)
        async with make_client(settings) as client:
            result = await fetch_feed(client, "wire", http_server.url("/rss"), max_bytes=10**6, deadline=5)
        return [i.title for i in parse_feed("wire", result.body, result.url, result.content_type)]

    assert asyncio.run(go()) == [title]


def test_ill_formed_feed_goes_to_the_reference_parser() -> None:
    body = FORMATS["rss 2.0"][0].replace(b"Mayor resigns", b"Mayor & deputy resign")
    assert parse_fast("wire", body) is None  # not well-formed: the fast path declines
    [item] = parse_feed("wire", body, "https://news.example/feed")
    assert item.title == "Mayor & deputy resign" and item.published_at == WHEN


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>',
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Quiet</title></feed>',
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "Quiet", "items": []}',
    ],
    ids=["rss", "atom", "json"],
)
def test_a_feed_with_no_items_is_quiet_not_broken(body: bytes) -> None:
    assert parse_feed("wire", body, "https://news.example/feed", "application/xml") == []


# (case, a JSON string as the feed writes it, what the item holds). JSON escapes can spell what no
# database stores: NUL (PostgreSQL refuses it) and a lone surrogate (no UTF-8 exists for one).
UNSTORABLE_TEXT = [
    ("nul", "h\\u0000-1", "h-1"),
    ("lone-high-surrogate", "h-1\\ud800", "h-1\ufffd"),
    ("lone-low-surrogate", "h\\udc80-1", "h\ufffd-1"),
    ("both", "\\ud800h\\u0000-1", "\ufffdh-1"),
    ("a-pair-is-one-character", "h-1 \\ud83d\\ude00", "h-1 \U0001f600"),
    ("plain", "h-1", "h-1"),
]


@pytest.mark.parametrize(
    ("spelt", "held"), [c[1:] for c in UNSTORABLE_TEXT], ids=[c[0] for c in UNSTORABLE_TEXT]
)
def test_json_feed_text_is_made_storable_in_every_field(spelt: str, held: str) -> None:
    fields = ("id", "url", "title", "content_text")
    entry = ", ".join(f'"{name}": "{spelt}"' for name in fields)
    body = f'{{"version": "https://jsonfeed.org/version/1.1", "items": [{{{entry}, "tags": ["{spelt}"]}}]}}'
    [item] = parse_feed("wire", body.encode(), "https://news.example/feed.json", "application/feed+json")
    assert (item.key, item.url, item.title, item.content, item.tags) == (held, held, held, held, (held,))
    (item.key + item.content).encode("utf-8")  # what both database drivers do with it
