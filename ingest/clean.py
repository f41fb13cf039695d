"""Cleaning: raw items become articles with a title, plain text, summary and topics."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from html.parser import HTMLParser

from ingest.models import Article, ContentKind, RawItem

# Whole lines that are page furniture, not story: dropped wherever they stand.
BOILERPLATE_LINES = (re.compile(r"^\s*advert(isement)?\s*$", re.IGNORECASE),)
# A closing footer line whose comma-separated values become the article's topics.
TOPICS_FOOTER = re.compile(r"^\s*(topics|tags)\s*:\s*(?P<values>.*)$", re.IGNORECASE)
SUMMARY_CHARS = 300

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_SENTENCE_END = re.compile(r"(?<=[.!?\"'’”])\s+")


def clean(item: RawItem) -> Article:
    """Turn one raw item into a clean article (pure: no I/O, no clock)."""
    if item.kind is ContentKind.FIXTURE:
        title, lines, footer_topics = split_fixture(item.content)
        title = item.title or title
    else:
        text = html_to_text(item.content) if item.kind is ContentKind.HTML else item.content
        lines, footer_topics = _strip_footer(_normal_lines(text))
        title = normalize_text(html_to_text(item.title or "")) or (lines[0] if lines else "")
    lines = [line for line in lines if not is_boilerplate(line)]
    text = "\n".join(lines)
    topics = unique_topics([*item.tags, *footer_topics])
    title = title or "(untitled)"
    return Article(
        source=item.source,
        key=item.key,
        title=title,
        text=text,
        summary=summarize(text),
        topics=topics,
        url=item.url,
        published_at=item.published_at,
        content_hash=content_hash(title, text, topics),
    )


def split_fixture(content: str) -> tuple[str, list[str], list[str]]:
    """A fixture file's headline (first non-empty line), body lines, and `Topics:` footer values."""
    lines = _normal_lines(content)
    if not lines:
        return "", [], []
    title, body = lines[0], lines[1:]
    body, topics = _strip_footer(body)
    return title, body, topics


def is_boilerplate(line: str) -> bool:
    """Whether a whole line is page furniture (an `Advert` slot and the like)."""
    return any(pattern.match(line) for pattern in BOILERPLATE_LINES)


def normalize_text(text: str) -> str:
    """NFC, runs of spaces collapsed, ends trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first whole sentences of `text` that fit in `limit` characters (at least one, cut)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    summary = ""
    for sentence in _SENTENCE_END.split(flat):
        candidate = f"{summary} {sentence}".strip()
        if len(candidate) > limit:
            break
        summary = candidate
    return summary or flat[: limit - 1].rstrip() + "…"


def unique_topics(values: Iterable[str]) -> tuple[str, ...]:
    """Topics trimmed, empty ones dropped, duplicates (ignoring case) removed, order kept."""
    seen: set[str] = set()
    out = []
    for value in values:
        topic = normalize_text(value)
        if topic and topic.casefold() not in seen:
            seen.add(topic.casefold())
            out.append(topic)
    return tuple(out)


def content_hash(title: str, text: str, topics: Iterable[str]) -> str:
    """A stable fingerprint of what a reader sees: a changed hash means a changed article."""
    digest = hashlib.sha256()
    for part in (title, text, "\x1f".join(topics)):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def html_to_text(markup: str) -> str:
    """Plain text from HTML: scripts, styles and forms dropped, block elements kept as line breaks."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return parser.text()


def _normal_lines(text: str) -> list[str]:
    lines = (normalize_text(line) for line in text.replace("\r\n", "\n").split("\n"))
    return [line for line in lines if line]


def _strip_footer(lines: list[str]) -> tuple[list[str], list[str]]:
    if lines:
        match = TOPICS_FOOTER.match(lines[-1])
        if match:
            return lines[:-1], match.group("values").split(",")
    return lines, []


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "iframe", "form", "noscript", "template", "svg", "object"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "blockquote",
            "section",
            "article",
            "header",
            "footer",
            "tr",
            "table",
            "pre",
            "hr",
            "figure",
            "figcaption",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self._parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._parts.append(data)

    def text(self) -> str:
        return "\n".join(_normal_lines("".join(self._parts)))
