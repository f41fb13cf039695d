"""Feeds for the differential tests: the named cases of issue 22, and hypothesis strategies that
generate realistic RSS 2.0, RSS 1.0 and Atom 1.0 documents for the fast path and feedparser to read."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

FEED_URL = "http://news.example/feeds/main.xml"


@dataclass(frozen=True)
class NamedCase:
    """A feed that showed a gap, and what its articles must say (titles, links, text, dates)."""

    name: str
    body: bytes
    titles: list[str]
    urls: list[str | None]
    text: list[str] = field(default_factory=list)  # a phrase each article's text holds
    published: list[datetime | None] = field(default_factory=list)
    updated: list[datetime | None] = field(default_factory=list)
    distinct_keys: bool = False


ATOM = 'xmlns="http://www.w3.org/2005/Atom"'
MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'


def _when(year: int, month: int = 11, day: int = 24) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=UTC)


NAMED_CASES = [
    NamedCase(
        "atom-xhtml-title",
        f"""<?xml version="1.0"?><feed {ATOM}><title>W</title>
<entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Putin meets <b>envoys</b> in
 Istanbul</div></title><link href="http://news.example/1"/><id>urn:n:1</id>
<updated>2026-11-24T10:00:00Z</updated>
<summary>Vladimir Putin met the envoys on Monday.</summary></entry></feed>""".encode(),
        titles=["Putin meets envoys in Istanbul"],
        urls=["http://news.example/1"],
        text=["Vladimir Putin met the envoys on Monday."],
        published=[_when(2026)],
    ),
    NamedCase(
        "xml-base",
        f"""<?xml version="1.0"?><feed {ATOM} xml:base="http://news.example/blog/"><title>W</title>
<entry><title>First post</title><link href="post/1"/><id>urn:n:1</id><updated>2026-11-24T10:00:00Z</updated>
<content type="html">&lt;p&gt;One.&lt;/p&gt;</content></entry>
<entry xml:base="archive/"><title>Second post</title><link href="post/2"/><id>urn:n:2</id>
<updated>2026-11-24T10:00:00Z</updated><content type="html">&lt;p&gt;Two.&lt;/p&gt;</content></entry>
</feed>""".encode(),
        titles=["First post", "Second post"],
        urls=["http://news.example/blog/post/1", "http://news.example/blog/archive/post/2"],
        text=["One.", "Two."],
    ),
    NamedCase(
        "cdata-mentions-doctype",
        b"""<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>
<item><title>How to write a web page</title><link>http://news.example/1</link>
<description><![CDATA[Start with <!DOCTYPE html> and then the rest.]]></description></item>
<item><title>Second story</title><link>http://news.example/2</link>
<description><![CDATA[<p>Markup such as <b>bold</b>, a stray ]] and &lt;!DOCTYPE&gt; in a DTD.</p>]]>
</description></item>
<item><title>Third story</title><link>http://news.example/3</link><description>Plain.</description></item>
</channel></rss>""",
        titles=["How to write a web page", "Second story", "Third story"],
        urls=["http://news.example/1", "http://news.example/2", "http://news.example/3"],
        text=["Start with", "in a DTD.", "Plain."],
    ),
    NamedCase(
        "media-title-after-title",
        f"""<?xml version="1.0"?><rss version="2.0" {MEDIA}><channel><title>W</title>
<item><title>Harbour strike ends after talks</title><link>http://news.example/1</link>
<media:group><media:title>Video clip</media:title><media:content url="http://cdn.example/1.mp4"/>
</media:group><description>Dockers return.</description></item>
<item><media:title>Video clip</media:title><title>Council votes on budget</title>
<link>http://news.example/2</link><description>The vote.</description></item>
</channel></rss>""".encode(),
        titles=["Harbour strike ends after talks", "Council votes on budget"],
        urls=["http://news.example/1", "http://news.example/2"],
        text=["Dockers return.", "The vote."],
    ),
    NamedCase(
        "atom03-base64-and-inline-markup-titles",
        f"""<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>W</title>
<entry><title type="text/html" mode="base64">{base64.b64encode(b"Example <b>Atom</b>").decode()}</title>
<link rel="alternate" type="text/html" href="http://news.example/1"/><id>urn:n:1</id>
<issued>2026-11-24T10:00:00Z</issued><summary>One.</summary></entry>
<entry><title type="application/xhtml+xml" mode="xml"><div xmlns="http://www.w3.org/1999/xhtml">Example
<b>Atom</b> inline</div></title><link rel="alternate" type="text/html" href="http://news.example/2"/>
<id>urn:n:2</id><issued>2026-11-24T10:00:00Z</issued><summary>Two.</summary></entry>
</feed>""".encode(),
        titles=["Example Atom", "Example Atom inline"],
        urls=["http://news.example/1", "http://news.example/2"],
        published=[_when(2026), _when(2026)],
    ),
    NamedCase(
        "atom-link-and-id-inside-rss",
        b"""<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Podcast</title>
<item><title>Weekly briefing</title><atom:link rel="alternate" href="http://pod.example/ep/1"/>
<atom:id>urn:pod:ep:1</atom:id><pubDate>Tue, 17 Nov 2026 10:00:00 GMT</pubDate>
<description>Grain exports through the Black Sea resumed after a pause.</description></item>
<item><title>Weekly briefing</title><atom:link rel="alternate" href="http://pod.example/ep/2"/>
<atom:id>urn:pod:ep:2</atom:id><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate>
<description>The central bank kept its rate unchanged for a third month.</description></item>
</channel></rss>""",
        titles=["Weekly briefing", "Weekly briefing"],
        urls=["http://pod.example/ep/1", "http://pod.example/ep/2"],
        text=["Grain exports", "central bank"],
        published=[_when(2026, 11, 17), _when(2026)],
        distinct_keys=True,
    ),
    NamedCase(
        "media-description-in-group",
        f"""<?xml version="1.0"?><rss version="2.0" {MEDIA}><channel><title>W</title>
<item><title>Flood pictures</title><link>http://news.example/1</link>
<media:group><media:content url="http://cdn.example/1.jpg"/>
<media:description>Rescue teams reached the valley at dawn.</media:description></media:group></item>
</channel></rss>""".encode(),
        titles=["Flood pictures"],
        urls=["http://news.example/1"],
        text=["Rescue teams reached the valley at dawn."],
    ),
    NamedCase(
        "several-dates",
        b"""<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>W</title>
<item><title>Two dates</title><link>http://news.example/1</link>
<pubDate>Mon, 24 Nov 2003 10:00:00 GMT</pubDate><pubDate>Wed, 24 Nov 2010 10:00:00 GMT</pubDate>
<dc:date>2012-11-24T10:00:00Z</dc:date></item>
</channel></rss>
""",
        titles=["Two dates"],
        urls=["http://news.example/1"],
        published=[_when(2010)],
        updated=[_when(2012)],
    ),
    NamedCase(
        "published-over-updated",
        f"""<?xml version="1.0"?><feed {ATOM}><title>W</title>
<entry><title>Revised story</title><link rel="enclosure" href="http://cdn.example/1.mp3"/>
<link rel="alternate" type="text/html" href="http://news.example/1"/>
<link rel="related" href="http://other.example/"/><id>urn:n:1</id>
<updated>2026-11-25T10:00:00Z</updated><published>2026-11-24T10:00:00Z</published>
<content type="text">Prices &lt;b&gt; rose.</content></entry></feed>""".encode(),
        titles=["Revised story"],
        urls=["http://news.example/1"],
        text=["Prices <b> rose."],
        published=[_when(2026)],
        updated=[_when(2026, 11, 25)],
    ),
]


# --- Comparing the fast path with the reference ---------------------------------------------------


def disagreements(body: bytes, url: str = FEED_URL) -> list[str]:
    """Where the fast path and feedparser differ on what Newswatch uses, under the documented policies
    (plain-text titles, links resolved against the feed URL, ids as written, NUL dropped); [] if none.
    Titles and content are compared as cleaning makes them: as plain text."""
    from ingest.parse import parse_fast, parse_reference, without_doctype

    fast = parse_fast("wire", body, url)
    if fast is None:
        return ["the fast path declined a well-formed feed"]
    reference = parse_reference("wire", without_doctype(body), url)
    if len(fast) != len(reference):
        return [f"{len(fast)} items, the reference {len(reference)}"]
    found = []
    for index, (ours, theirs) in enumerate(zip(fast, reference, strict=True)):
        for name, mine, other in _fields(ours, theirs, url):
            if mine != other:
                found.append(f"item {index} {name}: {mine!r} != reference {other!r}")
    return found


def _fields(ours: Any, theirs: Any, url: str) -> Iterator[tuple[str, object, object]]:
    from urllib.parse import urljoin

    from ingest.clean import html_to_text, normalize_text, title_text

    def plain_title(value: str | None) -> str:
        return normalize_text(title_text(value or ""))

    def plain_text(value: str) -> str:
        return " ".join(html_to_text(value).split())

    yield "title", plain_title(ours.title), plain_title(theirs.title)
    yield "link", ours.url, theirs.url
    # Policy: an id as written (feedparser resolves a permalink GUID against the feed's URL).
    key = ours.key
    if key != theirs.key:
        with contextlib.suppress(ValueError):  # a malformed id is no URL to resolve
            key = urljoin(ours.base or url, ours.key)
    yield "id", key, theirs.key
    yield "published", ours.published_at, theirs.published_at
    yield "updated", ours.updated_at, theirs.updated_at
    yield "content", plain_text(ours.content), plain_text(theirs.content)
    yield "tags", ours.tags, theirs.tags


# --- Realistic feeds, generated ---------------------------------------------------------------------

WORDS = [
    *("Putin", "Zelensky", "envoys", "Istanbul", "council", "mayor", "budget", "harbour", "strike"),
    *("ends", "talks", "flood", "valley", "rescue", "minister", "resigns", "election", "results"),
    *("court", "ruling", "Café", "Zürich", "Мэр", "отставку", "東京", "会議", "Ελλάδα"),
]
MARKUP_LIKE = [
    *("<b>bold</b>", "<!DOCTYPE html>", "a < b", "x > y", "&copy; 2026", "<i>note</i>", "R&D"),
    *("&eacute;t&eacute;", "&nbsp;", "&#8217;s", "&amp;amp;", "]]", "<br/>", '<a href="/more">more</a>'),
]
RSS_DATES = [
    *("%a, %d %b %Y %H:%M:%S GMT", "%a, %d %b %Y %H:%M:%S +0100", "%d %b %Y %H:%M:%S -0500"),
    *("%a, %d %b %Y %H:%M:%S EST", "%a, %d %b %Y %H:%M PST", "%a, %d %b %y %H:%M:%S Z", "%Y-%m-%d %H:%M:%S"),
]
ISO_DATES = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+02:00", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S.250-03:30"]
NS = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom"'
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def phrases(draw: st.DrawFn, markup: bool = False) -> str:
    """A few words of news, maybe with entities, accents, other scripts and (if `markup`) HTML."""
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6))
    if markup and draw(st.booleans()):
        words.insert(draw(st.integers(0, len(words))), draw(st.sampled_from(MARKUP_LIKE)))
    return " ".join(words)


@st.composite
def xml_text(draw: st.DrawFn, value: str) -> str:
    """`value` as XML character data: escaped, as CDATA, or with numeric character references."""
    how = draw(st.sampled_from(["escape", "cdata", "charref"]))
    if how == "cdata" and "]]>" not in value:
        return f"<![CDATA[{value}]]>"
    escaped = _escape(value)
    if how == "charref":
        return "".join(f"&#{ord(c)};" if ord(c) > 127 else c for c in escaped)
    return escaped


@st.composite
def dates(draw: st.DrawFn, formats: list[str]) -> str:
    moment = draw(st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2030, 12, 31)))
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(["yesterday", "", "2026-13-45", "Tue, 31 Feb 2026"]))  # unreadable
    return moment.replace(microsecond=0).strftime(draw(st.sampled_from(formats)))


@st.composite
def links(draw: st.DrawFn) -> str:
    path = "/".join(draw(st.lists(st.sampled_from(["news", "2026", "story-1", "a", "b%20c"]), max_size=3)))
    return draw(st.sampled_from([f"http://news.example/{path}", f"https://cdn.example/{path}", path or "p"]))


@st.composite
def atom_text(draw: st.DrawFn, tag: str, value: str) -> str:
    """An Atom text construct: text, html or xhtml."""
    kind = draw(st.sampled_from(["text", "html", "xhtml", None]))
    attr = f' type="{kind}"' if kind else ""
    if kind == "html":
        return f"<{tag}{attr}>{draw(xml_text(value))}</{tag}>"
    if kind == "xhtml":
        inner = _escape(value).replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")
        return f'<{tag}{attr}><div xmlns="http://www.w3.org/1999/xhtml">{inner}</div></{tag}>'
    return f"<{tag}{attr}>{draw(xml_text(value))}</{tag}>"


@st.composite
def rss2_items(draw: st.DrawFn) -> str:
    titles = draw(st.sampled_from([["title"], ["title", "title"], ["dc:title"], ["title", "dc:title"], []]))
    parts = [f"<{t}>{draw(xml_text(draw(phrases(markup=True))))}</{t}>" for t in titles]
    if draw(st.booleans()):
        parts.insert(
            draw(st.integers(0, len(parts))), f"<media:title>{_escape(draw(phrases()))}</media:title>"
        )
    link = draw(links())
    style = draw(st.sampled_from(["rss", "atom", "both", "none", "empty"]))
    if style in ("rss", "both"):
        base = draw(st.sampled_from(["", ' xml:base="http://other.example/x/"']))
        parts.append(f"<link{base}>{_escape(link)}</link>")
    if style in ("atom", "both", "empty"):
        rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="related"', ' rel="self"']))
        kind = draw(st.sampled_from(["", ' type="text/html"', ' type="application/rss+xml"']))
        parts.append(f'<atom:link{rel}{kind} href="{_escape(draw(links()))}"/>')
    if style == "empty":
        parts.append("<link></link>")
    ident = draw(st.sampled_from(["guid-url", "guid-urn", "guid-plain", "atom-id", "none"]))
    if ident == "guid-url":
        parts.append(f"<guid>http://news.example/id/{draw(st.integers(1, 99))}</guid>")
    elif ident == "guid-urn":
        parts.append(f'<guid isPermaLink="false">urn:news:{draw(st.integers(1, 99))}</guid>')
    elif ident == "guid-plain":
        parts.append(f'<guid isPermaLink="false">story-{draw(st.integers(1, 99))}</guid>')
    elif ident == "atom-id":
        parts.append(f"<atom:id>tag:news.example,2026:{draw(st.integers(1, 99))}</atom:id>")
    for _ in range(draw(st.integers(0, 2))):
        parts.append(f"<pubDate>{draw(dates(RSS_DATES))}</pubDate>")
    for _ in range(draw(st.integers(0, 2))):
        parts.append(f"<dc:date>{draw(dates(ISO_DATES))}</dc:date>")
    body = draw(st.sampled_from(["description", "encoded", "both", "media", "none"]))
    if body in ("description", "both"):
        parts.append(f"<description>{draw(xml_text(f'<p>{draw(phrases(markup=True))}</p>'))}</description>")
    if body in ("encoded", "both"):
        parts.append(f"<content:encoded>{draw(xml_text(f'<p>{draw(phrases())}</p>'))}</content:encoded>")
    if body == "media":
        parts.append(
            "<media:group><media:content url='http://cdn.example/v.mp4'/>"
            f"<media:description>{_escape(draw(phrases()))}</media:description>"
            f"<media:category>{_escape(draw(phrases()))}</media:category></media:group>"
        )
    for _ in range(draw(st.integers(0, 2))):
        domain = draw(st.sampled_from(["", ' domain="http://news.example/sections"']))
        parts.append(f"<category{domain}>{_escape(draw(st.sampled_from(WORDS)))}</category>")
    if draw(st.booleans()):
        parts.append(f"<dc:subject>{_escape(draw(st.sampled_from(WORDS)))}</dc:subject>")
    if draw(st.integers(0, 4)) == 0:
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
        parts.append(f"<media:keywords>{_escape(', '.join(words))}</media:keywords>")
    return "<item>" + "".join(parts) + "</item>"


@st.composite
def rss1_items(draw: st.DrawFn) -> str:
    about = f"http://news.example/r/{draw(st.integers(1, 99))}"
    parts = [
        f"<title>{draw(xml_text(draw(phrases(markup=True))))}</title>",
        f"<link>{_escape(draw(links()))}</link>",
    ]
    for _ in range(draw(st.integers(0, 2))):
        parts.append(f"<dc:date>{draw(dates(ISO_DATES))}</dc:date>")
    if draw(st.booleans()):
        parts.append(f"<description>{draw(xml_text(draw(phrases(markup=True))))}</description>")
    if draw(st.booleans()):
        parts.append(f"<content:encoded>{draw(xml_text(f'<p>{draw(phrases())}</p>'))}</content:encoded>")
    if draw(st.booleans()):
        parts.append(f"<dc:subject>{_escape(draw(st.sampled_from(WORDS)))}</dc:subject>")
    return f'<item rdf:about="{about}">' + "".join(parts) + "</item>"


@st.composite
def atom_entries(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(["", ' xml:base="section/"', ' xml:base="http://other.example/x/"']))
    parts = [draw(atom_text("title", draw(phrases(markup=True))))]
    if draw(st.booleans()):
        parts.append(f"<media:title>{_escape(draw(phrases()))}</media:title>")
    for _ in range(draw(st.integers(0, 3))):
        rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="enclosure"', ' rel="related"']))
        kind = draw(st.sampled_from(["", ' type="text/html"', ' type="audio/mpeg"']))
        base = draw(st.sampled_from(["", "", ' xml:base="/root/"']))
        parts.append(f'<link{rel}{kind}{base} href="{_escape(draw(links()))}"/>')
    if draw(st.booleans()):
        scheme = draw(st.sampled_from(["urn:uuid:", "http://news.example/e/"]))
        parts.append(f"<id>{scheme}{draw(st.integers(1, 99))}</id>")
    for tag in draw(st.lists(st.sampled_from(["published", "updated"]), max_size=3)):
        parts.append(f"<{tag}>{draw(dates(ISO_DATES[:2]))}</{tag}>")
    if draw(st.booleans()):
        parts.append(draw(atom_text("summary", draw(phrases(markup=True)))))
    if draw(st.booleans()):
        parts.append(draw(atom_text("content", f"<b>{draw(phrases())}</b>")))
    for _ in range(draw(st.integers(0, 2))):
        label = draw(st.sampled_from(["", ' label="Section"']))
        parts.append(f'<category term="{_escape(draw(st.sampled_from(WORDS)))}"{label}/>')
    return f"<entry{base}>" + "".join(parts) + "</entry>"


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    """A realistic RSS 2.0, RSS 1.0 or Atom 1.0 document of 1-4 items, in UTF-8, UTF-16 or Latin-1."""
    kind = draw(st.sampled_from(["rss2", "rss1", "atom"]))
    count = draw(st.integers(1, 4))
    base = draw(st.sampled_from(["", ' xml:base="http://news.example/blog/"', ' xml:base="edition/"']))
    if kind == "rss2":
        items = "".join(draw(rss2_items()) for _ in range(count))
        text = f'<rss version="2.0" {NS}{base}><channel><title>Wire</title>{items}</channel></rss>'
    elif kind == "rss1":
        items = "".join(draw(rss1_items()) for _ in range(count))
        text = (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
            f' xmlns="http://purl.org/rss/1.0/" {NS}>'
            f'<channel rdf:about="http://news.example/"><title>Wire</title><link>http://news.example/</link>'
            f"<description>d</description></channel>{items}</rdf:RDF>"
        )
    else:
        items = "".join(draw(atom_entries()) for _ in range(count))
        text = (
            f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"{base}>'
            f"<title>Wire</title><id>urn:feed</id><updated>2026-11-24T10:00:00Z</updated>{items}</feed>"
        )
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "iso-8859-1"]))
    document = f'<?xml version="1.0" encoding="{encoding}"?>\n{text}'
    return document.encode(encoding, errors="xmlcharrefreplace")
