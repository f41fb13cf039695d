"""The data passed between ingest stages: RawItem (as a source gave it) -> Article (clean)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ContentKind(StrEnum):
    """How a raw item's content is written, which decides how it is cleaned."""

    FIXTURE = "fixture"  # a seed file: headline line, body lines, `Topics:` footer
    HTML = "html"
    TEXT = "text"


@dataclass(frozen=True)
class RawItem:
    """One item as a source gave it, before any cleaning."""

    source: str
    key: str  # identity within the source: the GUID, else the link, else the fixture's path
    content: str
    kind: ContentKind
    title: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    tags: tuple[str, ...] = ()
    base: str | None = None  # the feed's URL (or xml:base), against which a relative link resolves
    updated_at: datetime | None = None  # when the feed says the item last changed (not stored)


@dataclass(frozen=True)
class Article:
    """A cleaned article, ready to store and match."""

    source: str
    key: str
    title: str
    text: str
    summary: str
    topics: tuple[str, ...]
    url: str | None
    published_at: datetime | None
    content_hash: str
    html: str = ""  # a sanitized display copy (allow-listed tags only)
    language: str | None = None  # ISO 639-1 guess, None when unsure
    text_source: str = "feed"  # "page" when `text` is the linked page's (full_text)
    page_error: str | None = None  # why a page that was wanted was not used
    author: str | None = None  # from the page's metadata
