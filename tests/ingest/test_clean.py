"""Cleaning: the seed article's quirks, HTML to text, summaries, topics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.boilerplate import DEFAULT, compile_boilerplate
from ingest.clean import clean, fix_text, html_to_text, is_boilerplate, split_fixture, summarize
from ingest.language import detect_language
from ingest.models import ContentKind, RawItem
from tests.conftest import SEED_FILE


def _seed() -> RawItem:
    return RawItem("desk", "file:seed.txt", SEED_FILE.read_text(encoding="utf-8"), ContentKind.FIXTURE)


def test_seed_title_is_the_first_line() -> None:
    article = clean(_seed())
    assert article.title.startswith("Russian President Vladimir Putin and Ukraine's President")
    assert article.title.endswith("discuss peace.")


def test_seed_body_has_no_advert_lines_and_no_title_or_footer() -> None:
    article = clean(_seed())
    lines = article.text.splitlines()
    assert "Advert" not in lines
    assert all(line.strip().lower() != "advert" for line in lines)
    assert lines[0].startswith("Zelenskyy made his desire")
    assert not any(line.startswith("Topics:") for line in lines)
    assert "Kremlin head" in article.text


def test_seed_topics_come_from_the_footer() -> None:
    assert clean(_seed()).topics == ("Vladimir Putin", "Ukraine", "Russia", "News")


def test_seed_summary_is_whole_sentences_within_300_chars() -> None:
    article = clean(_seed())
    assert 0 < len(article.summary) <= 300
    assert article.summary.endswith(".")
    assert article.text.startswith(article.summary)


@pytest.mark.parametrize(
    ("content", "title", "body", "topics"),
    [
        (
            "\n\n  Headline  \nBody one\nAdvert\nBody two\nTags: a, b ,a\n",
            "Headline",
            ["Body one", "Advert", "Body two"],
            ["a", " b ", "a"],
        ),
        ("Only a headline", "Only a headline", [], []),
        ("", "", [], []),
        ("Head\nTopics: \n", "Head", [], [""]),
    ],
)
def test_split_fixture(content: str, title: str, body: list[str], topics: list[str]) -> None:
    assert split_fixture(content) == (title, body, topics)


def test_changed_content_changes_the_hash_and_same_content_keeps_it() -> None:
    first = clean(_seed())
    again = clean(_seed())
    edited = clean(RawItem("desk", "k", _seed().content + "\nOne more line.", ContentKind.FIXTURE))
    assert first.content_hash == again.content_hash
    assert edited.content_hash != first.content_hash


def test_html_to_text_drops_scripts_and_keeps_paragraphs() -> None:
    markup = (
        "<p>First &amp; foremost</p><script>alert('x')</script><style>p{}</style>"
        "<div>Second<br>line</div><form><input value=no></form>"
    )
    assert html_to_text(markup) == "First & foremost\nSecond\nline"


def test_feed_item_uses_feed_title_and_tags_and_strips_adverts() -> None:
    item = RawItem(
        "wire",
        "guid-1",
        "<p>Body text.</p><p>Advertisement</p>",
        ContentKind.HTML,
        title="Wire &amp; headline",
        tags=("World", "world", "Europe"),
    )
    article = clean(item)
    assert article.title == "Wire & headline"
    assert article.text == "Body text."
    assert article.topics == ("World", "Europe")


def test_summarize_cuts_a_long_sentence() -> None:
    text = "word " * 200
    summary = summarize(text, 50)
    assert len(summary) <= 50
    assert summary.endswith("…")


FEED_ITEM_HTML = (
    "<div class='story'><p>Kyiv &amp; Moscow agreed to talk on Friday, officials said.</p>"
    "<script>track('view')</script>"
    "<div class='ad-slot'><p>Buy our <b>product</b> now</p><div>nested ad</div></div>"
    "<div id='gpt-ad-top'>Sponsored banner</div>"
    "<p>Russia\x92s delegation arrived &mdash; on time &#8230; mostly.</p>"
    "<iframe src='https://ads.example/'>frame text</iframe>"
    "<p>Share this article</p>"
    "<p>Subscribe to our newsletter for daily updates</p>"
    "<p>The talks continue. <a href='/more'>Continue reading</a></p></div>"
)


def test_feed_item_golden_case_scripts_ads_entities_and_windows_1252() -> None:
    item = RawItem("wire", "g1", FEED_ITEM_HTML, ContentKind.HTML, title="Talks &#8220;on&#8221;")
    article = clean(item)
    assert article.title == "Talks “on”"
    assert article.text.splitlines() == [
        "Kyiv & Moscow agreed to talk on Friday, officials said.",
        "Russia’s delegation arrived — on time … mostly.",
        "The talks continue.",
    ]
    assert "product" not in article.html and "track(" not in article.html and "iframe" not in article.html
    assert "<p>Kyiv &amp; Moscow agreed" in article.html
    assert "Russia’s" in article.html
    assert "Share this" not in article.html and "newsletter" not in article.html


def test_display_html_keeps_links_and_drops_dangerous_attributes() -> None:
    item = RawItem(
        "wire",
        "g2",
        "<p onclick='x()'>Hi <a href='javascript:alert(1)'>bad</a> <a href='https://ok.example/'>ok</a>"
        "<img src='https://pixel.example/t.gif'></p>",
        ContentKind.HTML,
    )
    display = clean(item).html
    assert "onclick" not in display and "javascript" not in display and "<img" not in display
    assert '<a href="https://ok.example/" rel="noopener noreferrer nofollow">ok</a>' in display


@pytest.mark.parametrize(
    ("line", "furniture"),
    [
        ("Advert", True),
        ("ADVERTISEMENT", True),
        ("Sponsored content", True),
        ("If you would like to donate, click here for more information.", True),
        ("Share this article", True),
        ("Share on Facebook", True),
        ("Subscribe to our newsletter", True),
        ("Follow us on Twitter and Facebook", True),
        ("Read more", True),
        ("Continue reading →", True),
        ("The advert campaign was withdrawn after complaints.", False),
        ("Readers shared the article widely.", False),
        ("He said he would subscribe to the plan.", False),
        ("Putin has finally agreed to meet.", False),
    ],
)
def test_boilerplate_lines(line: str, furniture: bool) -> None:
    assert is_boilerplate(line) is furniture


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["Body.", "Last line … Read more"], ["Body.", "Last line"]),
        (["Body.", "Last line [...] Continue reading →"], ["Body.", "Last line [...]"]),
        (["Body.", "Continue reading"], ["Body."]),
        (
            ["Read more about it later in the week, the minister said."],
            ["Read more about it later in the week, the minister said."],
        ),
    ],
)
def test_boilerplate_tails(lines: list[str], expected: list[str]) -> None:
    assert DEFAULT.strip(lines) == expected


def test_configured_boilerplate_adds_to_the_defaults() -> None:
    custom = compile_boilerplate([r"this story was produced by .*"])
    item = RawItem(
        "desk", "k", "Head\nBody.\nThis story was produced by the wire desk.\nAdvert", ContentKind.FIXTURE
    )
    assert clean(item, custom).text == "Body."
    only = compile_boilerplate([r"body\."], replace_defaults=True)
    assert clean(item, only).text == "This story was produced by the wire desk.\nAdvert"


@pytest.mark.parametrize(
    ("raw", "fixed"),
    [
        ("Russia\x92s", "Russia’s"),
        ("Russiaâ€™s", "Russia’s"),
        ("cafe\u0301", "café"),
        ("plain text", "plain text"),
    ],
)
def test_fix_text_repairs_mojibake_and_keeps_curly_quotes(raw: str, fixed: str) -> None:
    assert fix_text(raw) == fixed


def test_published_time_is_normalised_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    aware = RawItem(
        "w", "k", "x", ContentKind.TEXT, published_at=datetime(2026, 11, 24, 12, 0, tzinfo=plus_two)
    )
    naive = RawItem("w", "k", "x", ContentKind.TEXT, published_at=datetime(2026, 11, 24, 12, 0))
    assert clean(aware).published_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert clean(naive).published_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert clean(RawItem("w", "k", "x", ContentKind.TEXT)).published_at is None


def test_link_is_canonical_and_resolved_against_the_feed() -> None:
    item = RawItem("w", "k", "x", ContentKind.TEXT, url="/a/1?utm_source=rss#top")
    assert clean(item, base="https://Wire.example/feed.xml").url == "https://wire.example/a/1"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The minister said that the talks were going well and that he was hopeful of a deal.", "en"),
        (
            "Der Minister sagte, dass die Gespräche gut laufen und er auf eine Einigung mit dem Land hofft.",
            "de",
        ),
        (
            "Le ministre a dit que les discussions se passent bien et qu'il espère un accord pour la paix.",
            "fr",
        ),
        (
            "El ministro dijo que las conversaciones van bien y que espera un acuerdo con los vecinos.",
            "es",
        ),
        ("Putin Zelenskyy Kyiv Moscow", None),
    ],
)
def test_language_is_guessed_where_cheap(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_seed_language_and_display_html() -> None:
    article = clean(_seed())
    assert article.language == "en"
    assert article.html.startswith("<p>Zelenskyy made his desire")
    assert "Advert" not in article.html
    assert "click here" not in article.text


# Marked sections the standard library's parser asserts on: hostile feed HTML must never crash cleaning.
@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("Before<![x]>after", "Beforeafter"),
        ("<p>One</p><![ 1 ]><p>Two</p>", "One\nTwo"),
        ("<p>One</p><![if !IE]><p>Two</p><![endif]>", "One\nTwo"),
        ("Cut <![x", "Cut <![x"),
        ("<![CDATA[kept as a section]]>Tail", "Tail"),
    ],
    ids=["unknown-keyword", "no-name", "ms-conditional", "unclosed", "cdata"],
)
def test_html_to_text_survives_marked_sections(markup: str, text: str) -> None:
    assert html_to_text(markup) == text
