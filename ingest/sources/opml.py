"""OPML import and export of feed sources: outlines with an xmlUrl become `feed:` sources."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from lxml import etree

from core.config import SourceConfig
from core.errors import ConfigError
from ingest.parse import without_doctype

_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class OpmlFeed:
    """One feed outline: its title and feed URL."""

    title: str
    url: str


def read_opml(data: bytes, where: str) -> list[OpmlFeed]:
    """The feed outlines (any depth) of an OPML document; ConfigError if it is not OPML."""
    try:
        root = etree.fromstring(without_doctype(data), parser=_SAFE)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"{where}: not an OPML file: {exc}") from None
    if root is None or root.tag != "opml":
        raise ConfigError(f"{where}: not an OPML file (no <opml> root)")
    feeds = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if url:
            title = (outline.get("title") or outline.get("text") or url).strip()
            feeds.append(OpmlFeed(title, url))
    return feeds


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:60] or "feed"


def new_sources(feeds: Sequence[OpmlFeed], existing: Sequence[SourceConfig]) -> list[tuple[str, str]]:
    """(name, url) for each http(s) feed not configured yet, with a unique name made from its title."""
    names = {s.name for s in existing}
    urls = {s.feed for s in existing if s.feed}
    added = []
    for feed in feeds:
        if feed.url in urls or not re.match(r"^https?://[^/\s]+", feed.url, re.IGNORECASE):
            continue
        base = _slug(feed.title)
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        urls.add(feed.url)
        added.append((name, feed.url))
    return added


def append_to_config(text: str, sources: Sequence[tuple[str, str]]) -> str:
    """The config text with `sources` appended to its top-level `sources:` list (comments kept)."""
    if not sources:
        return text
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if re.match(r"^sources\s*:\s*(#.*)?$", line)), None)
    if start is None:
        if any(re.match(r"^sources\s*:", line) for line in lines):
            raise ConfigError(
                "`sources:` is written inline in the config; write it as a block list to import"
            )
        block = ["sources:\n"] + [_entry("  ", name, url) for name, url in sources]
        return "".join(lines) + "".join(block)
    end = start + 1
    indent = "  "
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() == "" or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("-"):
            break
        if line.lstrip().startswith("- ") and end == start + 1:
            indent = line[: len(line) - len(line.lstrip())]
        end = i + 1
    return "".join(lines[:end] + [_entry(indent, name, url) for name, url in sources] + lines[end:])


def _entry(indent: str, name: str, url: str) -> str:
    return f"{indent}- name: {_yaml_str(name)}\n{indent}  feed: {_yaml_str(url)}\n"


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_opml(sources: Sequence[SourceConfig], title: str = "Newswatch sources") -> str:
    """An OPML 2.0 document with one outline per feed source."""
    outlines = "".join(
        f'    <outline type="rss" text={quoteattr(s.name)} title={quoteattr(s.name)}'
        f" xmlUrl={quoteattr(s.feed)}/>\n"
        for s in sources
        if s.feed is not None
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
        f"  <head><title>{title}</title></head>\n  <body>\n{outlines}  </body>\n</opml>\n"
    )
