"""Cleaning: the seed article's quirks, HTML to text, summaries, topics."""

from __future__ import annotations

import pytest

from ingest.clean import clean, html_to_text, split_fixture, summarize
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
