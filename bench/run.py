"""`python -m bench [--quick]`: Newswatch vs reader, rss2email and a naive baseline, one table."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cli_start, figures, fulltext, peers, subject
from bench.data import Corpus, make_corpus, make_news_corpus, rss, write_feeds
from bench.receiver import Receiver
from bench.server import FeedServer


@dataclass
class Row:
    figure: str
    newswatch: str
    peers: dict[str, str]
    ratio: str
    target: str = ""
    met: bool | None = None  # against the target; None where there is none


def verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "MISSED")


@dataclass(frozen=True)
class Cost:
    wall: float
    cpu: float
    result: Any


def measure(work: Callable[[], Any]) -> Cost:
    """Wall and CPU seconds of `work`, counting this process and the child processes it waits for."""

    def cpu() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + live_children_cpu()

    wall, before = time.perf_counter(), cpu()
    result = work()
    return Cost(time.perf_counter() - wall, cpu() - before, result)


def live_children_cpu() -> float:
    """CPU seconds of this process's children still running (Newswatch's worker processes), which
    RUSAGE_CHILDREN only counts once they have been waited for."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def change_feeds(corpus: Corpus, folder: Path, share: float, fresh: int = 5) -> list[int]:
    """Rewrite `share` of the feeds with `fresh` new items each; return their indexes."""
    count = max(1, int(len(corpus.feeds) * share))
    changed = list(range(0, len(corpus.feeds), max(1, len(corpus.feeds) // count)))[:count]
    extra = make_corpus(count, seed=99, items=(fresh, fresh), duplicate_share=0.0)
    future = time.time() + 120  # newer than any Last-Modified the pollers stored
    for n, index in enumerate(changed):
        items = (
            tuple(
                type(i)(
                    f"{i.guid}:new{index}", f"{i.link}/new{index}", i.title, i.paragraphs, i.published, -1
                )
                for i in extra.feeds[n]
            )
            + corpus.feeds[index]
        )
        path = folder / "feeds" / f"{index}.xml"
        path.write_bytes(rss(items, index))
        os.utime(path, (future, future))
    return changed


def polls(
    corpus: Corpus, rules: int, work: Path, warm_up: bool
) -> tuple[Corpus, dict[str, Cost], dict[str, Cost]]:
    """A first poll and, after 10% of the feeds changed, a steady-state poll, for every peer.

    Newswatch's first poll includes its start-up (config, schema, rules, worker processes), as
    reader's includes `make_reader`, and the delivery of its alerts to a loopback webhook receiver
    (another process). With `warm_up` the first poll is only there to fill each peer's state (the
    naive baseline then skips its rules, which changes nothing it stores) and its figures are not used.
    """
    paths = write_feeds(corpus, work)
    server = FeedServer(work)
    receiver = Receiver()
    try:
        urls = [server.url(p) for p in paths]
        terms = subject.rule_terms(corpus.names, rules)
        print(
            f"corpus: {len(urls)} feeds, {corpus.items} items, {corpus.stories} stories; {rules} rules",
            flush=True,
        )
        folders = {name: work / name for name in ("newswatch", "reader", "rss2email", "naive")}
        for folder in folders.values():
            folder.mkdir()
        config = subject.write_config(folders["newswatch"], urls, terms, hook=receiver.url)
        naive = peers.Naive(folders["naive"] / "naive.db", terms)

        def start_and_poll() -> tuple[subject.Runner, subject.Round]:
            runner = subject.Runner(config)
            return runner, runner.poll_all(deliver=not warm_up)

        started = measure(start_and_poll)
        runner, first_round = started.result
        first = {
            "newswatch": Cost(started.wall, started.cpu, first_round),
            "reader": measure(lambda: peers.reader_update(folders["reader"] / "r.db", urls)),
            "rss2email": measure(lambda: peers.rss2email_run(folders["rss2email"], urls, True)),
            "naive": measure(lambda: naive.update(urls, match=not warm_up)),
        }
        for name, cost in first.items():
            print(f"  first poll  {name:<10} wall {cost.wall:7.2f}s  cpu {cost.cpu:7.2f}s", flush=True)
        print(f"  newswatch: {first_round}; receiver got {receiver.count()} (posts, distinct ids)")
        change_feeds(corpus, work, 0.10)
        steady = {  # polls only, as figure (2) has always been measured
            "newswatch": measure(lambda: runner.poll_all(deliver=False)),
            "reader": measure(lambda: peers.reader_update(folders["reader"] / "r.db", urls)),
            "rss2email": measure(lambda: peers.rss2email_run(folders["rss2email"], urls, False)),
            "naive": measure(lambda: naive.update(urls)),
        }
        for name, cost in steady.items():
            print(f"  steady poll {name:<10} wall {cost.wall:7.2f}s  cpu {cost.cpu:7.2f}s", flush=True)
        naive.close()
        runner.close()
    finally:
        server.close()
        receiver.close()

    return corpus, first, steady


def ingest_row(corpus: Corpus, first: dict[str, Cost], rules: int, label: str = "(1)") -> Row:
    nw: subject.Round = first["newswatch"].result
    rate = {name: corpus.items / cost.wall for name, cost in first.items()}
    rate["newswatch"] = nw.items / first["newswatch"].wall  # only polls that succeeded count
    per_cpu = {name: corpus.items / max(cost.cpu, 1e-9) for name, cost in first.items()}
    per_cpu["newswatch"] = nw.items / max(first["newswatch"].cpu, 1e-9)
    words = corpus.words_per_item
    without = nw.items / max(first["newswatch"].wall - nw.deliver_seconds, 1e-9)
    return Row(
        f"{label} ingest, items/s (items per CPU-s), first poll of {len(corpus.feeds)} feeds /"
        f" {corpus.items:,} items of ~{words:.0f} words, {rules:,} rules, start-up and delivery included",
        f"{rate['newswatch']:,.0f} ({per_cpu['newswatch']:,.0f}); {nw.failed} failed polls;"
        f" {nw.new:,} stories stored, {nw.sent:,} alerts delivered in {nw.deliver_seconds:.1f} s;"
        f" without delivery {without:,.0f} items/s ({without / rate['reader']:.2f}x reader)",
        {n: f"{rate[n]:,.0f} ({per_cpu[n]:,.0f})" for n in ("reader", "rss2email", "naive")},
        f"{rate['newswatch'] / rate['reader']:.2f}x reader ({per_cpu['newswatch'] / per_cpu['reader']:.2f}x"
        f" per CPU-s); {rate['newswatch'] / rate['naive']:.1f}x naive",
        ">= 2x reader, 0 failed polls (10x: long-term goal)",
        rate["newswatch"] >= 2 * rate["reader"] and nw.failed == 0,
    )


def steady_row(corpus: Corpus, steady: dict[str, Cost]) -> Row:
    return Row(
        f"(2) steady poll, {len(corpus.feeds):,} feeds, 10% changed: wall s / CPU s",
        f"{steady['newswatch'].wall:.2f} / {steady['newswatch'].cpu:.2f}",
        {n: f"{steady[n].wall:.2f} / {steady[n].cpu:.2f}" for n in ("reader", "rss2email", "naive")},
        f"{steady['naive'].cpu / max(steady['newswatch'].cpu, 1e-9):.1f}x less CPU than naive",
        ">= 5x less CPU than naive",
        steady["naive"].cpu >= 5 * steady["newswatch"].cpu,
    )


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    names = ["reader", "rss2email", "naive"]
    print()
    print(
        f"Newswatch bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()},"
        f" {os.cpu_count()} cores, Python {platform.python_version()};"
        f" command: python -m bench{' --quick' if args.quick else ''}"
    )
    header = ["figure", "Newswatch", *names, "ratio", "target", "verdict"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        peers = (row.peers.get(n, "—") for n in names)
        judged = "— (full run only)" if args.quick else verdict(row.met)  # the targets are for full sizes
        cells = [row.figure, row.newswatch, *peers, row.ratio, row.target, judged]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument(
        "--only",
        default="1,1b,2,3-6,7,8,9,search",
        help="figures to run, of 1,1b,2,3-6,7,8,9,search (`cli` is 9; default: all)",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    rules = 200 if args.quick else 1000
    rows: list[Row] = []
    if "1" in only:
        print("(1) ingest ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
            corpus = make_corpus(8 if args.quick else 100, items=(20, 100))
            corpus, first, _ = polls(corpus, rules, Path(tmp), warm_up=False)
            rows.append(ingest_row(corpus, first, rules))
    if "1b" in only:
        print("(1b) ingest, longer articles with HTML markup ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
            corpus = make_news_corpus(20 if args.quick else 200, items=25)
            corpus, first, _ = polls(corpus, rules, Path(tmp), warm_up=False)
            rows.append(ingest_row(corpus, first, rules, "(1b)"))
    if "2" in only:
        print("(2) steady-state poll cycle ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
            feeds, items = (100, (3, 8)) if args.quick else (1000, (20, 100))
            corpus, _, steady = polls(make_corpus(feeds, items=items), rules, Path(tmp), warm_up=True)
            rows.append(steady_row(corpus, steady))
    if "3-6" in only:
        rows += other_figures(args.quick)
    if "7" in only:
        rows.append(full_text_row(args.quick))
    if "8" in only:
        rows.append(websub_figure(args.quick))
    if "search" in only:
        rows.append(search_row(args.quick))
    if "9" in only or "cli" in only:
        rows.append(cli_row())
    print_table(rows, args)


def full_text_row(quick: bool) -> Row:
    """Figure (7): linked pages fetched and extracted per second (bench/fulltext.py)."""
    feeds, items, hosts = (8, 10, 4) if quick else (40, 25, 8)
    print(f"(7) full text: {feeds * items:,} pages on {hosts} loopback hosts ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="newswatch-fulltext-") as tmp:
        figure = fulltext.measure(feeds, items, hosts, Path(tmp))
    return Row(
        f"(7) full text, pages/s: {feeds} summary-only feeds, {feeds * items:,} ~70 KB article pages on"
        f" {hosts} loopback hosts (2 at once per host, robots.txt read), fetched, extracted, stored, matched",
        fulltext.describe(figure),
        {},
        "",
        "0 pages not used",
        figure.failed == 0 and figure.pages == feeds * items,
    )


def websub_figure(quick: bool) -> Row:
    """Figure (8): WebSub push against polling at `every: 30s`, in the same run (bench/websub.py).
    --quick scales polling down to every 5 s (and 5 samples) to stay under a minute."""
    from bench import websub

    samples, every, gaps = (5, 5, (1.0, 3.0)) if quick else (20, 30, (3.0, 12.0))
    print(
        f"WebSub latency: {samples} stories pushed by a loopback hub and polled every {every}s ...",
        flush=True,
    )
    figure = websub.measure(samples, every, gaps)
    pushed = figures.percentile(figure.pushed, 0.99) if figure.pushed else float("inf")
    polled = figures.percentile(figure.polled, 0.99) if figure.polled else float("inf")
    return Row(
        f"(8) WebSub push, publication at the hub -> webhook ack, against polling every {every}s"
        " (same run, same stories)",
        websub.describe(figure),
        {},
        f"push p99 {polled / max(pushed, 1e-9):.0f}x lower than polling p99",
        "push p99 < 2 s, all delivered",
        pushed < 2 and len(figure.pushed) == samples,
    )


def search_row(quick: bool) -> Row:
    """Figure (search): query times over stored articles on both backends (bench/search.py)."""
    from bench import search

    count, rounds = (10_000, 5) if quick else (100_000, 30)
    print(f"(search) {count:,} articles, {rounds} queries of each of 10 kinds, SQLite and PostgreSQL ...")
    line, met = search.summary(search.run(count, rounds, ("sqlite", "postgresql")))
    return Row(
        f"(search) query time over {count:,} stored articles, a mix of 10 kinds: median, p99 (wall)",
        line,
        {},
        "",
        "p99 < 100 ms",
        met,
    )


def cli_row() -> Row:
    """Figure (9): the median start-up of `newswatch --version`, `--help` and `check` (bench/cli_start.py)."""
    print("(9) CLI start-up, 10 runs of each command ...", flush=True)
    starts = cli_start.measure(10)
    cli_start.report(starts)
    return Row(
        "(9) CLI start-up, median of 10 runs: `newswatch --version` / `--help` / `check` (demo config)",
        " / ".join(f"{s.median:.2f} s" for s in starts),
        {},
        "",
        " / ".join(f"< {s.target:g} s" for s in starts),
        all(s.met for s in starts),
    )


def other_figures(quick: bool) -> list[Row]:
    """Figures (3)-(6): the stages that no peer does, with the naive way as the baseline."""
    sizes = (10, 1_000, 10_000) if quick else (10, 1_000, 100_000)
    print(f"matching at {', '.join(f'{s:,}' for s in sizes)} terms ...", flush=True)
    m = figures.matching(sizes, rounds=5 if quick else 20)
    spread = max(s.rate for s in m) / min(s.rate for s in m)
    dense_spread = max(s.dense_rate for s in m) / min(s.dense_rate for s in m)
    rows = [
        Row(
            f"(3) matching, articles/s at {', '.join(f'{s:,}' for s in sizes)} terms, same hits per article",
            " / ".join(f"{s.rate:,.0f}" for s in m),
            {"naive": " / ".join(f"{s.regex:,.1f}" if s.regex is not None else "(minutes)" for s in m)},
            f"cost spread {spread:.2f}x; build {m[-1].build:.2f}s at {sizes[-1]:,}. With 1% of words"
            f" watched terms: {' / '.join(f'{s.dense_rate:,.0f}' for s in m)} articles/s,"
            f" {' / '.join(f'{s.dense_matches:.1f}' for s in m)} rule matches per article,"
            f" spread {dense_spread:.2f}x",
            "flat within 1.5x; build 100,000 < 2 s",
            spread <= 1.5 and m[-1].build < 2,
        ),
    ]
    stories, copies, negatives = (500, 20, 50) if quick else (2_000, 100, 200)
    print(f"near-duplicates on {stories:,} stories ...", flush=True)
    d = figures.near_duplicates(stories, copies, negatives)
    r = d.recall
    edits = " / ".join(f"{r[k]:.3f}" for k in ("edit5", "edit10", "edit15", "edit20"))
    others = ", ".join(f"{k} {r[k]:.3f}" for k in ("truncate40", "truncate60", "intro", "reorder",
                                                     "spelling", "numbers"))  # fmt: skip
    rows.append(
        Row(
            f"(4) near-duplicates, {d.articles:,} items: {stories:,} stories, {copies} copies of each"
            f" of 10 kinds, {negatives} hard negatives",
            f"recall at 5/10/15/20% edits {edits}; {others}; {d.false_merges} false merges;"
            f" {d.rate:,.0f} docs/s",
            {"reader": "none (ids only)", "rss2email": "none (ids only)", "naive": "none"},
            "",
            "recall >= 0.98/0.98/0.9/0.75, >= 0.95 truncated, intro, reordered; 0 false merges;"
            " >= 5,000 docs/s",
            min(r["edit5"], r["edit10"]) >= 0.98
            and r["edit15"] >= 0.9
            and r["edit20"] >= 0.75
            and min(r["truncate40"], r["truncate60"], r["intro"], r["reorder"]) >= 0.95
            and d.false_merges == 0
            and d.rate >= 5_000,
        )
    )
    sources, articles, rules = (300, 3_000, 300) if quick else (10_000, 100_000, 10_000)
    print(f"peak memory: {sources:,} sources, {articles:,} articles, {rules:,} rules ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="newswatch-memory-") as tmp:
        peak = figures.peak_memory(sources, articles, rules, Path(tmp))
    megabytes = peak * 2**20 / 10**6
    rows.append(
        Row(
            f"(5) peak RSS, {sources:,} sources / {articles:,} articles / {rules:,} rules",
            f"{peak:,.0f} MiB",
            {},
            f"{megabytes:,.0f} MB",
            "< 300 MB",
            megabytes < 300,
        )
    )
    items, every = (5, 2) if quick else (30, 2)
    print(f"alert latency: {items} items into a running service polling every {every}s ...", flush=True)
    latencies = figures.alert_latency(items, every, gap=0.7)
    if latencies:
        p50, p99 = figures.percentile(latencies, 0.5), figures.percentile(latencies, 0.99)
        shown = f"p50 {p50:.2f}s, p99 {p99:.2f}s ({len(latencies)}/{items} delivered)"
    else:
        p99, shown = float("inf"), f"0/{items} delivered"
    rows.append(
        Row(
            f"(6) alert latency, publication -> webhook ack (poll every {every}s)",
            shown,
            {},
            "",
            f"p99 < {every + 2}s",
            p99 < every + 2,
        )
    )
    return rows


if __name__ == "__main__":
    main()
