"""A loopback news site for the full-text figure: `python -m bench.site PORT HOSTS FEEDS ITEMS`.

It answers on 127.0.0.1 to 127.0.0.HOSTS (each address is a host of its own to Newswatch's per-host
limits), all on PORT. Feed f lives on host f % HOSTS + 1 at /feed/f.xml and carries ITEMS items with a
one-sentence summary each; each links to its article page on the same host, /news/f-i, a page as news
sites write them (about 80 KB: styles and scripts in the head, a cookie banner, navigation, a share
bar, the story, related links, comments, a footer). robots.txt allows the articles. Every page is
made once at start, so serving costs only the socket."""

from __future__ import annotations

import random
import sys
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.news import story

ROBOTS = b"User-agent: *\nDisallow: /private/\nDisallow: /search\n"
SECTIONS = ["World", "Politics", "Business", "Tech", "Science", "Health", "Sport", "Culture", "Opinion"]


def page(number: int, rng: random.Random) -> tuple[str, str, bytes]:
    """(title, summary, page) of story `number`."""
    told = story(number, rng)
    style = "".join(f".c{i}{{margin:{i % 7}px;padding:{i % 5}px;color:#{i % 999:03d}}}" for i in range(600))
    script = "".join(f"window.__cfg{i}={{id:{i},slot:'ad-{i}',lazy:true}};" for i in range(700))
    nav = "".join(f'<li><a href="/{s.lower()}">{s}</a></li>' for s in SECTIONS * 4)
    body = "".join(f"<p>{escape(p)}</p>" for p in told.paragraphs)
    related = "".join(
        f'<li><a href="/news/related-{number}-{k}">{escape(story(number * 10 + k, rng).title)}</a></li>'
        for k in range(6)
    )
    comments = "".join(
        f'<div class="comment"><p class="author">Reader {k}</p><p>{escape(rng.choice(told.paragraphs))}'
        "</p></div>"
        for k in range(8)
    )
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{escape(told.title)} | Daily Ledger</title><meta property="og:title" content="{escape(told.title)}">
<meta name="author" content="{escape(told.people[0])}">
<meta property="article:published_time" content="2026-12-0{1 + number % 3}T0{number % 10}:15:00+00:00">
<style>{style}</style><script>{script}</script></head><body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience.</p>
<button>Accept all</button><button>Settings</button></div>
<header class="site-header"><a class="logo" href="/">Daily Ledger</a>
<nav class="main-nav"><ul>{nav}</ul></nav></header><main><article class="story"><h1>{escape(told.title)}</h1>
<div class="byline">By {escape(told.people[0])}</div>
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Share on X</a>
<a href="#">Email</a></div>
<div class="article-body">{body}</div></article>
<aside class="related"><h2>Read more</h2><ul>{related}</ul></aside>
<section id="comments" class="comments"><h2>Comments</h2>{comments}</section></main>
<footer><p>Copyright 2026 Daily Ledger. All rights reserved.</p><ul>{nav}</ul></footer>
<script>{script[:5000]}</script></body></html>"""
    return told.title, told.paragraphs[0].split(". ")[0] + ".", html.encode()


def build(port: int, hosts: int, feeds: int, items: int) -> dict[tuple[str, str], tuple[bytes, str]]:
    """Every (host, path) the site answers, with its body and type."""
    rng = random.Random(5)
    routes: dict[tuple[str, str], tuple[bytes, str]] = {}
    when = format_datetime(datetime(2026, 12, 3, 6, 0, tzinfo=UTC))
    for host in range(1, hosts + 1):
        routes[(f"127.0.0.{host}", "/robots.txt")] = (ROBOTS, "text/plain")
    for f in range(feeds):
        address = f"127.0.0.{f % hosts + 1}"
        entries = []
        for i in range(items):
            title, summary, html = page(f * items + i, rng)
            path = f"/news/{f}-{i}"
            routes[(address, path)] = (html, "text/html; charset=utf-8")
            entries.append(
                f"<item><guid>{f}-{i}</guid><title>{escape(title)}</title>"
                f"<link>http://{address}:{port}{path}</link><pubDate>{when}</pubDate>"
                f"<description>{escape(summary)}</description></item>"
            )
        feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {f}</title>{"".join(entries)}'
        routes[(address, f"/feed/{f}.xml")] = ((feed + "</channel></rss>").encode(), "application/rss+xml")
    return routes


def serve(port: int, hosts: int, feeds: int, items: int) -> None:
    routes = build(port, hosts, feeds, items)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as news sites answer

        def do_GET(self) -> None:
            found = routes.get((str(self.connection.getsockname()[0]), self.path.split("?", 1)[0]))
            if found is None:
                self.send_error(404)
                return
            body, kind = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    servers = [ThreadingHTTPServer((f"127.0.0.{h}", port), Handler) for h in range(1, hosts + 1)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    serve(*(int(arg) for arg in sys.argv[1:5]))
