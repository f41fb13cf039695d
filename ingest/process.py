"""The CPU stage: parse, skip what is unchanged, clean, fingerprint and sign.

Plain data in, plain data out: no database, no clock, no network. It runs in a worker process
(ingest/pool.py), so a big feed never holds up the event loop that fetches and delivers."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.boilerplate import DEFAULT, Boilerplate
from ingest.clean import clean
from ingest.dedup import Signature, fingerprint, signatures, usable
from ingest.discovery import NONE, FeedLinks, document_links
from ingest.models import Article, RawItem
from ingest.parse import parse_feed


@dataclass(frozen=True)
class Job:
    """One poll's work for the CPU stage: a feed body to parse, or the items a folder gave."""

    source: str
    body: bytes = b""  # a feed document (empty for a folder source)
    url: str = ""  # where the body was read: relative links resolve against it
    content_type: str = ""
    items: tuple[RawItem, ...] = ()  # a folder source's items, already read
    known: Mapping[str, str] = field(default_factory=dict)  # item key -> raw hash stored last time
    boilerplate: Boilerplate = DEFAULT
    max_items: int = 1000
    discover: bool = False  # read the hub and self links the document names (WebSub)


@dataclass(frozen=True)
class Prepared:
    """A new or changed item, cleaned, with what the store's dedup levels need."""

    article: Article
    raw_hash: str
    text_hash: str
    signature: Signature | None


@dataclass(frozen=True)
class Processed:
    """What the CPU stage made of one poll."""

    items: int  # items the source gave
    dropped: int  # items past fetch.max_items, not processed
    fresh: tuple[Prepared, ...]  # new or changed since last time, in feed order
    unchanged: tuple[str, ...]  # keys of items exactly as stored last time
    seconds: float = 0.0  # time the worker spent on it
    links: FeedLinks = NONE  # the WebSub hubs and topic the document names (when asked to look)


def process(job: Job) -> Processed:
    """Parse (feeds), keep the newest `max_items`, skip items whose raw hash is unchanged, and clean
    and sign the rest. Raises SourceError for a document that is no feed."""
    began = time.perf_counter()
    items = parse_feed(job.source, job.body, job.url, job.content_type) if job.body else list(job.items)
    kept = newest(items, job.max_items)
    cleaned: list[tuple[Article, str]] = []
    unchanged: list[str] = []
    for item in kept:
        digest = raw_hash(item)
        if job.known.get(item.key) == digest:
            unchanged.append(item.key)
            continue
        cleaned.append((clean(item, job.boilerplate, base=job.url or None), digest))
    sigs = signatures([article.text for article, _ in cleaned])  # the whole poll at once
    signed = usable(sigs)
    fresh = [
        Prepared(
            article,
            digest,
            fingerprint(article.title, article.text),
            tuple(sig.tolist()) if ok else None,
        )
        for (article, digest), sig, ok in zip(cleaned, sigs, signed, strict=True)
    ]
    links = document_links(job.body, job.url, job.content_type) if job.discover and job.body else NONE
    spent = time.perf_counter() - began
    return Processed(len(items), len(items) - len(kept), tuple(fresh), tuple(unchanged), spent, links)


def newest(items: Sequence[RawItem], limit: int) -> list[RawItem]:
    """At most `limit` items: the newest by date (undated ones after the dated), kept in feed order."""
    if len(items) <= limit:
        return list(items)
    oldest = datetime.min.replace(tzinfo=UTC)

    def when(index: int) -> tuple[bool, datetime, int]:
        moment = items[index].published_at
        if moment is None:
            return (False, oldest, -index)
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return (True, aware, -index)

    chosen = sorted(range(len(items)), key=when, reverse=True)[:limit]
    return [items[i] for i in sorted(chosen)]


def raw_hash(item: RawItem) -> str:
    """A fingerprint of an item exactly as its source gave it: the same means nothing to clean again."""
    digest = hashlib.sha256()
    published = item.published_at.isoformat() if item.published_at else ""
    for part in (item.key, item.title or "", item.url or "", published, "\x1f".join(item.tags), item.content):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e")
    return digest.hexdigest()
