"""Full text: a loopback news site whose feed carries summaries only, and article pages that look like
real ones (a cookie banner, a header with navigation, a share bar, the body in `<article>` or in divs,
"read more" links, comments, a footer). Polled through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.config import Config
from core.db import AlertRow, ArticleRow, Database
from ingest.pages import HostGate
from ingest.store import article_dict
from newswatch import web
from newswatch.service import PollOutcome, Service
from newswatch.settings import CONTEXT
from tests.conftest import HttpServer, Served, Workspace

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
NAME = "Ingrid Solberg-Maarten"
PARAGRAPHS = (
    "The city council voted on Tuesday to approve the new transit budget after a long debate that ran"
    " late into the evening.",
    "Supporters said the plan would add bus routes to neighbourhoods that have waited years for better"
    " service and cut commute times.",
    "Opponents argued that the cost estimates were too optimistic and that fares would have to rise"
    " within two years to cover the gap.",
    "The budget includes money for forty new electric buses, a rebuilt depot on the east side and more"
    " frequent night services.",
    "Officials said construction on the depot could begin next spring if the remaining permits are"
    " granted by the regional authority.",
    f"Among those who spoke in favour was {NAME}, a transport planner who has advised three previous"
    " administrations.",
    "The council will review progress on the plan in six months, and a public hearing on the fare"
    " changes is set for early autumn.",
)
SUMMARY = "The city council approved the new transit budget on Tuesday."
# What the page has besides the story: none of it may reach the stored text.
FURNITURE = (
    "We use cookies",  # cookie banner
    "Daily Example home",  # header
    "Politics",  # navigation
    "Share on Facebook",  # share bar
    "Mayor unveils parking overhaul",  # read-more list
    "Read more",
    "Bob Tomlinson",  # comments
    "waste of taxpayer money",
    "All rights reserved",  # footer
)


def article_page(paragraphs: tuple[str, ...] = PARAGRAPHS, layout: str = "article") -> bytes:
    """An article page as news sites write them; `layout`: the body in `<article>` or in divs."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    story = (
        f'<article class="story"><h1>Council approves transit budget</h1>{_byline()}'
        f'<div class="article-body">{body}</div></article>'
        if layout == "article"
        else f'<div class="story"><h1>Council approves transit budget</h1>{_byline()}'
        f'<div class="story-body">{body}</div></div>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Council approves transit budget | Daily Example</title>
<meta property="og:title" content="Council approves transit budget">
<meta name="author" content="Maria Jensen">
<meta property="article:published_time" content="2026-11-30T08:15:00+00:00">
</head><body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience. Accept all
cookies or manage your cookie settings.</p><button>Accept</button></div>
<header class="site-header"><a href="/" class="logo">Daily Example home</a>
<nav class="main-nav"><ul><li><a href="/world">World</a></li><li><a href="/politics">Politics</a></li>
<li><a href="/business">Business</a></li><li><a href="/sport">Sport</a></li></ul></nav></header>
<main>{story}
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Share on X</a>
<a href="#">Email this story</a></div>
<aside class="related"><h2>Read more</h2><ul>
<li><a href="/news/parking">Mayor unveils parking overhaul in surprise move</a></li>
<li><a href="/news/drivers">Bus drivers vote on new contract offer this week</a></li>
<li><a href="/news/bridge">Bridge repairs delayed again until next year</a></li></ul></aside>
<section id="comments" class="comments"><h2>Comments (2)</h2>
<div class="comment"><p class="author">Bob Tomlinson</p><p>This is a total waste of taxpayer money and
nobody rides the bus anyway.</p></div>
<div class="comment"><p class="author">Alice Fairweather</p><p>Finally some good news for the east side,
long overdue.</p></div></section>
</main>
<footer><p>Copyright 2026 Daily Example. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
</body></html>""".encode()


def _byline() -> str:
    return '<div class="byline">By Maria Jensen</div>'


def feed(server: HttpServer, items: list[tuple[str, str]]) -> bytes:
    """An RSS feed of (slug, summary) items linking to the site's pages, with no dates."""
    entries = "".join(
        f"<item><guid>{slug}</guid><title>Council approves transit budget ({slug})</title>"
        f"<link>{server.url('/news/' + slug)}</link><description>{summary}</description></item>"
        for slug, summary in items
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Daily Example</title>'
    return f"{head}{entries}</channel></rss>".encode()


WORDS = [
    *("harbour", "river", "market", "school", "hospital", "bridge", "winter", "festival", "museum"),
    *("library", "station", "farmers", "teachers", "nurses", "engineers", "tenants", "voters"),
    *("drivers", "mayor", "governor", "minister", "court", "council", "police", "storm", "flood"),
    *("fire", "drought", "harvest", "strike", "election", "budget", "tax", "rent", "wages", "prices"),
    *("fares", "exports", "opened", "closed", "delayed", "approved", "rejected", "announced"),
    *("warned", "promised", "repaired", "expanded", "reduced"),
]


def other_story(slug: str) -> tuple[str, ...]:
    """Seven paragraphs of a story of its own (no duplicate of any other)."""
    rng = random.Random(slug)
    return tuple(" ".join(rng.choices(WORDS, k=24)).capitalize() + "." for _ in range(7))


def summary(slug: str) -> str:
    """The feed's text of the item `slug` (each story its own, so none is a duplicate of another)."""
    return SUMMARY if slug == "transit" else f"{SUMMARY} Report {slug} on the depot."


def site(server: HttpServer, slugs: tuple[str, ...] = ("transit",), layout: str = "article") -> None:
    server.routes["/feed.xml"] = Served(feed(server, [(slug, summary(slug)) for slug in slugs]))
    for slug in slugs:
        paragraphs = PARAGRAPHS if slug == "transit" else other_story(slug)
        server.routes[f"/news/{slug}"] = Served(article_page(paragraphs, layout), content_type="text/html")


def config(server: HttpServer, mode: str = "auto", allow: Any = True, **full_text: Any) -> Config:
    return Config.model_validate(
        {
            "fetch": {"allow_private_addresses": allow, "timeout": "5s"},
            "full_text": {"host_delay": 0, **full_text},
            "sources": [{"name": "daily", "feed": server.url("/feed.xml"), "full_text": mode}],
            "channels": [{"name": "newsroom", "webhook": server.url("/hook")}],
            "rules": [{"name": "planner", "people": [NAME], "notify": ["newsroom"]}],
        },
        context=CONTEXT,
    )


def poll(cfg: Config, db: Database, now: datetime = START) -> PollOutcome:
    async def go() -> PollOutcome:
        async with Service(cfg, db, now=lambda: now) as service:
            return await service.poll(cfg.sources[0])

    return asyncio.run(go())


def articles(db: Database) -> list[dict[str, Any]]:
    with db.session() as session:
        return [article_dict(row) for row in session.scalars(select(ArticleRow).order_by(ArticleRow.id))]


def page_gets(server: HttpServer) -> list[str]:
    return [g.path for g in server.gets if g.path.startswith("/news/")]


@pytest.mark.parametrize("mode", ["auto", "never"])
def test_a_name_only_in_paragraph_six_fires_with_auto_and_not_with_never(
    http_server: HttpServer, db: Database, mode: str
) -> None:
    site(http_server)
    outcome = poll(config(http_server, mode), db)
    assert outcome.ok and outcome.new == 1
    with db.session() as session:
        alerted = list(session.scalars(select(AlertRow.rule)))
    [article] = articles(db)
    if mode == "auto":
        assert outcome.alerts == 1 and alerted == ["planner"]
        assert outcome.pages == 1 and article["text_source"] == "page"
    else:
        assert outcome.alerts == 0 and alerted == []
        assert page_gets(http_server) == [] and article["text_source"] == "feed"
        assert article["text"] == SUMMARY and article["page_error"] is None


@pytest.mark.parametrize("layout", ["article", "divs"])
def test_the_stored_text_is_the_body_without_navigation_comments_or_banners(
    http_server: HttpServer, db: Database, layout: str
) -> None:
    site(http_server, layout=layout)
    poll(config(http_server), db)
    [article] = articles(db)
    assert article["text"].split("\n") == list(PARAGRAPHS)
    for furniture in FURNITURE:
        assert furniture not in article["text"], furniture
        assert furniture not in article["html"], furniture
    assert article["text_source"] == "page" and article["page_error"] is None
    # The feed gave no date and no author: the page's metadata fills them in.
    assert article["author"] == "Maria Jensen"
    assert article["published_at"] == "2026-11-30T08:15:00+00:00"
    assert article["title"] == "Council approves transit budget (transit)"  # the feed's title stays
    page = web.article_page(db, article["id"])  # the status page's page of the article
    assert page is not None and "the linked page (full text)" in page


def test_a_long_enough_feed_text_is_kept_with_auto_and_replaced_with_always(
    http_server: HttpServer, db: Database
) -> None:
    long_summary = " ".join(PARAGRAPHS[:5])  # over 500 characters: auto keeps it
    http_server.routes["/feed.xml"] = Served(feed(http_server, [("transit", long_summary)]))
    http_server.routes["/news/transit"] = Served(article_page(), content_type="text/html")
    auto = poll(config(http_server, "auto"), db)
    assert auto.pages == 0 and page_gets(http_server) == [] and auto.alerts == 0
    assert articles(db)[0]["text_source"] == "feed"

    http_server.routes["/feed.xml"] = Served(feed(http_server, [("transit", long_summary + " Updated.")]))
    always = poll(config(http_server, "always"), db, START + timedelta(minutes=15))
    assert always.pages == 1 and always.alerts == 1 and page_gets(http_server) == ["/news/transit"]
    assert articles(db)[0]["text_source"] == "page"


def test_robots_txt_that_disallows_the_article_path_means_no_page_fetch(
    http_server: HttpServer, db: Database
) -> None:
    site(http_server, slugs=("transit", "budget"))
    http_server.routes["/robots.txt"] = Served(
        b"User-agent: *\nDisallow: /news/\n", content_type="text/plain"
    )
    outcome = poll(config(http_server), db)
    assert outcome.ok and outcome.new == 2 and outcome.pages == 0 and outcome.pages_failed == 2
    assert outcome.alerts == 0
    assert page_gets(http_server) == []  # the server saw no request for an article page
    assert [g.path for g in http_server.gets].count("/robots.txt") == 1  # read once for the host
    for article in articles(db):
        assert article["text"] == summary(article["sources"][0]["url"].rsplit("/", 1)[1])
        assert article["text_source"] == "feed"
        assert "robots.txt" in article["page_error"] and "disallows" in article["page_error"]


def test_robots_txt_that_allows_it_is_read_once_and_the_page_fetched(
    http_server: HttpServer, db: Database
) -> None:
    site(http_server, slugs=("transit", "budget", "depot"))
    http_server.routes["/robots.txt"] = Served(
        b"User-agent: *\nDisallow: /private/\n\nUser-agent: OtherBot\nDisallow: /\n",
        content_type="text/plain",
    )
    outcome = poll(config(http_server), db)
    assert outcome.pages == 3 and sorted(page_gets(http_server)) == [
        "/news/budget",
        "/news/depot",
        "/news/transit",
    ]
    assert [g.path for g in http_server.gets].count("/robots.txt") == 1


def test_a_page_redirected_to_a_private_address_is_refused_and_the_summary_used(
    http_server: HttpServer, db: Database
) -> None:
    other = HttpServer(host="127.0.0.2")  # loopback too, but not on the allowed list
    try:
        other.routes["/story"] = Served(article_page(), content_type="text/html")
        site(http_server)
        http_server.routes["/news/transit"] = Served(
            b"", status=302, headers={"Location": other.url("/story")}
        )
        outcome = poll(config(http_server, allow=["127.0.0.1/32"]), db)
        assert outcome.ok and outcome.new == 1 and outcome.pages_failed == 1 and outcome.alerts == 0
        assert not other.gets  # refused before connecting
        [article] = articles(db)
        assert article["text"] == SUMMARY and article["text_source"] == "feed"
        assert "127.0.0.2" in article["page_error"] and "non-public address" in article["page_error"]
    finally:
        other.close()


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_page_of_50_mb_is_refused_at_max_bytes(
    http_server: HttpServer, db: Database, encoding: str
) -> None:
    """Sent as it is (refused by its length), or gzipped to 50 KB (refused as it inflates)."""
    site(http_server)
    padding = b"<p>" + b"filler " * (50 * 1024 * 1024 // 7) + b"</p>"
    page = article_page() + padding
    headers = {}
    if encoding == "gzip":
        page, headers = gzip.compress(page), {"Content-Encoding": "gzip"}
    http_server.routes["/news/transit"] = Served(page, content_type="text/html", headers=headers)
    outcome = poll(config(http_server), db)
    assert outcome.ok and outcome.new == 1 and outcome.pages_failed == 1
    [article] = articles(db)
    assert article["text"] == SUMMARY and article["text_source"] == "feed"
    assert "(fetch.max_bytes)" in article["page_error"] and str(15 * 1024 * 1024) in article["page_error"]
    if encoding == "gzip":
        assert "decompressed body is larger than" in article["page_error"]


def test_an_unchanged_item_is_not_fetched_again(http_server: HttpServer, db: Database) -> None:
    site(http_server, slugs=("transit", "budget"))
    cfg = config(http_server)
    first = poll(cfg, db)
    assert first.pages == 2 and first.new == 2 and len(page_gets(http_server)) == 2
    second = poll(cfg, db, START + timedelta(minutes=15))
    assert second.ok and second.items == 2 and second.new == second.updated == 0
    assert len(page_gets(http_server)) == 2  # the feed was read again; its items are unchanged
    assert all(a["text_source"] == "page" for a in articles(db))

    # A changed item is a new version of the story: its page is read again, the other's is not.
    changed = [("transit", SUMMARY + " Updated at noon."), ("budget", summary("budget"))]
    http_server.routes["/feed.xml"] = Served(feed(http_server, changed))
    third = poll(cfg, db, START + timedelta(minutes=30))
    assert third.pages == 1 and page_gets(http_server)[2:] == ["/news/transit"]


def test_items_sharing_a_link_fetch_it_once(http_server: HttpServer, db: Database) -> None:
    http_server.routes["/news/transit"] = Served(article_page(), content_type="text/html")
    link = http_server.url("/news/transit")
    entries = "".join(
        f"<item><guid>{key}</guid><title>Council approves transit budget</title><link>{link}</link>"
        f"<description>{SUMMARY}</description></item>"
        for key in ("a", "b")
    )
    http_server.routes["/feed.xml"] = Served(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>D</title>{entries}</channel></rss>'.encode()
    )
    outcome = poll(config(http_server), db)
    assert page_gets(http_server) == ["/news/transit"] and outcome.pages == 1
    assert outcome.new == 1 and outcome.merged == 1  # the second item is the same story, by its link


def test_at_most_per_host_pages_are_fetched_at_once(http_server: HttpServer, db: Database) -> None:
    slugs = tuple(f"story-{n}" for n in range(6))
    site(http_server, slugs=slugs)
    for slug in slugs:
        http_server.routes[f"/news/{slug}"].delay = 0.3
    outcome = poll(config(http_server, per_host=2), db)
    assert outcome.pages == 6
    assert http_server.peak_gets_in_flight == 2  # concurrent, and never more than per_host


def test_the_host_gate_spaces_request_starts_by_the_delay() -> None:
    async def go() -> list[float]:
        gate = HostGate(per_host=2, delay=0.05)
        loop = asyncio.get_running_loop()
        starts: list[float] = []

        async def one() -> None:
            async with gate.slot("http://a.example"):
                starts.append(loop.time())

        await asyncio.gather(*(one() for _ in range(4)))
        return starts

    starts = sorted(asyncio.run(go()))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.05 - 0.005 for gap in gaps), gaps  # asyncio may wake a tick early


def test_run_once_and_articles_json_show_where_the_text_came_from(
    http_server: HttpServer, workspace: Workspace
) -> None:
    site(http_server, slugs=("transit", "budget"))
    http_server.routes["/robots.txt"] = Served(
        b"User-agent: *\nDisallow: /news/budget\n", content_type="text/plain"
    )
    workspace.write_config(
        f"fetch: {{allow_private_addresses: true, timeout: 5s}}\n"
        f"full_text: {{host_delay: 0}}\n"
        f"sources:\n  - {{name: daily, feed: '{http_server.url('/feed.xml')}', full_text: auto}}\n"
        f"channels:\n  - {{name: newsroom, webhook: '{http_server.url('/hook')}'}}\n"
        f"rules:\n  - {{name: planner, people: ['{NAME}'], notify: [newsroom]}}\n"
    )
    done = workspace.cli("run", "--once")
    assert done.returncode == 0, done.stderr  # a page not fetched is not a failed poll
    assert "page not used, the feed's text kept: robots.txt of" in done.stderr
    listed = workspace.cli("articles", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = {a["sources"][0]["url"].rsplit("/", 1)[1]: a for a in json.loads(listed.stdout)}
    assert shown["transit"]["text_source"] == "page" and shown["transit"]["page_error"] is None
    assert shown["budget"]["text_source"] == "feed" and "disallows" in shown["budget"]["page_error"]
    delivered = [json.loads(r.body) for r in http_server.received if r.path == "/hook"]
    assert [d["data"]["article"]["text_source"] for d in delivered] == ["page"]  # in the webhook too
