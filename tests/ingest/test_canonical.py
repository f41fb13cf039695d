"""Link canonicalisation: the same page spelled many ways becomes one link."""

from __future__ import annotations

import pytest

from ingest.canonical import canonical_link


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        ("HTTP://Wire.Example/a/1", None, "http://wire.example/a/1"),
        ("https://wire.example:443/a/1#comments", None, "https://wire.example/a/1"),
        ("http://wire.example:80/a/1", None, "http://wire.example/a/1"),
        ("http://wire.example:8080/a/1", None, "http://wire.example:8080/a/1"),
        (
            "https://wire.example/a/1?utm_source=rss&utm_medium=feed&id=7&fbclid=x&gclid=y&mc_cid=z",
            None,
            "https://wire.example/a/1?id=7",
        ),
        ("https://wire.example/a/1?UTM_Campaign=spring", None, "https://wire.example/a/1"),
        ("/a/2?ref=home", "https://wire.example/feed.xml", "https://wire.example/a/2?ref=home"),
        ("b/3", "https://wire.example/news/feed.xml", "https://wire.example/news/b/3"),
        ("https://user:pw@wire.example/a", None, "https://wire.example/a"),
        ("https://wire.example", None, "https://wire.example/"),
        ("javascript:alert(1)", None, None),
        ("mailto:desk@example.org", None, None),
        ("", None, None),
        (None, None, None),
        ("http://[::1", None, None),
    ],
)
def test_canonical_link(link: str | None, base: str | None, expected: str | None) -> None:
    assert canonical_link(link, base) == expected


def test_tracking_variants_of_one_link_are_equal() -> None:
    variants = [
        "https://wire.example/a/1?utm_source=a",
        "https://WIRE.example/a/1?utm_source=b&utm_medium=c#top",
        "https://wire.example:443/a/1?fbclid=123",
    ]
    assert len({canonical_link(v) for v in variants}) == 1
