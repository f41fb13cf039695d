"""Cleaning: raw items become articles with a title, plain text, display HTML, summary and topics."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from html.parser import HTMLParser

import ftfy
import ftfy.badness
import ftfy.fixes
import nh3

from ingest.boilerplate import DEFAULT, TOPICS_FOOTER, Boilerplate
from ingest.canonical import canonical_link
from ingest.language import detect_language
from ingest.models import Article, ContentKind, RawItem

SUMMARY_CHARS = 300
# The display copy keeps structure and links, nothing that runs, loads or tracks.
DISPLAY_TAGS = frozenset(
    {"p", "br", "a", "em", "strong", "b", "i", "u", "ul", "ol", "li", "blockquote", "q", "cite", "code"}
    | {"pre", "h2", "h3", "h4", "h5", "h6", "figure", "figcaption", "table", "tr", "td", "th", "sub", "sup"}
)
DISPLAY_ATTRIBUTES = {"a": {"href", "title"}}
# class/id words that mark an ad slot or sponsored block in feed HTML.
AD_SLOT = re.compile(
    r"(?:^|[\s_-])(ad|ads|adv|advert|advertisement|adslot|adunit|ad-slot|ad-unit|dfp|gpt|sponsor|"
    r"sponsored|promo|promoted|outbrain|taboola)(?:$|[\s_-])",
    re.IGNORECASE,
)

# A title is one line of at most this many characters (it goes into webhook payloads and email
# subjects): longer ones are cut, with an ellipsis. A raw title is cut at 64 times this before it is
# parsed, so a 10 MB title costs no more than a long one.
TITLE_CHARS = 1000
_RAW_TITLE_CHARS = 64 * TITLE_CHARS
_LINE_BREAKS = re.compile(r"[\s\u2028\u2029\x85]+")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")
_PLAIN_BLOCK = re.compile(r"<(p|li|h[2-6]|blockquote)>([^<]*)</\1>")
_SENTENCE_END = re.compile(r"(?<=[.!?\"'’”])\s+")
# Characters that only ftfy's full pass handles: C1 controls and the Latin-1 range that mojibake is
# made of, ligatures, full-width forms, lone surrogates. Text without them and without ftfy's
# "badness" needs only the cheap fixes below.
_NEEDS_FTFY = re.compile("[\x80-\xff\ufb00-\ufb06\uff01-\uffef\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(item: RawItem, boilerplate: Boilerplate = DEFAULT, base: str | None = None) -> Article:
    """Turn one raw item into a clean article (pure: no I/O, no clock); `base` resolves relative links."""
    parsed: _TextExtractor | None = None
    if item.kind is ContentKind.FIXTURE:
        title, lines, footer_topics = split_fixture(item.content)
        title = normalize_text((item.title or "")[:_RAW_TITLE_CHARS]) or title
    else:
        if item.kind is ContentKind.HTML:  # the HTML is parsed once, for the text and the display copy
            parsed = _parse_html(fix_text(item.content, markup=True))
            text = parsed.text()
        else:
            text = fix_text(item.content)
        lines, footer_topics = _strip_footer(_normal_lines(text))
        title = normalize_text(title_text((item.title or "")[:_RAW_TITLE_CHARS])) or (
            lines[0] if lines else ""
        )
    lines = boilerplate.strip(lines)
    display = _display(parsed, boilerplate) if parsed is not None else lines_to_html(lines)
    text = "\n".join(lines)
    topics = unique_topics([*item.tags, *footer_topics])
    title = one_line_title(title) or "(untitled)"
    return Article(
        source=item.source,
        key=item.key,
        title=title,
        text=text,
        summary=summarize(text),
        topics=topics,
        url=canonical_link(item.url, base or item.base),
        published_at=to_utc(item.published_at),
        content_hash=content_hash(title, text, topics),
        html=display,
        language=detect_language(f"{title}\n{text}"),
    )


def split_fixture(content: str) -> tuple[str, list[str], list[str]]:
    """A fixture file's headline (first non-empty line), body lines, and `Topics:` footer values."""
    lines = _normal_lines(fix_text(content))
    if not lines:
        return "", [], []
    title, body = lines[0], lines[1:]
    body, topics = _strip_footer(body)
    return title, body, topics


def is_boilerplate(line: str, boilerplate: Boilerplate = DEFAULT) -> bool:
    """Whether a whole line is page furniture (an `Advert` slot and the like)."""
    return boilerplate.is_furniture(line)


def fix_text(text: str, markup: bool = False) -> str:
    """Mojibake and Windows-1252 stray bytes repaired (curly quotes kept as written).

    ftfy's full pass costs about 1 ms per 2 KB; most news text needs none of it. Only text holding a
    character mojibake is made of, or that ftfy's own badness check flags, gets the full pass; the rest
    gets what ftfy would do to it anyway: control characters dropped, line breaks and HTML entities
    (in text without markup) made plain, NFC. `markup`: the text is HTML, whose entities the HTML
    parser reads (`&lt;b&gt;` there is the text "<b>", never a tag)."""
    unescape = False if markup else "auto"
    if _NEEDS_FTFY.search(text) or (not text.isascii() and ftfy.badness.is_bad(text)):
        return ftfy.fix_text(text, uncurl_quotes=False, normalization="NFC", unescape_html=unescape)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not markup and "&" in text and "<" not in text:
        text = ftfy.fixes.unescape_html(text)
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def title_text(title: str) -> str:
    """A title as plain text on one line: markup parsed only when there is any."""
    text = html_to_text(title) if "<" in title or "&" in title else fix_text(title)
    return " ".join(text.splitlines())


def one_line_title(title: str, limit: int = TITLE_CHARS) -> str:
    """A title on one line (line breaks, `&#10;` included once decoded, become spaces), at most
    `limit` characters: a longer one is cut at a word where it can be and ends in an ellipsis."""
    title = _LINE_BREAKS.sub(" ", title).strip()
    if len(title) <= limit:
        return title
    cut = title[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def normalize_text(text: str) -> str:
    """NFC, runs of spaces collapsed, ends trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def to_utc(moment: datetime | None) -> datetime | None:
    """A timestamp in UTC; a naive one is taken to be UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
    """Plain text from HTML: scripts, styles, forms and ad slots dropped, blocks kept as line breaks."""
    return _parse_html(fix_text(markup, markup=True)).text()


def sanitize_html(markup: str, boilerplate: Boilerplate = DEFAULT) -> str:
    """A display copy of feed HTML: ad slots, scripts and furniture paragraphs gone, an allow-list of
    tags and attributes kept."""
    return _display(_parse_html(fix_text(markup, markup=True)), boilerplate)


def _parse_html(markup: str) -> _TextExtractor:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return parser


def _display(parser: _TextExtractor, boilerplate: Boilerplate) -> str:
    safe = nh3.clean(
        parser.markup(),
        tags=set(DISPLAY_TAGS),
        attributes={k: set(v) for k, v in DISPLAY_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )

    def furniture(block: re.Match[str]) -> str:
        return "" if boilerplate.is_furniture(normalize_text(html.unescape(block[2]))) else block[0]

    return _PLAIN_BLOCK.sub(furniture, safe).strip()


def lines_to_html(lines: Iterable[str]) -> str:
    """Plain lines as escaped paragraphs, the display copy of a fixture or text item."""
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines)


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
    _SKIP = frozenset(
        {"script", "style", "iframe", "form", "noscript", "template", "svg", "object", "embed", "nav"}
        | {"button", "select", "textarea", "input", "aside", "video", "audio", "canvas"}
    )
    _VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "source", "wbr", "embed", "area", "col"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "section"}
        | {"article", "header", "footer", "tr", "table", "pre", "hr", "figure", "figcaption", "dd", "dt"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._markup: list[str] = []
        self._skip_tag: str | None = None  # the element being skipped, and how deep inside it we are
        self._skip_depth = 0

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        # The standard library asserts on a marked section it does not know (`<![x]>`, `<![ 1`);
        # feed HTML is hostile, so such a section is a bogus comment up to the next `>`, as browsers read it.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag and tag not in self._VOID:
                self._skip_depth += 1
            return
        marks = " ".join(v or "" for k, v in attrs if k in ("class", "id"))
        if tag in self._SKIP or AD_SLOT.search(marks):
            if tag not in self._VOID:
                self._skip_tag, self._skip_depth = tag, 1
            return
        if tag in self._BLOCK:
            self._parts.append("\n")
        self._markup.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is None and tag in self._BLOCK:
            self._parts.append("\n")
        if self._skip_tag is None and tag not in self._SKIP:
            self._markup.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in self._BLOCK:
            self._parts.append("\n")
        self._markup.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._skip_tag is None:
            self._parts.append(data)
            self._markup.append(html.escape(data, quote=False))

    def text(self) -> str:  # the markup was fixed (fix_text) before parsing
        return "\n".join(_normal_lines("".join(self._parts)))

    def markup(self) -> str:
        return "".join(self._markup)
