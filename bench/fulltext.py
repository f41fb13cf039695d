"""Figure (7): full text, linked pages fetched and extracted per second, through the service.

`python -m bench.fulltext [--feeds N] [--items N] [--hosts N]`, or `python -m bench --only 7`.
A loopback news site (bench/site.py, another process) serves FEEDS summary-only feeds over HOSTS
loopback addresses, and an ~80 KB article page for every item. Newswatch, started as `run` starts
(config, schema, rules, worker processes), polls every feed once with `full_text: always`: each item's
page is fetched (robots.txt read once per host, at most `per_host` at once per host, no delay) and its
main text extracted in the process pool, then stored and matched. The same feeds polled with
`full_text: never` into a fresh database give the cost of the feeds alone."""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

from bench.server import start_on_loopback
from bench.subject import Runner
from newswatch.service import PollOutcome


@dataclass(frozen=True)
class FullTextFigure:
    pages: int  # pages whose text was used
    failed: int  # pages wanted and not used
    wall: float  # seconds for the polls with full_text: always
    cpu: float  # CPU seconds of it (this process and the worker processes)
    feeds_only: float  # seconds for the same polls with full_text: never
    items: int
    hosts: int

    @property
    def rate(self) -> float:
        return self.pages / max(self.wall, 1e-9)


def _config(folder: Path, port: int, feeds: int, hosts: int, mode: str) -> Path:
    config = {
        "database": "sqlite:///newswatch.db",
        "fetch": {"allow_private_addresses": True, "timeout": "30s"},
        "full_text": {"host_delay": 0, "per_host": 2},
        "sources": [
            {
                "name": f"feed{f}",
                "feed": f"http://127.0.0.{f % hosts + 1}:{port}/feed/{f}.xml",
                "full_text": mode,
            }
            for f in range(feeds)
        ],
        "channels": [{"name": "out", "console": True}],
        "rules": [{"name": "floods", "keywords": ["flash floods"], "notify": ["out"]}],
    }
    folder.mkdir()
    path = folder / "newswatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def measure(feeds: int, items: int, hosts: int, work: Path) -> FullTextFigure:
    """Poll the site's feeds once with full_text: always, then with never, each on a fresh database."""
    from bench.run import measure as timed

    site, port = start_on_loopback(
        "bench.site", str(hosts), str(feeds), str(items), what="news site", wait=300
    )
    try:
        results = {}
        for mode in ("always", "never"):
            runner = Runner(_config(work / mode, port, feeds, hosts, mode))
            try:
                cost = timed(partial(poll_once, runner))
            finally:
                runner.close()
            results[mode] = cost
    finally:
        site.terminate()
        site.wait(5)
    outcomes = results["always"].result
    return FullTextFigure(
        pages=sum(o.pages for o in outcomes),
        failed=sum(o.pages_failed for o in outcomes),
        wall=results["always"].wall,
        cpu=results["always"].cpu,
        feeds_only=results["never"].wall,
        items=sum(o.items for o in outcomes),
        hosts=hosts,
    )


def poll_once(runner: Runner) -> list[PollOutcome]:
    """Every source of `runner` polled once, their outcomes."""
    return runner.loop.run_until_complete(runner.service.poll_many(runner.config.sources))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fulltext", description=__doc__)
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--items", type=int, default=25)
    parser.add_argument("--hosts", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newswatch-fulltext-") as tmp:
        began = time.perf_counter()
        figure = measure(args.feeds, args.items, args.hosts, Path(tmp))
    print(describe(figure))
    print(f"(whole run, site start-up included: {time.perf_counter() - began:.1f} s)")


def describe(figure: FullTextFigure) -> str:
    per_page = figure.cpu / max(figure.pages, 1) * 1000
    return (
        f"{figure.rate:,.1f} pages/s: {figure.pages:,} pages of {figure.items:,} items over"
        f" {figure.hosts} hosts in {figure.wall:.1f} s wall, {figure.cpu:.1f} s CPU ({per_page:.0f} ms CPU"
        f" a page); {figure.failed} pages not used; the same feeds without pages {figure.feeds_only:.1f} s"
    )


if __name__ == "__main__":
    main()
