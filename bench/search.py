"""Search speed: query times over 100,000 stored articles, on SQLite and on PostgreSQL.

`python -m bench.search [--articles N] [--backend sqlite|postgresql|both]`, or figure (search) of
`python -m bench`. The corpus is bench/news.py's stories (people, roles, places, organisations and
topics in English sentences, 150 to 400 words), with a few in Russian and with Polish and French
names, published over 60 days across 100 sources. The database is filled at the revision before 0015 and
upgraded, so migration 0015 builds the index for all of it (timed). Then a mix of queries runs
through `search_articles` (the ranking, 20 rows, their snippets), each kind with varied words:
a name as a phrase, a surname, a place and a topic, a common word, a prefix, an exclusion, a
Cyrillic name, a folded letter, and filtered by age and by source. The figure is the median and
p99 of all of them, and the slowest kind's p99.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
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
        # Stored in about the order published, as a service stores them (a few hours of jitter).
        minute = n * DAYS * 24 * 60 // count + rng.randint(-180, 180)
        published = START + timedelta(minutes=max(0, minute))
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
    fill_seconds: float  # inserting the rows before migration 0015 (no index)
    index_seconds: float  # migration 0015 building the index for them
    times: dict[str, list[float]]  # query kind -> wall seconds of each query
    cpu: dict[str, list[float]]  # query kind -> CPU seconds of each (this thread + the PostgreSQL backend)
    hits: dict[str, float]  # query kind -> mean rows returned (of at most 20)
    load: float  # the 1-minute load average after the queries

    @property
    def all(self) -> list[float]:
        return [t for times in self.times.values() for t in times]

    @property
    def all_cpu(self) -> list[float]:
        return [t for times in self.cpu.values() for t in times]


def backend_cpu(session: Any) -> Callable[[], float]:
    """A clock of the CPU seconds the session's PostgreSQL backend process has run (it is on this
    machine: /proc/PID/schedstat, in nanoseconds); 0 on SQLite, which runs in this thread."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return lambda: 0.0
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    stat = Path(f"/proc/{pid}/schedstat")
    return lambda: int(stat.read_text().split()[0]) / 1e9


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def build(url: str, backend: str, count: int) -> tuple[float, float]:
    """Store `count` articles at the revision before 0015, then upgrade (migration 0015 indexes them all);
    returns the seconds of each."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from sqlalchemy import insert

    from core.db import MIGRATIONS, ArticleRow, Database, SightingRow, make_engine

    engine = make_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    before = ScriptDirectory(str(MIGRATIONS)).get_revision("0015").down_revision  # before the index
    assert isinstance(before, str)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, before)
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
    engine.dispose()
    print(f"  {backend}: {count:,} articles stored in {fill:.1f}s; building the index ...", flush=True)
    started = time.perf_counter()
    Database(url).close()  # upgrades to head: migration 0015 indexes every article
    index = time.perf_counter() - started
    print(f"  {backend}: index built in {index:.1f}s", flush=True)
    if backend == "postgresql":  # what autovacuum would have done by the time anyone searches
        engine = make_engine(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("articles", "sightings", "article_search"):
                connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
        engine.dispose()
    return fill, index


def measure(url: str, backend: str, count: int, rounds: int, built: tuple[float, float]) -> Figures:
    """The query mix (`probes`) on a built database, after a warm-up."""
    from sqlalchemy import select

    from core.db import ArticleRow, Database
    from ingest.search import search_articles

    db = Database(url)
    try:
        with db.session() as session:
            now = session.scalar(select(ArticleRow.published_at).order_by(ArticleRow.published_at.desc()))
        assert now is not None
        queries = probes(rounds, now)
        with db.session() as session:  # warm the caches, as a running service's would be
            for probe in queries[:20]:
                search_articles(session, probe.query, **probe.filters)
        times: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        hits: dict[str, list[int]] = {}
        for probe in queries:
            with db.session() as session:
                server = backend_cpu(session)
                started, used, served = time.perf_counter(), time.thread_time(), server()
                found = search_articles(session, probe.query, limit=20, **probe.filters)
                times.setdefault(probe.kind, []).append(time.perf_counter() - started)
                cpu.setdefault(probe.kind, []).append(time.thread_time() - used + server() - served)
                hits.setdefault(probe.kind, []).append(len(found))
    finally:
        db.close()
    mean_hits = {kind: statistics.mean(counts) for kind, counts in hits.items()}
    return Figures(backend, count, *built, times, cpu, mean_hits, os.getloadavg()[0])


def run(count: int, rounds: int, backends: tuple[str, ...]) -> list[Figures]:
    from tests.conftest import postgres_database

    out = []
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="newswatch-search-") as tmp:
                url = f"sqlite:///{Path(tmp) / 'search.db'}"
                out.append(measure(url, backend, count, rounds, build(url, backend, count)))
        else:
            with postgres_database() as url:
                out.append(measure(url, backend, count, rounds, build(url, backend, count)))
        report(out[-1])
    return out


def _ms(values: list[float], share: float | None = None) -> str:
    value = statistics.median(values) if share is None else percentile(values, share)
    return f"{value * 1000:.1f}"


def report(figures: Figures) -> None:
    every, cpu = figures.all, figures.all_cpu
    print(
        f"  {figures.backend}: {len(every)} queries, load average {figures.load:.1f} on"
        f" {os.cpu_count()} cores: wall median {_ms(every)} ms, p99 {_ms(every, 0.99)} ms;"
        f" CPU median {_ms(cpu)} ms, p99 {_ms(cpu, 0.99)} ms"
    )
    for kind, times in figures.times.items():
        print(
            f"    {kind:<14} wall median {_ms(times):>6} p99 {_ms(times, 0.99):>6} ms"
            f"   CPU median {_ms(figures.cpu[kind]):>6} p99 {_ms(figures.cpu[kind], 0.99):>6} ms"
            f"   rows {figures.hits[kind]:.1f}"
        )


def summary(figures: list[Figures]) -> tuple[str, bool]:
    """One part per backend for the bench table, and whether every wall p99 is under 100 ms."""
    parts = []
    met = True
    for f in figures:
        every = f.all
        slowest = max(f.times, key=lambda kind: percentile(f.times[kind], 0.99))
        parts.append(
            f"{f.backend}: median {_ms(every)} ms, p99 {_ms(every, 0.99)} ms (CPU {_ms(f.all_cpu)} /"
            f" {_ms(f.all_cpu, 0.99)} ms; slowest kind {slowest}, p99 {_ms(f.times[slowest], 0.99)} ms;"
            f" load {f.load:.1f}); index built in {f.index_seconds:.0f} s"
        )
        met = met and percentile(every, 0.99) < 0.1
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
