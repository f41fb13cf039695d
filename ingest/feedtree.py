"""The fast path: RSS 2.0/0.9x, RSS 1.0, Atom 1.0 and Atom 0.3 read from one strict lxml parse.

Each entry is read the way feedparser (the reference) reads it, so both paths give an item the same
title, link, id, dates, content and tags: the first `<title>` (a `media:title` only when there is
none), the last alternate HTML link, `xml:base` at every level, the last of several dates, the second
description-like element as content when there is no other. Where this module cannot say what
feedparser would (an Atom content given by `src`, or of a binary type), it returns None for that
entry and the caller asks the reference for that entry alone.

The DOCTYPE is left to lxml: entities declared there are never expanded (a reference stays as
written), nothing is loaded from the network or the disk, and CDATA, comments and processing
instructions are read as XML says.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import contextlib
import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.entities import entitydefs
from urllib.parse import urljoin

from feedparser.datetimes import _parse_date  # the reference's own date reader: dates agree exactly
from feedparser.sanitizer import _HTMLSanitizer
from lxml import etree

ATOM10 = "http://www.w3.org/2005/Atom"
ATOM03 = "http://purl.org/atom/ns#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XHTML = "http://www.w3.org/1999/xhtml"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
RDF_ABOUT = f"{{{RDF}}}about"

# Namespaces read as the core vocabulary (feedparser maps them all to its empty prefix).
_CORE = frozenset(
    {
        "",
        ATOM10,
        ATOM03,
        "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://backend.userland.com/rss",
        "http://backend.userland.com/rss2",
        "http://blogs.law.harvard.edu/tech/rss",
        "http://purl.org/rss/1.0/modules/rss091#",
    }
)
_PREFIX = {
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://search.yahoo.com/mrss/": "media",
    "http://search.yahoo.com/mrss": "media",
    "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://example.com/dtds/podcast-1.0.dtd": "itunes",
    XHTML: "xhtml",
}
ITUNES_SCHEME = "http://www.itunes.com/"
_ENTRY_TAGS = frozenset(f"{{{ns}}}{local}" if ns else local for ns in _CORE for local in ("item", "entry"))
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_MEDIA_CATEGORY_SCHEME = "http://search.yahoo.com/mrss/category_schema"
_URI_FIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_SAFE_SCHEMES = frozenset(
    {"", "file", "ftp", "gopher", "h323", "hdl", "http", "https", "imap", "magnet", "mailto", "mms"}
    | {"news", "nntp", "prospero", "rsync", "rtsp", "rtspu", "sftp", "shttp", "sip", "sips", "snews"}
    | {"svn", "svn+ssh", "telnet", "wais", "irc", "ircs", "acap", "aim", "callto", "cvs", "facetime"}
    | {"feed", "git", "gtalk", "itms", "msnim", "skype", "ssh", "smb", "xmpp", "ymsg", "data"}
)

# Strict: any well-formedness error sends the feed to the reference. No DTD, no network, no entity
# expansion, no huge trees: the DOCTYPE is parsed and ignored, never acted on. One parser per thread:
# lxml serialises the threads that share one, and feeds are parsed in worker threads.
_PARSERS = threading.local()


def strict_parser() -> etree.XMLParser:
    """This thread's strict parser (no DTD, no entity expansion, no network, no huge trees)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(
            recover=False,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
    return parser


@dataclass
class Entry:
    """What one entry says, as feedparser would report it (markup kept; plain text is cleaning's job)."""

    title: str | None = None
    title_type: str = "text/plain"
    link: str | None = None
    id: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    content: str = ""  # HTML: text constructs are escaped, so cleaning reads them as written
    tags: list[str] = field(default_factory=list)
    base: str | None = None


def parse_tree(body: bytes, url: str = "") -> list[Entry | None] | None:
    """The entries of a well-formed RSS or Atom document (None in place of an entry only the
    reference can read); None when the document is not well-formed or not RSS/Atom."""
    try:
        root = etree.fromstring(body, parser=strict_parser(), base_url=url or None)
    except (etree.XMLSyntaxError, ValueError):
        return None
    tag = root.tag
    if not isinstance(tag, str):
        return None
    local = tag.rpartition("}")[2]
    if local not in ("rss", "RDF", "feed", "rdf", "channel"):
        return None
    atom03 = tag == f"{{{ATOM03}}}feed"
    return [_entry(item, url, atom03) for item in _entries(root)]


def _entries(root: etree._Element) -> Iterator[etree._Element]:
    for element in root.iter():
        if element.tag in _ENTRY_TAGS:
            yield element


@dataclass
class _State:
    title: str | None = None
    title_type: str = "text/plain"
    media_title: str | None = None
    media_title_type: str = "text/plain"
    link: str | None = None
    id: str | None = None
    id_is_link: bool = False
    id_base: str = ""
    published: tuple[str] | None = None
    updated: tuple[str] | None = None
    summary: str | None = None
    summary_depth: int = 0
    contents: list[str] = field(default_factory=list)
    has_content: bool = False
    tags: list[tuple[str | None, str | None, str | None]] = field(default_factory=list)
    refer: bool = False  # a construct only the reference reads
    guess: bool = True  # RSS, not Atom: plain text that looks like HTML is HTML


def _entry(item: etree._Element, url: str, atom03: bool) -> Entry | None:
    state = _State(guess=not item.tag.endswith("}entry"))
    about = item.get(RDF_ABOUT)
    if about:
        state.id = about
    base = _base(item, url)
    _read(item, state, base, atom03, depth=1)
    if state.refer:
        return None
    link = state.link
    if link is None and state.id_is_link and state.id:
        link = _resolve(state.id_base, state.id)
    content = state.contents[0] if state.contents else state.summary or ""
    title, title_type = state.title, state.title_type
    if title is None and state.media_title is not None:
        title, title_type = state.media_title, state.media_title_type
    if title is not None and title_type == "text/plain" and "<" in title:
        title = html.escape(title, quote=False)  # plain text stays plain through cleaning
    tags: list[str] = []
    for term, _scheme, label in state.tags:
        name = term or label
        if name:
            tags.append(name)
    return Entry(
        title=title,
        title_type=title_type,
        link=link or None,
        id=state.id or None,
        published=_when(state.published),
        updated=_when(state.updated),
        content=content,
        tags=tags,
        base=base or None,
    )


def _read(parent: etree._Element, state: _State, base: str, atom03: bool, depth: int) -> None:
    for child in parent:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag[0] == "{":
            ns, _, local = tag[1:].partition("}")
            prefix = "" if ns in _CORE else _PREFIX.get(ns) or _PREFIX.get(ns.lower())
            if prefix is None:
                continue
        else:
            prefix, local = "", tag
        here = _base(child, base) if child.get(XML_BASE) is not None else base
        if prefix == "":
            _core(child, local, state, here, atom03, depth)
        elif prefix == "dc":
            _dc(child, local, state, here, atom03, depth)
        elif prefix == "dcterms":
            if local == "issued":
                state.published = (_text(child),)
            elif local == "modified":
                state.updated = (_text(child),)
        elif prefix == "content":
            if local == "encoded":
                state.has_content = True
                state.contents.append(_value(child, "text/html", atom03, state))
        elif prefix == "media":
            _media(child, local, state, here, atom03, depth)
        elif prefix == "itunes":
            _itunes(child, local, state, depth)
        elif prefix == "xhtml" and local == "body":
            state.contents.append(_value(child, "application/xhtml+xml", atom03, state))


def _core(child: etree._Element, local: str, state: _State, base: str, atom03: bool, depth: int) -> None:
    if local == "title":
        if state.title is None:
            state.title, state.title_type = _construct(child, _type(child, "text/plain"), atom03, state)
    elif local == "link":
        _link(child, state, base)
    elif local in ("guid", "id"):
        state.id_is_link = child.get("isPermaLink", child.get("ispermalink", "true")) == "true"
        # The id as written: feedparser resolves a permalink GUID against the feed's URL, which would
        # give every item a new identity when a feed moves. As a link, it is resolved (below).
        state.id = _text(child).strip()
        state.id_base = base
    elif local in ("pubDate", "published", "issued", "pubdate"):
        state.published = (_text(child),)
    elif local in ("updated", "modified", "lastBuildDate", "lastbuilddate"):
        state.updated = (_text(child),)
    elif local in ("description", "summary"):
        kind = "text/html" if local == "description" else "text/plain"
        _description(child, state, _type(child, kind), atom03, depth)
    elif local == "abstract":
        _description(child, state, _type(child, "text/plain"), atom03, depth)
    elif local == "content":
        if child.get("src") is not None:
            state.refer = True
            return
        state.has_content = True
        state.contents.append(_value(child, _type(child, "text/plain"), atom03, state))
    elif local in ("body", "fullitem"):
        state.has_content = state.has_content or local == "fullitem"
        kind = "application/xhtml+xml" if local == "body" else "text/html"
        state.contents.append(_value(child, _type(child, kind), atom03, state))
    elif local == "category":
        term = child.get("term")
        scheme = child.get("scheme", child.get("domain"))
        _category(state, term, scheme, child.get("label"), _text(child).strip())


def _dc(child: etree._Element, local: str, state: _State, base: str, atom03: bool, depth: int) -> None:
    if local == "date":
        state.updated = (_text(child),)
    elif local == "title":
        _core(child, "title", state, base, atom03, depth)
    elif local == "description":
        _description(child, state, _type(child, "text/html"), atom03, depth)
    elif local == "subject":
        _category(state, None, None, None, _text(child).strip())


def _media(child: etree._Element, local: str, state: _State, base: str, atom03: bool, depth: int) -> None:
    if local == "group":
        _read(child, state, base, atom03, depth + 1)
    elif local == "title":
        if state.title is None and state.media_title is None:
            value, kind = _construct(child, _type(child, "text/plain"), atom03, state)
            state.media_title, state.media_title_type = value, kind
    elif local == "description":
        _description(child, state, _type(child, "text/html"), atom03, depth + 1)
    elif local == "category":
        scheme = child.get("scheme", _MEDIA_CATEGORY_SCHEME)
        _category(state, None, scheme, child.get("label"), _text(child).strip())
    elif local == "keywords":
        for term in _text(child).split(","):
            if term.strip():
                _tag(state, (term.strip(), None, None))


def _itunes(child: etree._Element, local: str, state: _State, depth: int) -> None:
    if local == "summary":
        _description(child, state, _type(child, "text/plain"), False, depth)
    elif local == "category":
        _category_tree(child, state)
    elif local == "keywords":
        for term in _text(child).split(","):
            if term.strip():
                _tag(state, (term.strip(), ITUNES_SCHEME, None))


def _category_tree(element: etree._Element, state: _State) -> None:
    """An iTunes category and the ones nested in it, each a tag (the reference's reading)."""
    if element.get("text"):
        _tag(state, (element.get("text"), ITUNES_SCHEME, None))
    for child in element:
        if isinstance(child.tag, str) and child.tag.endswith("}category"):
            _category_tree(child, state)


def _description(child: etree._Element, state: _State, kind: str, atom03: bool, depth: int) -> None:
    """feedparser's rule: a second description-like element, when there is no content, is the content."""
    if state.summary is not None and not state.has_content:
        state.has_content = True
        state.contents.append(_value(child, kind, atom03, state))
        return
    if state.summary is None or depth <= state.summary_depth:
        state.summary = _value(child, kind, atom03, state)
        state.summary_depth = depth


def _category(state: _State, term: str | None, scheme: str | None, label: str | None, text: str) -> None:
    """feedparser's rule: a tag is added unless the same one is there, then its text fills its term
    (so two `<category domain>` with one text give the tag twice, as the reference does)."""
    if term or scheme or label:
        _tag(state, (term, scheme, label))
    if text:
        if state.tags and not state.tags[-1][0]:
            _, old_scheme, old_label = state.tags[-1]
            state.tags[-1] = (text, old_scheme, old_label)
        else:
            _tag(state, (text, None, None))


def _tag(state: _State, tag: tuple[str | None, str | None, str | None]) -> None:
    if tag not in state.tags:
        state.tags.append(tag)


def _link(child: etree._Element, state: _State, base: str) -> None:
    href = child.get("href") or child.get("url") or child.get("uri")
    if href is None:  # an RSS link: its text is the link, whatever came before
        text = _text(child).strip()
        state.link = _resolve(base, text) if text else ""  # an empty link is no link, and no base
        return
    rel = child.get("rel", "alternate")
    kind = child.get("type", "application/atom+xml" if rel == "self" else "text/html")
    if rel == "alternate" and _map_type(kind) in _HTML_TYPES:
        state.link = _resolve(base, href.strip())


def _type(element: etree._Element, default: str) -> str:
    kind = element.get("type")
    return default if kind is None else _map_type(kind)


def _map_type(kind: str) -> str:
    kind = kind.lower()
    if kind in ("text", "plain"):
        return "text/plain"
    if kind == "html":
        return "text/html"
    if kind == "xhtml":
        return "application/xhtml+xml"
    return kind


def _value(element: etree._Element, kind: str, atom03: bool, state: _State) -> str:
    """A content or summary as HTML: markup as written for HTML types, text/plain escaped."""
    value, kind = _construct(element, kind, atom03, state)
    return html.escape(value, quote=False) if kind == "text/plain" else value


def _construct(element: etree._Element, kind: str, atom03: bool, state: _State) -> tuple[str, str]:
    """A text construct's value and its type: markup for HTML types, text as written for text/plain."""
    base64_mode = element.get("mode") == "base64"
    if not base64_mode and not (kind.startswith("text/") or kind.endswith(("+xml", "/xml"))):
        state.refer = True  # binary content: the reference decodes it its own way
        return "", kind
    if len(element) and any(isinstance(c.tag, str) for c in element):
        unwrap = kind == "application/xhtml+xml" and not atom03
        return _inner_markup(element, unwrap), "text/html" if kind == "text/plain" else kind
    text = _text(element)
    if base64_mode:
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):  # undecodable: as written
            text = base64.decodebytes(text.encode("utf-8")).decode("utf-8")
    text = text.strip()
    if kind == "text/plain" and state.guess and _looks_like_html(text):
        kind = "text/html"  # RSS: nominally plain text that looks like HTML is HTML (feedparser's rule)
    return text, kind


def _text(element: etree._Element) -> str:
    """The text of an element; a DTD entity stays the reference it was written as, never expanded."""
    if not len(element):
        return element.text or ""
    parts = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str):
            parts.append(_text(child))
        elif child.tag is etree.Entity:
            parts.append(child.text or "")
        parts.append(child.tail or "")
    return "".join(parts)


def _inner_markup(element: etree._Element, unwrap: bool) -> str:
    children = [c for c in element if isinstance(c.tag, str)]
    wrapped = len(children) == 1 and children[0].tag in ("div", f"{{{XHTML}}}div")
    if unwrap and wrapped and not (element.text or "").strip() and not (children[0].tail or "").strip():
        element = children[0]
    parts = [html.escape(element.text or "", quote=False)]
    for child in element:
        parts.append(_serialize(child))
    return "".join(parts).strip()


def _serialize(element: etree._Element) -> str:
    markup: str = etree.tostring(element, encoding="unicode", with_tail=True)
    return _XMLNS.sub("", markup)


_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')

_CLOSE_TAG = re.compile(r"</(\w+)>")
_ENTITY_REF = re.compile(r"&#?\w+;")
_OPEN_TAG = re.compile(r"</?(\w+)")
_NAMED_ENTITY = re.compile(r"&(\w+);")


def _looks_like_html(text: str) -> bool:
    if not (_CLOSE_TAG.search(text) or _ENTITY_REF.search(text)):
        return False
    if any(t.lower() not in _HTMLSanitizer.acceptable_elements for t in _OPEN_TAG.findall(text)):
        return False
    return all(e in entitydefs for e in _NAMED_ENTITY.findall(text))


def _base(element: etree._Element, url: str) -> str:
    """The URL relative links of `element` resolve against: its xml:base chain over the feed's URL."""
    chain = []
    node: etree._Element | None = element
    while node is not None:
        value = node.get(XML_BASE)
        if value is not None:
            chain.append(value)
        node = node.getparent()
    base = url
    for value in reversed(chain):
        base = _safe_join(base, value) if base else _resolve(base, value)
    return base


def _quick_date(text: str) -> datetime | None:
    """The two shapes nearly every feed writes (W3C-DTF and RFC 822 with a numeric zone or GMT), read
    without the reference's list of date readers; None for anything else, which the reference reads."""
    found = _ISO.fullmatch(text)
    if found:
        year, month, day, hour, minute, second = (int(found[n]) for n in range(1, 7))
        sign, zone_hours, zone_minutes = found[7], found[8], found[9]
    else:
        found = _RFC822.fullmatch(text)
        if not found or found[2] not in _MONTHS:
            return None
        day, month, year = int(found[1]), _MONTHS[found[2]], int(found[3])
        hour, minute, second = int(found[4]), int(found[5]), int(found[6])
        sign, zone_hours, zone_minutes = found[7], found[8], found[9]
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    if sign:
        offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
        moment = moment - offset if sign == "+" else moment + offset
    return moment


def _safe_join(base: str, relative: str) -> str:
    joined = _resolve(base, relative)
    if joined.strip().split(":", 1)[0] not in _SAFE_SCHEMES:
        return base
    return joined


def _resolve(base: str, uri: str) -> str:
    if uri.startswith(("http://", "https://")) and not uri.endswith(("?", "#")) and ":///" not in uri:
        return uri  # absolute already: what urljoin would give back, without its cost
    if ":///" in uri:
        uri = _URI_FIXER.sub(r"\1\3", uri)
    try:
        return urljoin(base, uri)
    except ValueError:
        return ""


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:Z|([+-])(\d\d):(\d\d))")
_RFC822 = re.compile(
    r"(?:[A-Z][a-z]{2}, )?(\d\d?) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d)"
    r" (?:GMT|UTC|Z|([+-])(\d\d)(\d\d))"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _when(value: tuple[str] | None) -> datetime | None:
    if not value:
        return None
    quick = _quick_date(value[0].strip())
    if quick is not None:
        return quick
    parsed = _parse_date(value[0])
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, OSError, ValueError):
        return None
