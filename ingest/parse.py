"""Feed parsing: RSS, Atom and JSON Feed bytes become raw items."""

from __future__ import annotations

import calendar
import json
from datetime import UTC, datetime
from typing import Any

import feedparser

from ingest.models import ContentKind, RawItem
from newswatch.errors import SourceError


def parse_feed(source: str, body: bytes, url: str, content_type: str = "") -> list[RawItem]:
    """The items of an RSS 0.9x/1.0/2.0, Atom or JSON Feed document, newest data as the feed has it."""
    stripped = body.lstrip()
    if "json" in content_type or stripped.startswith(b"{"):
        return _parse_json_feed(source, body)
    parsed = feedparser.parse(body, response_headers={"content-location": url})
    if parsed.bozo and not parsed.entries:
        raise SourceError(source, f"not a feed: {parsed.get('bozo_exception', 'unparseable')}")
    return [_from_entry(source, entry) for entry in parsed.entries]


def _from_entry(source: str, entry: Any) -> RawItem:
    content = ""
    if entry.get("content"):
        content = entry["content"][0].get("value", "")
    content = content or entry.get("summary", "")
    link = entry.get("link") or None
    key = entry.get("id") or link or entry.get("title") or content[:200]
    tags = tuple(t.get("term") or t.get("label") or "" for t in entry.get("tags", []))
    published = entry.get("published_parsed") or entry.get("updated_parsed")
    return RawItem(
        source=source,
        key=str(key),
        content=content,
        kind=ContentKind.HTML,
        title=entry.get("title"),
        url=link,
        published_at=_from_struct(published),
        tags=tuple(t for t in tags if t),
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
        items.append(
            RawItem(
                source=source,
                key=str(key),
                content=str(html_body or entry.get("content_text") or entry.get("summary") or ""),
                kind=ContentKind.HTML if html_body else ContentKind.TEXT,
                title=entry.get("title"),
                url=link,
                published_at=_iso(entry.get("date_published") or entry.get("date_modified")),
                tags=tuple(str(t) for t in entry.get("tags", []) if t),
            )
        )
    return items


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
