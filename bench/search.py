"""Search speed: query times over 100,000 stored articles, on SQLite and on PostgreSQL.

`python -m bench.search [--articles N] [--backend sqlite|postgresql|both]`, or figure (search) of
`python -m bench`. The corpus is bench/news.py's stories (people, roles, places, organisations and
topics in English sentences, 150 to 400 words), with a few in Russian and with Polish and French
names, published over 60 days across 100 sources. The database is filled at revision 0013 and
upgraded, so migration 0015 builds the index for all of it (timed). Then a mix of queries runs
through `search_articles` (the ranking, 20 rows, their snippets), each kind with varied words:
a name as a phrase, a surname, a place and a topic, a common word, a prefix, an exclusion, a
Cyrillic name, a folded letter, and filtered by age and by source. The figure is the median and
p99 of all of them, and the slowest kind's p99.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import news

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 60
SOURCES = 100
BATCH = 5000

RUSSIAN = [
    "Владимир Путин заявил в Кремле, что переговоры продолжатся на следующей неделе.",
    "Министр финансов Антон Силуанов сообщил о новом бюджете и росте расходов.",
    "В Москве прошло совещание правительства, где обсуждали цены на энергию и зерно.",
    "Лёша Иванов, аналитик, назвал это сигналом для рынков и для союзников.",
]
ACCENTED = [
    "Lech Wałęsa spoke in Łódź about the shipyard strikes of his youth.",
    "The café owners of Montréal said the rise in rent would close many of them.",
    "Prezident Zelenskyj jednal v Praze s premiérem o dodávkách.",
]


def articles(count: int, seed: int = 5) -> Iterator[list[dict[str, Any]]]:
    """`count` article rows in batches, with one sighting's source each."""
    rng = random.Random(seed)
    batch: list[dict[str, Any]] = []
    for n in range(count):
        story = news.story(n, rng)
        paragraphs = list(story.paragraphs)
        roll = rng.random()
        if roll < 0.02:
            paragraphs.insert(1, " ".join(rng.sample(RUSSIAN, 2)))
        elif roll < 0.04:
            paragraphs.insert(1, rng.choice(ACCENTED))
        published = START + timedelta(minutes=rng.randint(0, DAYS * 24 * 60))
        body = "\n".join(paragraphs)
        batch.append(
            {
                "source": f"feed{n % SOURCES}", "item_key": f"urn:bench:{n}", "url": None,
                "title": story.title, "text": body, "summary": paragraphs[0], "topics": [story.topic],
                "published_at": published, "first_seen_at": published, "updated_at": published,
                "content_hash": f"{n:064x}", "html": "",
            }
        )  # fmt: skip
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class Probe:
    kind: str
    query: str
    filters: dict[str, Any]


def probes(rounds: int, now: datetime, seed: int = 9) -> list[Probe]:
    """`rounds` queries of each kind, their words drawn afresh each time."""
    rng = random.Random(seed)
    topics = list(news.TOPICS)
    out: list[Probe] = []
    for _ in range(rounds):
        first, last = rng.choice(news.FIRST), rng.choice(news.LAST)
        place, topic = rng.choice(news.PLACES), rng.choice(topics)
        word = rng.choice(["police", "government", "minister", "officials", "said", "people"])
        out += [
            Probe("name phrase", f'"{first} {last}"', {}),
            Probe("surname", last, {}),
            Probe("place + topic", f"{place} {topic}", {}),
            Probe("common word", word, {}),
            Probe("prefix", f"{last[:4]}*", {}),
            Probe("exclusion", f"{place} -{rng.choice(['police', 'minister', 'council'])}", {}),
            Probe("cyrillic", rng.choice(["путин", "Кремле", "леша", '"министр финансов"']), {}),
            Probe("folded letter", rng.choice(["lodz", "walesa", "cafe montreal", "zelenskyj"]), {}),
            Probe("--since 7d", f"{topic}", {"since": now - timedelta(days=7)}),
            Probe("--source", place, {"source": f"feed{rng.randrange(SOURCES)}"}),
        ]
    return out


@dataclass(frozen=True)
class Figures:
    backend: str
    articles: int
    fill_seconds: float  # inserting the rows at revision 0013 (no index)
    index_seconds: float  # migration 0015 building the index for them
    times: dict[str, list[float]]  # query kind -> seconds of each query
    hits: dict[str, float]  # query kind -> mean rows returned (of at most 20)

    @property
    def all(self) -> list[float]:
        return [t for times in self.times.values() for t in times]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure(url: str, backend: str, count: int, rounds: int) -> Figures:
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import insert, select

    from core.db import MIGRATIONS, ArticleRow, Database, SightingRow, make_engine
    from ingest.search import search_articles

    engine = make_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0013")
    fill = 0.0
    for batch in articles(count):
        started = time.perf_counter()
        with engine.begin() as connection:
            ids = connection.execute(
                insert(ArticleRow).returning(ArticleRow.id, sort_by_parameter_order=True), batch
            ).scalars()
            sightings = [
                {
                    "article_id": article_id, "source": row["source"], "item_key": row["item_key"],
                    "url": None, "how": "first", "first_seen_at": row["first_seen_at"],
                    "last_seen_at": row["first_seen_at"],
                }
                for article_id, row in zip(ids, batch, strict=True)
            ]  # fmt: skip
            connection.execute(insert(SightingRow), sightings)
        fill += time.perf_counter() - started
    if backend == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE articles")
            connection.exec_driver_sql("VACUUM ANALYZE sightings")
    engine.dispose()
    print(f"  {backend}: {count:,} articles stored in {fill:.1f}s; building the index ...", flush=True)
    started = time.perf_counter()
    db = Database(url)  # upgrades to head: migration 0015 indexes every article
    index = time.perf_counter() - started
    print(f"  {backend}: index built in {index:.1f}s", flush=True)
    try:
        with db.session() as session:
            now = session.scalar(select(ArticleRow.published_at).order_by(ArticleRow.published_at.desc()))
        assert now is not None
        if backend == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE articles")
        queries = probes(rounds, now)
        with db.session() as session:  # warm the caches, as a running service's would be
            for probe in queries[:20]:
                search_articles(session, probe.query, **probe.filters)
        times: dict[str, list[float]] = {}
        hits: dict[str, list[int]] = {}
        for probe in queries:
            with db.session() as session:
                started = time.perf_counter()
                found = search_articles(session, probe.query, limit=20, **probe.filters)
                times.setdefault(probe.kind, []).append(time.perf_counter() - started)
                hits.setdefault(probe.kind, []).append(len(found))
    finally:
        db.close()
    mean_hits = {kind: statistics.mean(counts) for kind, counts in hits.items()}
    return Figures(backend, count, fill, index, times, mean_hits)


def run(count: int, rounds: int, backends: tuple[str, ...]) -> list[Figures]:
    from tests.conftest import postgres_database

    out = []
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="newswatch-search-") as tmp:
                out.append(measure(f"sqlite:///{Path(tmp) / 'search.db'}", backend, count, rounds))
        else:
            with postgres_database() as url:
                out.append(measure(url, backend, count, rounds))
        report(out[-1])
    return out


def report(figures: Figures) -> None:
    every = figures.all
    print(
        f"  {figures.backend}: {len(every)} queries: median {statistics.median(every) * 1000:.1f} ms,"
        f" p99 {percentile(every, 0.99) * 1000:.1f} ms"
    )
    for kind, times in figures.times.items():
        print(
            f"    {kind:<14} median {statistics.median(times) * 1000:7.1f} ms"
            f"  p99 {percentile(times, 0.99) * 1000:7.1f} ms  max {max(times) * 1000:7.1f} ms"
            f"  rows {figures.hits[kind]:.1f}"
        )


def summary(figures: list[Figures]) -> tuple[str, bool]:
    """One line per backend for the bench table, and whether every p99 is under 100 ms."""
    parts = []
    met = True
    for f in figures:
        every = f.all
        p99 = percentile(every, 0.99)
        slowest = max(f.times, key=lambda kind: percentile(f.times[kind], 0.99))
        parts.append(
            f"{f.backend} median {statistics.median(every) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
            f" (slowest kind: {slowest}, p99 {percentile(f.times[slowest], 0.99) * 1000:.0f} ms);"
            f" index built in {f.index_seconds:.0f} s"
        )
        met = met and p99 < 0.1
    return "; ".join(parts), met


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30, help="queries of each kind (default 30)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(f"search over {args.articles:,} articles, {args.rounds} queries of each kind ...", flush=True)
    line, met = summary(run(args.articles, args.rounds, backends))
    print(f"{line}; target p99 < 100 ms: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
