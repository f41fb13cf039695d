"""The peers, run on the same served feeds: lemon24's reader, rss2email, and a naive baseline."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import feedparser


def reader_update(db: Path, urls: list[str], workers: int = 1) -> int:
    """reader: add the feeds (first time) and `update_feeds`; returns how many entries it stores."""
    from reader import make_reader

    reader = make_reader(str(db))
    try:
        known = {feed.url for feed in reader.get_feeds()}
        for url in urls:
            if url not in known:
                reader.add_feed(url)
        reader.update_feeds(workers=workers, scheduled=False)
        return reader.get_entry_counts().total or 0
    finally:
        reader.close()


def rss2email_run(folder: Path, urls: list[str], first: bool) -> None:
    """rss2email: `r2e run --no-send` (fetch, parse and keep state; no mail)."""
    config, data = folder / "r2e.cfg", folder / "r2e.json"
    base = [str(Path(sys.executable).parent / "r2e"), "-c", str(config), "-d", str(data)]
    if first:
        subprocess.run([*base, "new", "bench@example.org"], check=True, capture_output=True)
        # `r2e add` per feed would start 1,000 processes; its config is plain INI, so append.
        with config.open("a", encoding="utf-8") as out:
            for i, url in enumerate(urls):
                out.write(f"\n[feed.f{i}]\nurl = {url}\n")
    subprocess.run([*base, "run", "--no-send"], check=True, capture_output=True)


class Naive:
    """Sequential `feedparser.parse(url)`, a regex per rule, SQLite inserts: what a script would do."""

    def __init__(self, db: Path, terms: list[str]) -> None:
        self.db = sqlite3.connect(db)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS articles (guid TEXT PRIMARY KEY, title TEXT, link TEXT, body TEXT)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS matches (guid TEXT, rule INTEGER)")
        self.rules = [re.compile(rf"\b{re.escape(t)}\b", re.IGNORECASE) for t in terms]

    def update(self, urls: list[str], match: bool = True) -> int:
        new = 0
        for url in urls:
            for entry in feedparser.parse(url).entries:
                body = entry.get("summary", "")
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO articles VALUES (?, ?, ?, ?)",
                    (entry.get("id"), entry.get("title"), entry.get("link"), body),
                )
                new += cursor.rowcount
                if cursor.rowcount and match:
                    text = f"{entry.get('title', '')}\n{body}"
                    for index, rule in enumerate(self.rules):
                        if rule.search(text):
                            self.db.execute("INSERT INTO matches VALUES (?, ?)", (entry.get("id"), index))
            self.db.commit()
        return new

    def close(self) -> None:
        self.db.close()
