"""Feeds for the differential tests: the named cases of issue 22, and hypothesis strategies that
generate realistic RSS 2.0, RSS 1.0 and Atom 1.0 documents for the fast path and feedparser to read."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
<description><![CDATA[<p>Markup such as <b>bold</b>, a stray ]] and &lt;!DOCTYPE&gt; in a DTD.</p>]]></description></item>
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
        f"""<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Podcast</title>
<item><title>Weekly briefing</title><atom:link rel="alternate" href="http://pod.example/ep/1"/>
<atom:id>urn:pod:ep:1</atom:id><pubDate>Tue, 17 Nov 2026 10:00:00 GMT</pubDate></item>
<item><title>Weekly briefing</title><atom:link rel="alternate" href="http://pod.example/ep/2"/>
<atom:id>urn:pod:ep:2</atom:id><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>
</channel></rss>""".encode(),
        titles=["Weekly briefing", "Weekly briefing"],
        urls=["http://pod.example/ep/1", "http://pod.example/ep/2"],
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
        f"""<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>W</title>
<item><title>Two dates</title><link>http://news.example/1</link>
<pubDate>Mon, 24 Nov 2003 10:00:00 GMT</pubDate><pubDate>Wed, 24 Nov 2010 10:00:00 GMT</pubDate>
<dc:date>2012-11-24T10:00:00Z</dc:date></item>
</channel></rss>
""".encode(),
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
