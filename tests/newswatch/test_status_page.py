"""The status pages in a real headless Chromium: rendered, styled under the strict Content-Security-
Policy, refreshing themselves, filtering and paging, the per-source and per-article pages, and hostile
text shown as text."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx
import numpy as np
import pytest

from core.db import Database, utcnow
from newswatch.service import Service
from newswatch.web import StatusServer
from tests.conftest import HttpServer, Reply, Served, Workspace, http_client
from tests.newswatch.browser import Browser, main_colour, pixel, read_png
from tests.newswatch.test_runtime import Running, add_article, start, wait_for

__all__ = ["start"]  # the fixture that launches `newswatch run`

# Every request to the pages: a new connection, as httpx.get's.
BROWSE = http_client(timeout=10)

ABSOLUTE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"
ROWS = "[...document.querySelectorAll('#articles table.articles tr')].slice(1)"
TITLES = f"{ROWS}.map(r => r.querySelector('a.title') ? r.querySelector('a.title').textContent : null)"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium = Browser(tmp_path / "chromium")
    yield chromium
    chromium.close()


def badge_colour(browser: Browser, selector: str, path: Path) -> tuple[int, int, int]:
    """The colour most of the element at `selector` is painted in, from a screenshot of it alone."""
    box = browser.evaluate(
        f"JSON.stringify(document.querySelector({json.dumps(selector)}).getBoundingClientRect())"
    )
    rect = json.loads(box)
    clip = {"x": rect["x"], "y": rect["y"], "width": rect["width"], "height": rect["height"], "scale": 1}
    shot = browser.call("Page.captureScreenshot", {"format": "png", "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))
    return main_colour(read_png(path)[2])


def near(colour: tuple[int, int, int], hex_colour: str, tolerance: int = 4) -> bool:
    wanted = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(colour, wanted, strict=True))


def test_status_page_in_chromium_shows_the_live_state_and_refreshes_itself_without_a_reload(
    start: Callable[..., Running], http_server: HttpServer, tmp_path: Path, browser: Browser
) -> None:
    """End to end: `newswatch run` polls and alerts; the open page shows it, styled, and picks up
    a new article on its own."""
    run = start()
    wait_for(lambda: run.metric("newswatch_deliveries_total", channel="newsroom", state="sent") == 1, "alert")

    browser.open(run.base + "/")
    html = browser.evaluate("document.documentElement.outerHTML")
    assert '<h1><a href="/">Newswatch</a></h1>' in html
    sources = browser.evaluate("document.getElementById('sources').innerText")
    assert "desk" in sources and "ok" in sources
    alerts = browser.evaluate("document.getElementById('alerts').innerText")
    assert "sent" in alerts and "kremlin-kyiv" in alerts
    articles = browser.evaluate("document.getElementById('articles').innerText")
    assert "Vladimir Putin" in articles and "kremlin-kyiv" in articles

    # Times read "… ago", with the absolute time on hover, and no "+00:00 UTC" anywhere.
    times = browser.evaluate(
        "[...document.querySelectorAll('#sources time')].map(t => [t.textContent, t.title])"
    )
    assert times and all(text.endswith(" ago") or text.startswith("in ") for text, _ in times), times
    assert all(re.match(ABSOLUTE, title) for _, title in times), times
    assert "+00:00" not in browser.evaluate("document.body.innerText")

    # The stylesheet and the script run under the strict CSP: the badges are painted, the page is live.
    assert browser.evaluate("document.getElementById('live-state').textContent") == "live"
    assert near(badge_colour(browser, "#sources .badge.ok", tmp_path / "ok.png"), "#d5f2dc")
    assert near(badge_colour(browser, "#alerts .badge.sent", tmp_path / "sent.png"), "#d5f2dc")

    shot = browser.screenshot(tmp_path / "status.png")
    width, height, rows = read_png(shot)
    assert (width, height) == (1280, 900)
    assert len(np.unique(rows.reshape(-1, 3), axis=0)) > 20, "the screenshot is nearly blank"
    assert near(pixel(rows, 2, 2), "#f7f8fa"), "the page background is not the stylesheet's"
    shutil.copy(shot, Path("/tmp/newswatch-status.png"))  # for a person to look at after the run

    # A new article: the open page shows it by itself, without a reload (the marker survives).
    browser.evaluate("window.stillTheSamePage = true")
    add_article(run.workspace, "second.txt", "Vladimir Putin speaks again", "Vladimir Putin spoke in Moscow.")
    browser.wait_for(
        "document.getElementById('articles').innerText.includes('Vladimir Putin speaks again')",
        "the new article to appear on the open page",
    )
    assert browser.evaluate("window.stillTheSamePage") is True
    assert browser.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert int(browser.evaluate("document.body.dataset.refreshes")) >= 1
    assert browser.problems() == []
    assert run.stop() == 0


# In-process: the service polls and delivers when the test says, and its pages are served by the
# same StatusServer `run` uses, so each state is exact.


@dataclass
class Site:
    service: Service
    server: StatusServer
    http_server: HttpServer
    ahead: list[timedelta]  # how far the service's clock is ahead of the wall clock

    @property
    def base(self) -> str:
        host, port = self.server.address
        return f"http://{host}:{port}"

    def get(self, path: str) -> httpx.Response:
        return BROWSE.get(self.base + path)

    def cycle(self, later: timedelta = timedelta(0)) -> None:
        """Poll every source once, then deliver what is due, `later` after the last cycle."""
        self.ahead[0] += later

        async def go() -> None:
            async with self.service:
                for source in self.service.config.sources:
                    await self.service.poll(source)
                await self.service.deliver()

        asyncio.run(go())


WORDS = ("harbour", "council", "budget", "river", "school", "bridge", "market", "winter", "railway")


def story_text(guid: str, title: str) -> str:
    """A text of its own for each story (so none is a near-duplicate of another), naming Vladimir
    Putin when the title has "Putin" and rain when it has "rain"."""
    digest = hashlib.sha256(guid.encode()).digest()
    words = [f"{WORDS[digest[k] % len(WORDS)]}{digest[k + 1]}" for k in range(30)]
    extra = (" Vladimir Putin spoke." if "Putin" in title else "") + (
        " It will rain." if "rain" in title else ""
    )
    return f"{title}. {' '.join(words)}.{extra}"


def rss(items: list[tuple[str, str, datetime]], link: str = "http://wire.example/") -> bytes:
    """An RSS feed of (guid, title, published) items, each with a text of its own."""
    entries = "".join(
        f"<item><guid>{escape(guid)}</guid><title>{escape(title)}</title><link>{link}{escape(guid)}</link>"
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<description>{escape(story_text(guid, title))}</description></item>"
        for guid, title, published in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{entries}</channel></rss>'.encode()
    )


CONFIG = """\
fetch: {{allow_private_addresses: true}}
sources:
{sources}
channels:
  - name: newsroom
    webhook: "{hook}"
    secret: {secret}
    retry: [1s, 1s]
rules:
  - name: kremlin
    people: [Vladimir Putin]
    notify: [newsroom]
  - name: weather
    keywords: [rain]
    notify: [newsroom]
"""


@pytest.fixture
def site(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> Iterator[Callable[[dict[str, bytes]], Site]]:
    """Sources named by `feeds` (name -> RSS body) served on loopback, a webhook with a token in its
    URL, and the status pages of a service on that config."""
    opened: list[Site] = []

    def make(feeds: dict[str, bytes]) -> Site:
        sources = []
        for name, body in feeds.items():
            path = f"/{len(sources)}.xml?token=feed-token-{len(sources)}"
            http_server.routes[path] = Served(body)
            sources.append(f"  - name: {json.dumps(name)}\n    feed: {json.dumps(http_server.url(path))}")
        workspace.write_config(
            CONFIG.format(
                sources="\n".join(sources),
                hook=http_server.url("/hook?token=hook-token-secret"),
                secret=webhook_secret,
            )
        )
        config = workspace.load_config()
        ahead = [timedelta(0)]
        service = Service(config, Database(config.database), now=lambda: utcnow() + ahead[0])
        server = StatusServer(service, ("127.0.0.1", 0))
        server.start()
        opened.append(Site(service, server, http_server, ahead))
        return opened[-1]

    yield make
    for each in opened:
        each.server.close()
        each.service.db.close()


NOW = datetime.now(UTC).replace(microsecond=0)


def test_articles_are_listed_newest_first_filtered_by_source_rule_and_text_and_paged(
    site: Callable[[dict[str, bytes]], Site], browser: Browser
) -> None:
    # 30 stories on the wire, out of date order; 3 at the desk.
    wire = [
        (f"w{i}", f"Wire story {i:02d}" + (" Putin" if i % 3 == 0 else ""), NOW - timedelta(hours=i))
        for i in range(30)
    ]
    order = wire[15:] + wire[:15]  # the feed's order (and so the ids) is not the date order
    desk = [(f"d{i}", f"Desk story {i} rain", NOW - timedelta(minutes=30 + i * 60)) for i in range(3)]
    s = site({"wire": rss(order), "desk": rss(desk, "http://desk.example/")})
    s.cycle()

    browser.open(s.base + "/")
    first_page = browser.evaluate(TITLES)
    by_date = sorted(wire + desk, key=lambda item: item[2], reverse=True)
    assert first_page == [title for _, title, _ in by_date[:25]], first_page
    assert "articles 1–25 of 33, newest first" in browser.evaluate(
        "document.getElementById('articles').innerText"
    )

    # Paging: "older" gives the rest, in order, then there is no older page.
    browser.evaluate("document.querySelector('#articles a[rel=next]').click()")
    browser.wait_for("location.search === '?page=2' && document.readyState === 'complete'", "page 2")
    assert browser.evaluate(TITLES) == [title for _, title, _ in by_date[25:]]
    assert browser.evaluate("document.querySelector('#articles a[rel=next]')") is None
    assert "page 2 of 2" in browser.evaluate("document.querySelector('nav.pager').innerText")

    # The filter form: source, then rule, then text; each narrows the list, newest first.
    def submit(field: str, value: str, expected_query: str) -> list[str]:
        browser.evaluate(
            f"document.querySelector('form.filter [name={field}]').value = {json.dumps(value)};"
            "document.querySelector('form.filter').requestSubmit()"
        )
        browser.wait_for(
            f"location.search === {json.dumps(expected_query)} && document.readyState === 'complete'",
            f"the filtered page {expected_query}",
        )
        titles: list[str] = browser.evaluate(TITLES)
        return titles

    browser.open(s.base + "/")
    assert submit("source", "desk", "?source=desk&rule=&q=") == [t for _, t, _ in desk]
    browser.open(s.base + "/")
    putin = [t for _, t, _ in sorted(wire, key=lambda i: i[2], reverse=True) if "Putin" in t]
    assert submit("rule", "kremlin", "?source=&rule=kremlin&q=") == putin
    # Text: the search language of `articles --search` (any case, title or text, `-word`), kept
    # when paging.
    unwanted = {"15", "18"}
    assert submit("q", "STORY -15 -18", "?source=&rule=kremlin&q=STORY+-15+-18") == [
        t for t in putin if not unwanted & set(t.split())
    ]
    assert browser.evaluate("document.querySelector('form.filter [name=q]').value") == "STORY -15 -18"
    browser.open(s.base + "/?q=wire")
    browser.evaluate("document.querySelector('#articles a[rel=next]').click()")
    browser.wait_for("location.search === '?q=wire&page=2' && document.readyState === 'complete'", "page 2")
    assert browser.evaluate(TITLES) == [t for _, t, _ in sorted(wire, key=lambda i: i[2], reverse=True)][25:]
    browser.open(s.base + "/?q=nothing+like+this")
    assert "no articles" in browser.evaluate("document.getElementById('articles').innerText")
    assert browser.problems() == []


def test_the_source_page_shows_its_health_recent_polls_and_errors_and_its_articles(
    site: Callable[[dict[str, bytes]], Site], browser: Browser, tmp_path: Path
) -> None:
    s = site({"wire": rss([("w1", "Putin visits", NOW - timedelta(hours=1))])})
    s.cycle()
    feed = next(iter(s.http_server.routes.values()))
    feed.status = 503  # the next poll fails
    s.cycle()

    browser.open(s.base + "/")
    browser.evaluate("document.querySelector('#sources a.source').click()")
    browser.wait_for(
        "location.pathname === '/sources/wire' && document.readyState === 'complete'", "the source page"
    )
    facts = browser.evaluate("document.getElementById('source').innerText")
    assert "error" in facts and "Failures in a row\t1" in facts and "HTTP 503" in facts
    polls = browser.evaluate(
        "[...document.querySelectorAll('#polls tr')].slice(1).map(r => [...r.cells].map(c => c.innerText))"
    )
    assert [(p[1], p[2], p[3]) for p in polls] == [("error", "503", "0"), ("ok", "200", "1")]
    assert "503" in polls[0][4]
    assert all(p[0].endswith(" ago") for p in polls)
    assert browser.evaluate(TITLES) == ["Putin visits"]
    # The feed URL's token is not on the page; the rest of the URL is.
    page = browser.evaluate("document.documentElement.outerHTML")
    assert "feed-token-0" not in page and "/0.xml?token=[redacted]" in page
    shot = browser.screenshot(tmp_path / "source.png")
    shutil.copy(shot, Path("/tmp/newswatch-status-source.png"))
    assert browser.problems() == []


def test_the_article_page_shows_sightings_matches_and_alerts_with_their_delivery_attempts(
    site: Callable[[dict[str, bytes]], Site], browser: Browser, tmp_path: Path
) -> None:
    story = ("s1", "Putin meets the press", NOW - timedelta(hours=2))
    # The same story on a second wire (same link): one article, two sightings.
    s = site({"wire": rss([story]), "agency": rss([("a9", story[1], story[2])], "http://wire.example/s1#")})
    s.http_server.post_script = [Reply(503)]  # the first delivery fails, the retry goes through
    s.cycle()
    s.cycle(later=timedelta(seconds=2))  # the retry is due

    browser.open(s.base + "/")
    browser.evaluate("document.querySelector('#articles a.title').click()")
    browser.wait_for(
        "location.pathname.startsWith('/articles/') && document.readyState === 'complete'", "the article page"
    )
    assert browser.evaluate("document.getElementById('title').textContent") == "Putin meets the press"
    sightings = browser.evaluate(
        "[...document.querySelectorAll('#sightings tr')].slice(1).map(r => r.cells[0].innerText)"
    )
    assert sorted(sightings) == ["agency", "wire"]
    matches = browser.evaluate("document.getElementById('matches').innerText")
    assert "kremlin" in matches and "Vladimir Putin" in matches
    attempts = browser.evaluate(
        "[...document.querySelectorAll('#alerts ol.attempts li')].map(li => li.innerText)"
    )
    assert (
        len(attempts) == 2 and "failed" in attempts[0] and "HTTP 503" in attempts[0] and "sent" in attempts[1]
    )
    assert "sent" in browser.evaluate("document.querySelector('#alerts .badge').textContent")
    page = browser.evaluate("document.documentElement.outerHTML")
    assert "hook-token-secret" not in page
    shot = browser.screenshot(tmp_path / "article.png")
    shutil.copy(shot, Path("/tmp/newswatch-status-article.png"))
    assert browser.problems() == []


HOSTILE = (
    '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    '"\'><svg onload="window.pwned = 3"> Putin'
)


def test_hostile_titles_and_names_are_shown_as_text_and_never_run(
    site: Callable[[dict[str, bytes]], Site], browser: Browser
) -> None:
    s = site({'<b onmouseover="x">wire</b>': rss([("h1", HOSTILE, NOW)], "javascript:alert(1)//")})
    s.cycle()
    for path in ("/", "/?q=" + quote(HOSTILE), None):
        if path is None:
            browser.evaluate("document.querySelector('#articles a.title').click()")
            browser.wait_for(
                "location.pathname.startsWith('/articles/') && document.readyState === 'complete'", "article"
            )
        else:
            browser.open(s.base + path)
        assert browser.evaluate("window.pwned === undefined")
        # Nothing the feed wrote became an element: the only images, scripts and svgs are none.
        assert browser.evaluate("document.querySelectorAll('main img, main svg, main script').length") == 0
        assert HOSTILE in browser.evaluate("document.querySelector('main').innerText")
        hrefs = browser.evaluate("[...document.querySelectorAll('a')].map(a => a.getAttribute('href'))")
        assert not any(h.lower().startswith("javascript:") for h in hrefs), hrefs
    browser.open(s.base + "/")
    source_link = browser.evaluate("document.querySelector('#sources a.source').getAttribute('href')")
    assert source_link == "/sources/%3Cb%20onmouseover%3D%22x%22%3Ewire%3C%2Fb%3E"
    browser.evaluate("document.querySelector('#sources a.source').click()")
    browser.wait_for(
        "location.pathname.startsWith('/sources/') && document.readyState === 'complete'", "source"
    )
    assert browser.evaluate("document.querySelector('h2 .name').textContent") == '<b onmouseover="x">wire</b>'
    assert browser.evaluate("window.pwned === undefined")
    assert browser.problems() == []
