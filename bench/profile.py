"""`python -m bench.profile [--feeds N]`: where Newswatch's time goes on figures (1) and (2).

Profiles (pyinstrument, from the `bench` extra) the first poll of the ingest corpus and a steady-state
poll after 10% of the feeds changed, and prints each profile's share of time by pipeline stage, then
pyinstrument's own call tree for the first poll.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame
from pyinstrument.session import Session

from bench import subject
from bench.data import make_corpus, write_feeds
from bench.run import change_feeds
from bench.server import FeedServer

# A stage's functions, as (file path ending, function name) pairs.
Functions = tuple[tuple[str, str], ...]

# Stage -> the functions (file, name) whose time counts for it: the outermost one met on a stack.
STAGES: dict[str, Functions] = {
    "fetch (HTTP, body caps)": (("newswatch/service.py", "_fetch"),),
    "clean (HTML, ftfy, nh3, language)": (("ingest/clean.py", "clean"),),
    "store + dedup (identity, exact, LSH, sightings)": (
        ("ingest/store.py", "store_articles"),
        ("ingest/store.py", "remember_raw"),
        ("ingest/store.py", "unchanged"),
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
        ("newswatch/service.py", "_record_success"),
        ("newswatch/service.py", "_record_failure"),
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


def profile(work: Callable[[], Any]) -> tuple[Profiler, float]:
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    work()
    profiler.stop()
    session = profiler.last_session
    assert session is not None
    return profiler, session.duration


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--feeds", type=int, default=100, help="feeds in the corpus (default 100)")
    parser.add_argument("--rules", type=int, default=1000, help="watch rules (default 1000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newswatch-profile-") as tmp:
        work = Path(tmp)
        corpus = make_corpus(args.feeds, items=(20, 100))
        server = FeedServer(work)
        try:
            urls = [server.url(p) for p in write_feeds(corpus, work)]
            folder = work / "newswatch"
            folder.mkdir()
            config = subject.write_config(folder, urls, subject.rule_terms(corpus.names, args.rules))
            runner = subject.Runner(config)
            first, first_seconds = profile(runner.poll_all)
            change_feeds(corpus, work, 0.10)
            steady, steady_seconds = profile(runner.poll_all)
            runner.close()
        finally:
            server.close()
    print(f"{args.feeds} feeds, {corpus.items} items, {args.rules} rules")
    runs = (("first poll", first, first_seconds), ("steady poll", steady, steady_seconds))
    for label, profiler, seconds in runs:
        print(f"\n{label}: {seconds:.2f} s wall")
        assert profiler.last_session is not None
        for stage, spent in sorted(by_stage(profiler.last_session).items(), key=lambda kv: -kv[1]):
            print(f"  {100 * spent / seconds:5.1f}%  {spent:6.2f} s  {stage}")
    print()
    print(first.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
