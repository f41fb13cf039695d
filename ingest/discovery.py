"""WebSub discovery: the hub(s) and the topic ("self") a feed advertises.

WebSub (W3C Recommendation, section 4) looks in the HTTP `Link:` headers first and, only when they
name no hub, in the document: `<atom:link rel="hub" href>` and `rel="self"` among the feed's own
elements (an Atom `<feed>`, an RSS `<channel>`), or a JSON Feed's `hubs` and `feed_url`. Links inside
entries are never read: an item's content is not the publisher's word on where its hub is.

Plain functions over bytes and strings (no network): the document is read in the CPU stage
(ingest/process.py), in a worker process, with the same strict, entity-free parser as the items.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urljoin

from lxml import etree

from ingest.feedtree import ATOM10, XML_BASE, strict_parser

MAX_URL = 2000  # longer hub or topic URLs are ignored (they go into form posts and a TEXT column)
MAX_HUBS = 5


@dataclass(frozen=True)
class FeedLinks:
    """What a feed advertises: its hubs (in order) and its topic URL; empty when it offers no WebSub."""

    hubs: tuple[str, ...] = ()
    topic: str | None = None

    @property
    def usable(self) -> bool:
        """A hub and a topic: what a subscription needs."""
        return bool(self.hubs) and self.topic is not None


NONE = FeedLinks()

# One link-value of a Link header (RFC 8288): <uri> followed by ;-separated parameters. Commas inside
# the <uri> or inside a quoted parameter do not separate values.
_LINK_VALUE = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,"=]+(?:=(?:"[^"]*"|[^;,]*))?)*)')
_PARAM = re.compile(r';\s*([^;=\s]+)\s*(?:=\s*(?:"([^"]*)"|([^;,]*)))?')


def _http_url(value: str, base: str) -> str | None:
    """`value` resolved against `base`, when it is an http(s) URL of sane length; else None."""
    value = value.strip()
    if not value or len(value) > MAX_URL:
        return None
    try:
        url = urljoin(base, value) if base else value
    except ValueError:
        return None
    if not re.match(r"^https?://[^/\s?#]+", url, re.IGNORECASE) or len(url) > MAX_URL:
        return None
    if any(c.isspace() or ord(c) < 32 for c in url):
        return None
    return url


def _collect(pairs: list[tuple[str, str]], base: str) -> FeedLinks:
    """(rel tokens, href) pairs to FeedLinks: every hub (up to MAX_HUBS), the first self."""
    hubs: list[str] = []
    topic: str | None = None
    for rels, href in pairs:
        tokens = {t.lower() for t in rels.split()}
        url = _http_url(href, base)
        if url is None:
            continue
        if "hub" in tokens and url not in hubs and len(hubs) < MAX_HUBS:
            hubs.append(url)
        if "self" in tokens and topic is None:
            topic = url
    return FeedLinks(tuple(hubs), topic)


def header_links(value: str | None, base: str = "") -> FeedLinks:
    """The hubs and self link of a `Link:` header (several headers arrive joined by commas)."""
    if not value:
        return NONE
    pairs: list[tuple[str, str]] = []
    for match in _LINK_VALUE.finditer(value[:16_384]):
        href, params = match.group(1), match.group(2)
        for param in _PARAM.finditer(params):
            if param.group(1).lower() == "rel":
                pairs.append(((param.group(2) or param.group(3) or ""), href))
    return _collect(pairs, base)


def document_links(body: bytes, url: str = "", content_type: str = "") -> FeedLinks:
    """The hubs and self link a feed document names at feed level; NONE for a document that is not
    a well-formed RSS, Atom or JSON feed (discovery is never worth a guess on a broken one)."""
    stripped = body.lstrip()
    if "json" in content_type or stripped.startswith(b"{"):
        return _json_links(body, url)
    try:
        root = etree.fromstring(body, parser=strict_parser(), base_url=url or None)
    except (etree.XMLSyntaxError, ValueError):
        return NONE
    if not isinstance(root.tag, str):
        return NONE
    local = root.tag.rpartition("}")[2]
    if local == "feed":
        holders = [root]
    elif local in ("rss", "RDF", "rdf"):
        holders = [child for child in root if isinstance(child.tag, str) and child.tag.endswith("channel")]
    else:
        return NONE
    pairs: list[tuple[str, str]] = []
    base = url
    for holder in holders:
        base = urljoin(url, holder.get(XML_BASE) or "") if url else holder.get(XML_BASE) or ""
        for child in holder:
            if child.tag == f"{{{ATOM10}}}link" and child.get("href") is not None:
                pairs.append((child.get("rel") or "", child.get("href") or ""))
    return _collect(pairs, base)


def _json_links(body: bytes, url: str) -> FeedLinks:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return NONE
    if not isinstance(document, dict):
        return NONE
    pairs: list[tuple[str, str]] = []
    hubs = document.get("hubs")
    if isinstance(hubs, list):
        for hub in hubs:
            kind = str(hub.get("type", "")).lower() if isinstance(hub, dict) else ""
            if kind in ("websub", "pubsubhubbub") and isinstance(hub.get("url"), str):
                pairs.append(("hub", hub["url"]))
    if isinstance(document.get("feed_url"), str):
        pairs.append(("self", document["feed_url"]))
    return _collect(pairs, url)


def discover(link_header: str | None, document: FeedLinks, base: str = "") -> FeedLinks:
    """What a fetch advertises, in the spec's order: the `Link:` headers when they name a hub, else
    the document. A self link missing from the headers is taken from the document."""
    headers = header_links(link_header, base)
    if headers.hubs:
        return FeedLinks(headers.hubs, headers.topic or document.topic)
    return document
