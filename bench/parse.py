"""fastfeedparser against feedparser on the same bytes: speed, and whether titles, links and dates agree.

"fast path" is `ingest.parse.parse_fast`: a strict well-formedness check, then fastfeedparser; "parse_feed"
is what Newswatch runs (DOCTYPE removal, fast path, feedparser when the fast path declines).

Run: python -m bench.parse [--items N] [--rounds R]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial

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
    args = parser.parse_args()
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
