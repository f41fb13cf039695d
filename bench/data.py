"""Seeded, synthetic but realistic news: feeds of 20-100 HTML items, 30% near-duplicate stories."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

FIRST = [
    "Vladimir",
    "Volodymyr",
    "Olena",
    "Emmanuel",
    "Olaf",
    "Giorgia",
    "Keir",
    "Joe",
    "Kamala",
    "Xi",
    "Narendra",
    "Recep",
    "Ursula",
    "Antonio",
    "Jens",
    "Mark",
    "Ana",
    "Pedro",
    "Luiz",
    "Javier",
    "Maria",
    "Sanna",
    "Petr",
    "Andrzej",
    "Viktor",
    "Kaja",
    "Gabriel",
    "Irina",
    "Yulia",
    "Dmitri",
    "Sergei",
    "Mikhail",
    "Boris",
    "Andriy",
    "Oleksandr",
    "Denys",
    "Natalia",
    "Lyse",
    "Fatima",
    "Amina",
    "Kofi",
]
LAST = [
    "Putin",
    "Zelenskyy",
    "Macron",
    "Scholz",
    "Meloni",
    "Starmer",
    "Biden",
    "Harris",
    "Jinping",
    "Modi",
    "Erdogan",
    "Leyen",
    "Guterres",
    "Stoltenberg",
    "Rutte",
    "Costa",
    "Sanchez",
    "Lula",
    "Milei",
    "Sandu",
    "Marin",
    "Pavel",
    "Duda",
    "Orban",
    "Kallas",
    "Attal",
    "Kovalenko",
    "Tymoshenko",
    "Medvedev",
    "Lavrov",
    "Mishustin",
    "Johnson",
    "Yermak",
    "Syrskyi",
    "Shmyhal",
    "Doucet",
    "Haddad",
    "Mohammed",
    "Annan",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Brennan",
    "Takahashi",
    "Novak",
    "Petrov",
    "Horvat",
]
# Words of stories, which watch terms are made of ...
CONTENT_WORDS = [
    "government",
    "minister",
    "talks",
    "peace",
    "ceasefire",
    "army",
    "border",
    "sanctions",
    "economy",
    "energy",
    "gas",
    "oil",
    "grain",
    "election",
    "parliament",
    "vote",
    "court",
    "ruling",
    "protest",
    "police",
    "city",
    "region",
    "province",
    "capital",
    "report",
    "agency",
    "officials",
    "diplomats",
    "summit",
    "meeting",
    "visit",
    "spokesperson",
    "statement",
    "interview",
    "troops",
    "drone",
    "missile",
    "attack",
    "defence",
    "shelter",
    "refugees",
    "children",
    "hospital",
    "school",
    "aid",
    "corridor",
    "convoy",
    "winter",
    "power",
    "outage",
    "repair",
    "bridge",
    "port",
    "harbour",
    "shipping",
    "exports",
    "imports",
    "tariff",
    "bank",
    "market",
    "inflation",
    "prices",
    "budget",
    "reform",
    "investigation",
    "corruption",
    "charges",
    "trial",
    "witness",
    "evidence",
    "journalist",
    "newspaper",
    "broadcast",
    "television",
    "radio",
    "online",
    "network",
    "cyber",
    "hackers",
    "data",
    "leak",
    "climate",
    "flood",
    "storm",
    "drought",
    "wildfire",
    "harvest",
    "farmers",
    "workers",
    "strike",
    "union",
    "salary",
    "pension",
    "health",
    "vaccine",
    "outbreak",
    "clinic",
    "doctors",
    "nurses",
    "study",
    "university",
    "research",
    "science",
    "space",
    "satellite",
    "launch",
    "mission",
    "station",
    "football",
    "match",
    "league",
    "final",
    "coach",
    "players",
    "fans",
    "stadium",
]
# ... and function words and reporting verbs, which no watch term is made of.
PLAIN_WORDS = [
    "the",
    "a",
    "of",
    "to",
    "in",
    "and",
    "for",
    "on",
    "with",
    "at",
    "by",
    "from",
    "after",
    "before",
    "during",
    "while",
    "over",
    "under",
    "between",
    "said",
    "says",
    "told",
    "added",
    "warned",
    "announced",
    "confirmed",
    "denied",
    "claimed",
    "argued",
    "noted",
    "reported",
    "new",
    "old",
    "first",
    "last",
    "major",
    "minor",
    "early",
    "late",
    "local",
    "national",
    "international",
    "regional",
]
WORDS = CONTENT_WORDS + PLAIN_WORDS


@dataclass(frozen=True)
class Item:
    guid: str
    link: str
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    story: int  # items with the same story number are copies of one story

    markup: bool = False  # richer HTML: links, emphasis, a list, a figure, an embedded widget

    def html(self) -> str:
        if not self.markup:
            body = "".join(f"<p>{escape(p)}</p>" for p in self.paragraphs)
            return body + '<div class="ad">Advertisement</div><script>track()</script>'
        parts = []
        for n, paragraph in enumerate(self.paragraphs):
            words = escape(paragraph).split(" ")
            if len(words) > 8:
                words[2] = f'<a href="https://ref.example/{n}?utm_source=feed">{words[2]}</a>'
                words[5] = f"<strong>{words[5]}</strong>"
                words[7] = f"<em>{words[7]}</em>"
            parts.append(f'<p class="body-{n}">{" ".join(words)}</p>')
            if n == 1:
                parts.append(
                    '<figure><img src="https://img.example/a.jpg" alt="photo" width="640">'
                    "<figcaption>Photo: Agency</figcaption></figure>"
                )
            if n == 2:
                parts.append("<ul><li>Key point one &amp; more</li><li>Key point &ldquo;two&rdquo;</li></ul>")
        parts.append('<aside class="related"><h3>Related</h3><a href="/x">More news</a></aside>')
        parts.append('<div class="ad">Advertisement</div><script>track()</script><iframe src="x"></iframe>')
        return "".join(parts)


@dataclass(frozen=True)
class Corpus:
    feeds: tuple[tuple[Item, ...], ...]
    names: tuple[str, ...]

    @property
    def items(self) -> int:
        return sum(len(f) for f in self.feeds)

    @property
    def words_per_item(self) -> float:
        return sum(len(" ".join(i.paragraphs).split()) for f in self.feeds for i in f) / max(self.items, 1)

    @property
    def stories(self) -> int:
        return len({i.story for f in self.feeds for i in f})


def make_corpus(
    feeds: int,
    *,
    seed: int = 7,
    items: tuple[int, int] = (20, 100),
    duplicate_share: float = 0.3,
    edit_share: float = 0.05,
) -> Corpus:
    """`feeds` feeds; `duplicate_share` of items are edited copies of a story from another feed."""
    rng = random.Random(seed)
    names = tuple(f"{first} {last}" for first, last in zip(rng.sample(FIRST, len(FIRST)), LAST, strict=False))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    originals: list[Item] = []
    out: list[list[Item]] = []
    story = 0
    for f in range(feeds):
        feed: list[Item] = []
        for n in range(rng.randint(*items)):
            guid = f"urn:bench:{f}:{n}"
            link = f"https://news{f}.example/story/{n}"
            published = start + timedelta(minutes=rng.randint(0, 30 * 24 * 60))
            if originals and rng.random() < duplicate_share:
                source = rng.choice(originals)
                feed.append(
                    Item(
                        guid,
                        link,
                        source.title,
                        tuple(_edit(rng, p, edit_share) for p in source.paragraphs),
                        published,
                        source.story,
                    )
                )
                continue
            item = Item(guid, link, _title(rng, names), _paragraphs(rng, names), published, story)
            story += 1
            feed.append(item)
            originals.append(item)
        out.append(feed)
    return Corpus(tuple(tuple(f) for f in out), names)


def make_news_corpus(feeds: int, *, items: int = 25, seed: int = 13, duplicate_share: float = 0.3) -> Corpus:
    """`feeds` feeds of `items` articles each, 250 to 400 words, with rich HTML markup; a share of
    them are edited copies (5% of words) of a story from another feed."""
    rng = random.Random(seed)
    names = tuple(f"{first} {last}" for first, last in zip(rng.sample(FIRST, len(FIRST)), LAST, strict=False))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    originals: list[Item] = []
    out: list[tuple[Item, ...]] = []
    for f in range(feeds):
        feed: list[Item] = []
        for n in range(items):
            guid, link = f"urn:news:{f}:{n}", f"https://outlet{f}.example/2026/11/story-{n}"
            published = start + timedelta(minutes=rng.randint(0, 30 * 24 * 60))
            if originals and rng.random() < duplicate_share:
                source = rng.choice(originals)
                paragraphs = tuple(_edit(rng, p, 0.05) for p in source.paragraphs)
                feed.append(Item(guid, link, source.title, paragraphs, published, source.story, markup=True))
                continue
            target = rng.randint(250, 400)
            paragraphs_: list[str] = []
            while sum(len(p.split()) for p in paragraphs_) < target:
                paragraphs_.append(" ".join(_sentence(rng, names) for _ in range(rng.randint(2, 4))))
            item = Item(
                guid, link, _title(rng, names), tuple(paragraphs_), published, len(originals), markup=True
            )
            originals.append(item)
            feed.append(item)
        out.append(tuple(feed))
    return Corpus(tuple(out), names)


def _sentence(rng: random.Random, names: tuple[str, ...]) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 20))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(names))
    return " ".join(words).capitalize() + "."


def _paragraphs(rng: random.Random, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        " ".join(_sentence(rng, names) for _ in range(rng.randint(3, 5))) for _ in range(rng.randint(4, 7))
    )


def _title(rng: random.Random, names: tuple[str, ...]) -> str:
    return f"{rng.choice(names)} {' '.join(rng.choices(WORDS, k=6))}".capitalize()


def _edit(rng: random.Random, text: str, share: float) -> str:
    words = text.split()
    for i in range(len(words)):
        if rng.random() < share:
            words[i] = rng.choice(WORDS)
    return " ".join(words)


def rss(feed: tuple[Item, ...], index: int) -> bytes:
    """One feed as RSS 2.0 with HTML content."""
    entries = "".join(
        f"<item><guid>{i.guid}</guid><title>{escape(i.title)}</title><link>{i.link}</link>"
        f"<pubDate>{format_datetime(i.published)}</pubDate>"
        f"<description>{escape(i.html())}</description></item>"
        for i in feed
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {index}</title><link>https://news{index}.example/</link>"
        f"{entries}</channel></rss>"
    ).encode()


def write_feeds(corpus: Corpus, folder: Path) -> list[str]:
    """Write every feed as folder/feeds/<i>.xml; return the paths to serve."""
    (folder / "feeds").mkdir(parents=True, exist_ok=True)
    paths = []
    for index, feed in enumerate(corpus.feeds):
        (folder / "feeds" / f"{index}.xml").write_bytes(rss(feed, index))
        paths.append(f"/feeds/{index}.xml")
    return paths
