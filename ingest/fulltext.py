"""Full text, the CPU half: which items want their linked page, and a fetched page made into the item's
text (trafilatura's main-text extraction, then the usual cleaning and signing).

Plain data in, plain data out, like ingest/process.py: it runs in the process pool (ingest/pool.py).
The network half, robots.txt and politeness, is ingest/pages.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from core.text import storable_text
from ingest.boilerplate import DEFAULT, Boilerplate
from ingest.clean import clean, normalize_text
from ingest.dedup import fingerprint, signature
from ingest.models import ContentKind, RawItem
from ingest.process import Prepared

log = logging.getLogger(__name__)

FEED, PAGE = "feed", "page"
AUTHOR_CHARS = 200
ERROR_CHARS = 500


def wants_page(item: Prepared, mode: str, short_text: int) -> bool:
    """Whether `item`'s linked page is fetched: `always`, or `auto` when the text its feed gave is
    shorter than `short_text` characters; never without an http(s) link."""
    if mode == "never" or not item.article.url:
        return False
    if urlsplit(item.article.url).scheme not in ("http", "https"):
        return False
    return mode == "always" or len(item.article.text) < short_text


def without_page(item: Prepared, reason: str) -> Prepared:
    """`item` as its feed gave it, recording why its page was not used."""
    reason = storable_text(" ".join(reason.split()))[:ERROR_CHARS]
    return replace(item, article=replace(item.article, text_source=FEED, page_error=reason))


@dataclass(frozen=True)
class PageJob:
    """One fetched page for the CPU stage: the item it belongs to and the page's bytes."""

    source: str
    item: Prepared
    body: bytes
    url: str  # where the page was read (after redirects)
    boilerplate: Boilerplate = DEFAULT


def use_page(job: PageJob) -> Prepared:
    """The item with the page's main text (body paragraphs; no navigation, related links, comments,
    cookie banners or share bars), cleaned and signed; the page's date and author where the feed gave
    none. When the page yields no text longer than the feed's, the feed's is kept, saying why."""
    page = extract(job.body, job.url)
    if page is None:
        return without_page(job.item, "no article text found on the page")
    article = job.item.article
    title = article.title
    if title == "(untitled)" and page.title:
        title = page.title
    raw = RawItem(
        source=article.source,
        key=article.key,
        content=_without_headline(page.text, (title, page.title)),
        kind=ContentKind.TEXT,
        title=title,
        url=article.url,
        published_at=article.published_at or page.date,
        tags=article.topics,
    )
    cleaned = clean(raw, job.boilerplate)
    if len(cleaned.text) <= len(article.text):
        found, own = len(cleaned.text), len(article.text)
        reason = f"the page's text ({found} characters) is no longer than the feed's ({own})"
        return without_page(job.item, reason)
    cleaned = replace(
        cleaned,
        url=article.url,  # the link as the feed gave it (already canonical): dedup knows it by it
        text_source=PAGE,
        author=article.author or page.author,
    )
    return Prepared(
        cleaned,
        job.item.raw_hash,  # the feed item's: unchanged in the feed, the page is not fetched again
        fingerprint(cleaned.title, cleaned.text),
        signature(cleaned.text),
    )


@dataclass(frozen=True)
class Page:
    """What trafilatura found on a page."""

    text: str  # the main text, one paragraph a line
    title: str | None
    date: datetime | None
    author: str | None


def extract(body: bytes, url: str) -> Page | None:
    """The page's main text and metadata, or None when it has none. trafilatura reads the charset
    itself (the header's, the page's meta, else a guess)."""
    import trafilatura  # here: the worker processes load it on their first page only

    document = trafilatura.bare_extraction(
        body,
        url=url,
        include_comments=False,
        include_tables=True,
        with_metadata=True,
        date_extraction_params={
            "extensive_search": True,
            "original_date": True,
            "outputformat": "%Y-%m-%dT%H:%M:%S%z",
        },
    )
    assert not isinstance(document, dict)  # a Document unless as_dict=True
    if document is None or not (document.text or "").strip():
        return None
    author = normalize_text(document.author or "")[:AUTHOR_CHARS] or None
    return Page(
        text=storable_text(document.text or ""),
        title=normalize_text(document.title or "") or None,
        date=_date(document.date),
        author=storable_text(author) if author else None,
    )


def _without_headline(text: str, titles: tuple[str | None, ...]) -> str:
    """`text` without a first line that repeats the headline (kept when a page sets the body apart
    from it with divs only)."""
    first, _, rest = text.lstrip().partition("\n")
    said = {normalize_text(t).casefold() for t in titles if t}
    return rest if rest.strip() and normalize_text(first).casefold() in said else text


def _date(value: str | None) -> datetime | None:
    """trafilatura's date (`2026-11-30T08:15:00+0000`, or a day) as UTC; a day alone is its midnight."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
