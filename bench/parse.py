"""The fast path against feedparser on the same bytes: speed, and whether titles, links and dates agree.

"fast path" is `ingest.parse.parse_fast`: one strict lxml parse read entry by entry as feedparser reads
it (ingest/feedtree.py); "parse_feed" is what Newswatch runs (fast path, feedparser when the document
is ill-formed). First, items/s over the realistic corpus of bench/data.py (varied news items with HTML
bodies, as RSS 2.0, Atom 1.0 and RSS 1.0), then one line per format.

Run: python -m bench.parse [--items N] [--rounds R] [--feeds F]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from html import escape

from bench.data import Item, make_corpus
from bench.data import rss as corpus_rss
from ingest.models import RawItem
from ingest.parse import parse_fast, parse_feed, parse_reference, without_doctype

BASE = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _when(i: int) -> datetime:
    return BASE - timedelta(minutes=7 * i)


def rss2(n: int) -> bytes:
    items = "".join(
        f"<item><title>Story {i}: council &amp; mayor agree</title><link>https://news.example/{i}</link>"
        f"<guid>https://news.example/{i}</guid><pubDate>{format_datetime(_when(i), usegmt=True)}</pubDate>"
        f"<description>&lt;p&gt;Paragraph {i} about the budget.&lt;/p&gt;</description>"
        f"<category>Politics</category></item>"
        for i in range(n)
    )
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>W</title>'
    return f"{head}{items}</channel></rss>".encode()


def rss1(n: int) -> bytes:
    items = "".join(
        f'<item rdf:about="https://news.example/{i}"><title>Story {i}</title><link>https://news.example/{i}</link>'
        f"<dc:date>{_when(i).isoformat().replace('+00:00', 'Z')}</dc:date>"
        f"<description>Text {i}</description></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="https://news.example/"><title>W</title><link>https://news.example/</link>'
        f"<description>d</description></channel>{items}</rdf:RDF>"
    ).encode()


def atom1(n: int) -> bytes:
    entries = "".join(
        f'<entry><title>Story {i}</title><link href="https://news.example/{i}"/><id>urn:n:{i}</id>'
        f"<published>{_when(i).isoformat()}</published><updated>{_when(i).isoformat()}</updated>"
        f'<content type="html">&lt;p&gt;Text {i}&lt;/p&gt;</content></entry>'
        for i in range(n)
    )
    return f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>W</title>{entries}</feed>'.encode()


def atom03(n: int) -> bytes:
    entries = "".join(
        f'<entry><title>Story {i}</title><link rel="alternate" type="text/html" href="https://news.example/{i}"/>'
        f"<id>urn:n:{i}</id><issued>{_when(i).isoformat()}</issued><modified>{_when(i).isoformat()}</modified>"
        f"<summary>Text {i}</summary></entry>"
        for i in range(n)
    )
    return f'<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>W</title>{entries}</feed>'.encode()


def ill_formed(n: int) -> bytes:
    # Unescaped ampersands, an HTML entity XML does not know, and a truncated end: what real feeds do.
    body = rss2(n).replace(b"&amp;", b"&").replace(b"Paragraph", b"&nbsp;Paragraph")
    return body[: len(body) - 40]


CORPUS: dict[str, Callable[[int], bytes]] = {
    "rss 2.0": rss2,
    "rss 1.0": rss1,
    "atom 1.0": atom1,
    "atom 0.3": atom03,
    "ill-formed rss": ill_formed,
}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def corpus_atom(feed: tuple[Item, ...], index: int) -> bytes:
    """One corpus feed as Atom 1.0, the HTML body as escaped `type="html"` content."""
    entries = "".join(
        f'<entry><id>{i.guid}</id><title>{escape(i.title)}</title><link href="{i.link}"/>'
        f"<published>{_iso(i.published)}</published><updated>{_iso(i.published)}</updated>"
        f'<content type="html">{escape(i.html())}</content></entry>'
        for i in feed
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Bench feed {index}</title><id>urn:bench:{index}</id>{entries}</feed>"
    ).encode()


def corpus_rss1(feed: tuple[Item, ...], index: int) -> bytes:
    """One corpus feed as RSS 1.0 with Dublin Core dates and content:encoded."""
    entries = "".join(
        f'<item rdf:about="{i.link}"><title>{escape(i.title)}</title><link>{i.link}</link>'
        f"<dc:date>{_iso(i.published)}</dc:date>"
        f"<content:encoded><![CDATA[{i.html()}]]></content:encoded></item>"
        for i in feed
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f'<channel rdf:about="https://news{index}.example/"><title>Bench feed {index}</title>'
        f"<link>https://news{index}.example/</link><description>d</description></channel>{entries}</rdf:RDF>"
    ).encode()


def corpus_rate(feeds: int, rounds: int) -> None:
    """Items/s of the fast path and of feedparser over the corpus, each format in turn (best round)."""
    corpus = make_corpus(feeds)
    writers = {"rss 2.0": corpus_rss, "atom 1.0": corpus_atom, "rss 1.0": corpus_rss1}
    bodies = [write(feed, i) for write in writers.values() for i, feed in enumerate(corpus.feeds)]
    items = corpus.items * len(writers)
    fast = min(_time(lambda: [parse_fast("bench", b) for b in bodies], 1) for _ in range(rounds))
    slow = _time(lambda: [parse_reference("bench", b, "https://news.example/feed") for b in bodies], 1)
    print(
        f"corpus: {len(bodies)} feeds ({', '.join(writers)}), {items} items: fast path {items / fast:,.0f}"
        f" items/s, feedparser {items / slow:,.0f} items/s ({slow / fast:.1f}x)"
    )


def _key(items: list[RawItem] | None) -> list[tuple[str | None, str | None, datetime | None]]:
    return [(i.title, i.url, i.published_at) for i in items or []]


def _time(fn: Callable[[], object], rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--feeds", type=int, default=20, help="feeds of the realistic corpus")
    args = parser.parse_args()
    corpus_rate(args.feeds, rounds=5)
    print(
        f"{'feed':<16}{'KiB':>6}{'feedparser ms':>15}{'fast path ms':>19}{'speed-up':>10}"
        f"{'parse_feed ms':>15}  agree (title, link, date)"
    )
    for name, make in CORPUS.items():
        body = without_doctype(make(args.items))
        reference = parse_reference("bench", body, "https://news.example/feed")
        fast = parse_fast("bench", body)
        agree = _key(fast) == _key(reference)
        url = "https://news.example/feed"
        slow_t = _time(partial(parse_reference, "bench", body, url), args.rounds)
        fast_t = _time(partial(parse_fast, "bench", body), args.rounds)
        used_t = _time(partial(parse_feed, "bench", body, url), args.rounds)
        speed_up = f"{slow_t / fast_t:.1f}x" if fast is not None else "-"
        if fast is None:
            verdict = "fast path declines -> feedparser"
        else:
            same = sum(a == b for a, b in zip(_key(fast), _key(reference), strict=False))
            verdict = f"{'yes' if agree else 'NO'} ({same}/{len(reference)} items, fast found {len(fast)})"
        print(
            f"{name:<16}{len(body) / 1024:>6.0f}{slow_t * 1000:>15.2f}{fast_t * 1000:>19.2f}"
            f"{speed_up:>10}{used_t * 1000:>15.2f}  {verdict}"
        )


if __name__ == "__main__":
    main()
