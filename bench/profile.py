"""`python -m bench.profile [--feeds N] [--news]`: where Newswatch's time goes on figures (1) and (2).

Runs the first poll of the ingest corpus (with delivery to a loopback webhook receiver) and a
steady-state poll after 10% of the feeds changed, and prints the seconds and share of each pipeline
stage (fetch, process, store, match, deliver) from the service's own stage counters
(`newswatch_stage_seconds` in /metrics), which see the worker processes and the store thread as a
sampling profiler of the main thread cannot. Stage seconds are summed over concurrent polls and
workers, so they add up to more than the wall time. `--news` uses the longer-article corpus (1b).

`by_stage` (a pyinstrument session by function) is what `bench.distributed --profile` uses.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from pyinstrument.frame import Frame
from pyinstrument.session import Session

from bench import subject
from bench.data import make_corpus, make_news_corpus, write_feeds
from bench.receiver import Receiver
from bench.run import change_feeds
from bench.server import FeedServer
from core import metrics

# A stage's functions, as (file path ending, function name) pairs.
Functions = tuple[tuple[str, str], ...]

# Stage -> the functions (file, name) whose time counts for it: the outermost one met on a stack.
STAGES: dict[str, Functions] = {
    "fetch (HTTP, body caps)": (("newswatch/pipeline.py", "fetch"),),
    "clean (HTML, ftfy, nh3, language)": (("ingest/clean.py", "clean"),),
    "store + dedup (identity, exact, LSH, sightings)": (
        ("ingest/store.py", "store_batch"),
        ("ingest/store.py", "store_articles"),
        ("newswatch/pipeline.py", "known_hashes"),
    ),
    "match (rules)": (("alerts/rules.py", "match"),),
    "outbox (alerts written)": (
        ("alerts/outbox.py", "enqueue_many"),
        ("alerts/outbox.py", "enqueue"),
        ("alerts/outbox.py", "enqueue_update"),
    ),
    "poll state, health": (
        ("ingest/store.py", "source_state"),
        ("newswatch/service.py", "check_health"),
        ("newswatch/pipeline.py", "read_state"),
        ("newswatch/pipeline.py", "record_failure"),
    ),
}
OTHER = "other (commits, event loop, sessions)"


def by_stage(
    session: Session,
    stages: Mapping[str, Functions] = STAGES,
    other: str = OTHER,
    around: Mapping[str, Functions] | None = None,
) -> dict[str, float]:
    """Seconds per stage in `session`: a stack's time goes to the outermost function of `stages` on it,
    else to the innermost of `around` (functions wrapping stages, such as a task around its steps),
    else to `other`. A stage may list functions in both tables."""
    around = around or {}
    root = session.root_frame()
    totals = dict.fromkeys([*stages, *around], 0.0)
    if root is None:  # no samples
        return {**totals, other: 0.0}

    def find(frame: Frame, table: Mapping[str, Functions]) -> str | None:
        path = (frame.file_path or "").replace("\\", "/")
        for stage, functions in table.items():
            if any(path.endswith(file) and frame.function == name for file, name in functions):
                return stage
        return None

    def walk(frame: Frame, wrapper: str | None) -> None:
        stage = find(frame, stages)
        if stage is not None:
            totals[stage] += frame.time
            return
        wrapper = find(frame, around) or wrapper
        if wrapper is not None:  # the frame's own time; its children are walked below
            totals[wrapper] += frame.time - sum(child.time for child in frame.children)
        for child in frame.children:
            walk(child, wrapper)

    walk(root, None)
    totals[other] = max(0.0, root.time - sum(totals.values()))
    return totals


STAGE_ORDER = ("fetch", "process", "store", "match", "deliver")


def stage_table(label: str, wall: float, before: Mapping[str, float]) -> list[str]:
    """The stage counters' growth since `before`, as lines of a table; a stage below fetch that takes
    more than 40% of the stages' time is marked."""
    now = metrics.stage_seconds()
    spent = {stage: now.get(stage, 0.0) - before.get(stage, 0.0) for stage in STAGE_ORDER}
    total = sum(spent.values()) or 1e-9
    lines = [
        f"\n{label}: {wall:.2f} s wall, {total:.2f} stage-seconds",
        "| stage | seconds | share |",
        "|---|---|---|",
    ]
    for stage in STAGE_ORDER:
        share = spent[stage] / total
        flag = "  (over 40%)" if stage != "fetch" and share > 0.40 else ""
        lines.append(f"| {stage} | {spent[stage]:.2f} | {100 * share:.1f}%{flag} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--feeds", type=int, default=100, help="feeds in the corpus (default 100)")
    parser.add_argument("--rules", type=int, default=1000, help="watch rules (default 1000)")
    parser.add_argument("--news", action="store_true", help="the longer-article corpus of figure (1b)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newswatch-profile-") as tmp:
        work = Path(tmp)
        corpus = make_news_corpus(args.feeds) if args.news else make_corpus(args.feeds, items=(20, 100))
        server, receiver = FeedServer(work), Receiver()
        try:
            urls = [server.url(p) for p in write_feeds(corpus, work)]
            folder = work / "newswatch"
            folder.mkdir()
            terms = subject.rule_terms(corpus.names, args.rules)
            config = subject.write_config(folder, urls, terms, hook=receiver.url)
            before, began = metrics.stage_seconds(), time.perf_counter()
            runner = subject.Runner(config)
            first = runner.poll_all()
            lines = stage_table(
                "first poll (start-up and delivery included)", time.perf_counter() - began, before
            )
            change_feeds(corpus, work, 0.10)
            before, began = metrics.stage_seconds(), time.perf_counter()
            runner.poll_all()
            lines += stage_table("steady poll", time.perf_counter() - began, before)
            runner.close()
        finally:
            server.close()
            receiver.close()
    print(f"{args.feeds} feeds, {corpus.items} items, {args.rules} rules; first poll: {first}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
