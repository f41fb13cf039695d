"""Feed parsing: RSS, Atom and JSON Feed bytes become raw items.

Well-formed RSS and Atom are read from one strict lxml parse (`ingest.feedtree`), entry by entry as
feedparser, the reference, reads them (the differential tests in tests/ingest hold the two together);
an entry the tree reader cannot vouch for is taken from the reference, and only an ill-formed
document goes to the reference whole. Feeds are hostile: lxml is told to load no DTD, expand no entity
and touch no network; before the reference sees a document, its DOCTYPE is cut out of the prolog.
"""

from __future__ import annotations

import calendar
import html
import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import feedparser

from core.errors import SourceError
from core.text import storable_text
from ingest.clean import html_to_text, normalize_text, title_text
from ingest.feedtree import Entry, parse_tree
from ingest.models import ContentKind, RawItem

log = logging.getLogger(__name__)

_ENCODING_DECL = re.compile(rb"(<\?xml[^>]*?encoding\s*=\s*[\"'])[^\"']*([\"'])", re.IGNORECASE)


def without_doctype(body: bytes) -> bytes:
    """The XML bytes without their DOCTYPE (and so without any entity declaration), UTF-16/32
    transcoded to UTF-8 first. Only the prolog is read: a DOCTYPE can stand nowhere else, so CDATA,
    comments and processing instructions in the document are never touched."""
    for marks, codec in (
        ((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"), "utf-32"),
        ((b"\xff\xfe", b"\xfe\xff"), "utf-16"),
        ((b"<\x00?\x00",), "utf-16-le"),
        ((b"\x00<\x00?",), "utf-16-be"),
    ):
        if body.startswith(marks):
            text = body.decode(codec, errors="replace").lstrip("\ufeff")
            body = _ENCODING_DECL.sub(rb"\1utf-8\2", text.encode("utf-8"), count=1)
            break
    span = _doctype_span(body)
    return body if span is None else body[: span[0]] + body[span[1] :]


def _doctype_span(body: bytes) -> tuple[int, int] | None:
    """Where the prolog's DOCTYPE starts and ends (its internal subset, quoted strings and comments
    inside it included), or None when the prolog has none."""
    i, n = (3 if body.startswith(b"\xef\xbb\xbf") else 0), len(body)
    while i < n:
        if body[i : i + 1].isspace():
            i += 1
        elif body.startswith(b"<?", i):
            end = body.find(b"?>", i + 2)
            i = n if end < 0 else end + 2
        elif body.startswith(b"<!--", i):
            end = body.find(b"-->", i + 4)
            i = n if end < 0 else end + 3
        elif body[i : i + 9].upper() == b"<!DOCTYPE":
            return i, _declaration_end(body, i + 9)
        else:
            return None
    return None


def _declaration_end(body: bytes, i: int) -> int:
    """The end of a DOCTYPE from `i`: the first `>` outside quotes, the subset's brackets and comments."""
    depth, quote, n = 0, 0, len(body)
    while i < n:
        byte = body[i]
        if quote:
            if byte == quote:
                quote = 0
        elif body.startswith(b"<!--", i):
            end = body.find(b"-->", i + 4)
            i = n if end < 0 else end + 2
        elif byte in b"\"'":
            quote = byte
        elif byte == ord("["):
            depth += 1
        elif byte == ord("]"):
            depth = max(depth - 1, 0)
        elif byte == ord(">") and depth == 0:
            return i + 1
        i += 1
    return n


_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_PROLOG = re.compile(rb"^\s*<\?xml[^>]*\?>")


def with_header_charset(body: bytes, content_type: str) -> bytes:
    """The body as UTF-8 when only the Content-Type header names its charset (the prolog names none)."""
    match = _CHARSET.search(content_type)
    if not match or match.group(1).lower().replace("_", "-") in ("utf-8", "utf8"):
        return body
    prolog = _PROLOG.match(body)
    if prolog and b"encoding" in prolog.group(0):
        return body
    try:
        text = body.decode(match.group(1))
    except (LookupError, UnicodeDecodeError):
        return body
    return text.encode("utf-8")


def parse_feed(source: str, body: bytes, url: str, content_type: str = "") -> list[RawItem]:
    """The items of an RSS 0.9x/1.0/2.0, Atom or JSON Feed document, newest data as the feed has it."""
    stripped = body.lstrip()
    if "json" in content_type or stripped.startswith(b"{"):
        return _parse_json_feed(source, body)
    body = with_header_charset(body, content_type)
    items = parse_fast(source, body, url)
    if items is not None:
        return items
    return parse_reference(source, without_doctype(body), url, content_type)


def parse_fast(source: str, body: bytes, url: str = "") -> list[RawItem] | None:
    """Items read from the lxml tree of a well-formed RSS or Atom document, links resolved against
    `url` and `xml:base`; None when the document is ill-formed or no RSS/Atom (the reference reads it).
    An entry the tree reader leaves to the reference is taken from it, the rest of the feed is not."""
    entries = parse_tree(body, url)
    if entries is None:
        return None
    items: list[RawItem] = []
    reference: list[Any] | None = None
    for index, entry in enumerate(entries):
        if entry is not None:
            items.append(_from_tree_entry(source, entry))
            continue
        if reference is None:
            reference = _reference_entries(body, url)
            if len(reference) != len(entries):  # the two cannot be paired: the reference reads it all
                return None
        items.append(_from_entry(source, reference[index]))
    return items


def well_formed(body: bytes) -> bool:
    """Whether the bytes are well-formed XML (ill-formed feeds are feedparser's job)."""
    return parse_tree(body) is not None


def _reference_entries(body: bytes, url: str) -> list[Any]:
    headers = {"content-location": url} if url else {}
    return list(feedparser.parse(without_doctype(body), response_headers=headers).entries)


def parse_reference(source: str, body: bytes, url: str, content_type: str = "") -> list[RawItem]:
    """Items read with feedparser, which copes with ill-formed feeds. A feed with no items is a quiet
    feed, not an error; only a document feedparser recognises as no feed format at all is refused."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers)
    if not parsed.entries and (not parsed.get("version") or _broken(parsed)):
        raise SourceError(source, f"not a feed: {parsed.get('bozo_exception', 'unparseable')}")
    return [_from_entry(source, entry) for entry in parsed.entries]


def _broken(parsed: Any) -> bool:
    """Whether feedparser found the document ill-formed (a remark on its charset or type is no flaw)."""
    soft = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    return bool(parsed.bozo) and not isinstance(parsed.get("bozo_exception"), soft)


def _from_tree_entry(source: str, entry: Entry) -> RawItem:
    key = entry.id or entry.link or _title_key(entry.title) or _text_key(entry.content)
    # No _storable(): XML can carry neither NUL nor a lone surrogate, so lxml never gives one.
    return RawItem(
        source=source,
        key=key,
        content=entry.content,
        kind=ContentKind.HTML,
        title=entry.title,
        url=entry.link,
        published_at=entry.published or entry.updated,
        tags=tuple(entry.tags),
        base=entry.base,
        updated_at=entry.updated,
    )


def _from_entry(source: str, entry: Any) -> RawItem:
    content = ""
    if entry.get("content"):
        content = entry["content"][0].get("value", "")
    content = content or entry.get("summary", "")
    detail = entry["content"][0] if entry.get("content") else entry.get("summary_detail") or {}
    if detail.get("type") == "text/plain":
        content = html.escape(content, quote=False)  # plain text stays plain through cleaning
    published = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    updated = _from_struct(dict.get(entry, "updated_parsed"))  # no fallback to the published date
    return _raw_item(source, entry, content, _from_struct(published), updated)


def _raw_item(
    source: str, entry: Any, content: str, published: datetime | None, updated: datetime | None = None
) -> RawItem:
    """The item of one parsed entry. Both parsers come here, so an item keeps the same identity
    (GUID, else link, else title) whichever parser read it."""
    link = entry.get("link") or None
    title = entry.get("title")
    if title and "<" in title and (entry.get("title_detail") or {}).get("type") == "text/plain":
        title = html.escape(title, quote=False)  # plain text stays plain through cleaning
    key = entry.get("id") or link or _title_key(title) or _text_key(content)
    tags = tuple(t.get("term") or t.get("label") or "" for t in entry.get("tags") or [])
    return _storable(
        RawItem(
            source=source,
            key=str(key),
            content=content,
            kind=ContentKind.HTML,
            title=title,
            url=link,
            published_at=published,
            tags=tuple(t for t in tags if t),
            updated_at=updated,
        )
    )


def _title_key(title: str | None) -> str:
    """An item's identity when it has neither id nor link: its title as a reader sees it, so both
    parsers give the same identity whatever markup or escaping the title was written with."""
    return normalize_text(title_text(title)) if title else ""


def _text_key(content: str) -> str:
    """The identity of an item with no id, link or title: the start of its text (links in the markup
    are resolved by one parser and not the other, so the markup would give two identities)."""
    return " ".join(html_to_text(content).split())[:200] if content else ""


def _storable(item: RawItem) -> RawItem:
    """The item as every backend stores it (`storable_text`): without NUL (a lenient parse of `&#0;`,
    or JSON's \\u0000) and with lone surrogates (JSON's "\\ud800") replaced, so it keeps one identity
    and text on SQLite and PostgreSQL and a poll never stops on it."""

    def fix(text: Any) -> Any:
        return storable_text(text) if isinstance(text, str) else text

    tags = tuple(t for t in (fix(tag) for tag in item.tags) if t)
    return replace(
        item,
        key=fix(item.key),
        content=fix(item.content),
        title=fix(item.title),
        url=fix(item.url),
        tags=tags,
    )


def _from_struct(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), UTC)


def _parse_json_feed(source: str, body: bytes) -> list[RawItem]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise SourceError(source, f"not a JSON Feed: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise SourceError(source, "not a JSON Feed: no `items` list")
    items = []
    for entry in document["items"]:
        if not isinstance(entry, dict):
            continue
        html_body = entry.get("content_html")
        link = entry.get("url") or entry.get("external_url")
        key = entry.get("id") or link
        if key is None:
            continue
        item = RawItem(
            source=source,
            key=str(key),
            content=str(html_body or entry.get("content_text") or entry.get("summary") or ""),
            kind=ContentKind.HTML if html_body else ContentKind.TEXT,
            title=entry.get("title"),
            url=link,
            published_at=_iso(entry.get("date_published") or entry.get("date_modified")),
            tags=tuple(str(t) for t in entry.get("tags", []) if t),
        )
        items.append(_storable(item))
    return items


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
