"""Near-duplicate recall, false merges and speed on a news corpus built apart from the project.

Run: python -m bench.dedup [--stories 2000] [--copies 100] [--negatives 200] [--batch 500] [--quick]

The corpus (bench/news.py, seeded): `--stories` stories, `--copies` syndicated copies of each kind
(5/10/15/20% of words edited and scattered, truncated to 40/60%, an outlet's intro added, paragraphs
reordered, American spelling, numbers updated), each with a new title, its own markup and
boilerplate, cleaned as a feed item is; and `--negatives` hard negatives (another story with the
same people, topic and place and the same background paragraph, half with the same headline).

The stage timed is the store's dedup work without the database, a poll of `--batch` items at a
time: the exact level's lookups, bulk signatures, the index lookups for the whole poll, and the
confirms (the text fingerprints are made before, as the process stage makes them). The
baseline in the same run is the detector before this one (rensa MinHash, one signature at a time,
LSH at 25 bands x 5, merge at an estimated Jaccard of 0.5). Then the time per lookup with 10,000
and 100,000 articles in the index.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from bench import news
from ingest.boilerplate import compile_boilerplate
from ingest.clean import clean
from ingest.dedup import MergeRules, NearDuplicateIndex, fingerprint, match_batch, signatures, usable
from ingest.models import ContentKind, RawItem

NOW = datetime(2026, 12, 1, tzinfo=UTC)
WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Doc:
    story: int  # the story it tells: copies share their original's
    kind: str  # original, negative, or a copy kind
    title: str
    text: str


def corpus(stories: int, copies: int, negatives: int, seed: int = 11) -> list[Doc]:
    """Originals first (they were stored first), then copies and negatives shuffled."""
    rng = random.Random(seed * 7919 + 1)  # not `seed`: stories() draws from that stream
    originals = news.stories(stories, seed)
    rest: list[tuple[news.Story, str]] = []
    for kind in news.KINDS:
        rest += [(news.copy(s, kind, rng), kind) for s in rng.sample(originals, copies)]
    for i, base in enumerate(rng.sample(originals, negatives)):
        rest.append((news.hard_negative(base, stories + i, rng, same_headline=i % 2 == 0), "negative"))
    rng.shuffle(rest)
    boilerplate = compile_boilerplate([])
    docs = []
    for number, (story, kind) in enumerate([*((s, "original") for s in originals), *rest]):
        item = RawItem(f"outlet{number % 9}", f"item-{number}", news.to_html(story, rng), ContentKind.HTML,
                       title=story.title)  # fmt: skip
        article = clean(item, boilerplate)
        docs.append(Doc(story.number, kind, article.title, article.text))
    return docs


@dataclass(frozen=True)
class Outcome:
    merged: dict[int, int]  # doc -> the doc whose article it joined
    checks: Counter[str]
    seconds: float


def stage(docs: Sequence[Doc], batch: int, rules: MergeRules) -> Outcome:
    """The dedup stage, a poll of `batch` docs at a time (exact level, then the near level)."""
    index = NearDuplicateIndex(rules.threshold, WINDOW, rules=rules)
    texts: dict[int, tuple[str, str]] = {}  # article (its first doc) -> (text, title)
    by_hash: dict[str, int] = {}
    merged: dict[int, int] = {}
    checks: Counter[str] = Counter()
    # The exact fingerprint is the process stage's (ingest/process.py, in the worker processes).
    hashes = [fingerprint(doc.title, doc.text) for doc in docs]
    started = time.perf_counter()
    for start in range(0, len(docs), batch):
        part = list(range(start, min(start + batch, len(docs))))
        exact = {}
        for number in part:
            known = by_hash.get(hashes[number])
            if known is not None:
                exact[number] = known
        near = [n for n in part if n not in exact]
        sigs = signatures([docs[n].text for n in near])
        found = match_batch(
            index, [docs[n].text for n in near], [docs[n].title for n in near], sigs, NOW,
            lambda ids: {i: texts[i] for i in ids}, rules,
        )  # fmt: skip
        merged.update(exact)
        signed = usable(sigs)
        for position, (number, match) in enumerate(zip(near, found, strict=True)):
            if match is None:
                texts[number] = (docs[number].text, docs[number].title)
                by_hash[hashes[number]] = number
                if signed[position]:
                    index.add(number, sigs[position], NOW)
                continue
            target = match.article if match.article is not None else near[match.earlier or 0]
            merged[number] = target
            checks[match.decision.check] += 1
            if match.replaces:
                texts[target] = (docs[number].text, texts[target][1])
                index.add(target, sigs[position], NOW)
    return Outcome(merged, checks, time.perf_counter() - started)


def baseline(docs: Sequence[Doc]) -> Outcome:
    """The detector before this one: rensa MinHash per text, LSH 25 x 5, merge at estimate >= 0.5."""
    from rensa import RMinHash

    from ingest.dedup import shingles

    buckets: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    sigs: dict[int, np.ndarray] = {}
    merged: dict[int, int] = {}
    started = time.perf_counter()
    for number, doc in enumerate(docs):
        grams = shingles(doc.text)
        if len(grams) < 12:
            continue
        minhash = RMinHash(num_perm=128, seed=42)
        minhash.update(sorted(grams))
        sig = np.asarray(minhash.digest(), dtype=np.uint32)
        keys = [(band, tuple(sig[band * 5 : band * 5 + 5].tolist())) for band in range(25)]
        candidates = {c for key in keys for c in buckets.get(key, [])}
        best = max(((float((sigs[c] == sig).mean()), -c) for c in candidates), default=None)
        if best is not None and best[0] >= 0.5:
            merged[number] = -best[1]
            continue
        sigs[number] = sig
        for key in keys:
            buckets.setdefault(key, []).append(number)
    return Outcome(merged, Counter(), time.perf_counter() - started)


@dataclass(frozen=True)
class Scores:
    recall: dict[str, float]  # per copy kind
    false_merges: int  # merges of two different stories (any doc)
    negatives_merged: int  # hard negatives merged into anything


def score(docs: Sequence[Doc], outcome: Outcome) -> Scores:
    story = [d.story for d in docs]
    recall = {}
    for kind in news.KINDS:
        copies = [n for n, d in enumerate(docs) if d.kind == kind]
        found = sum(1 for n in copies if n in outcome.merged and story[outcome.merged[n]] == story[n])
        recall[kind] = found / max(1, len(copies))
    false = sum(1 for n, target in outcome.merged.items() if story[target] != story[n])
    negatives = sum(1 for n in outcome.merged if docs[n].kind == "negative")
    return Scores(recall, false, negatives)


def lookup_times(sizes: Sequence[int], queries: int = 1000, seed: int = 5) -> dict[int, tuple[float, float]]:
    """Per size: ms per lookup for one poll's `queries` lookups at once (query_many), and one at a
    time, with `size` articles in the index. Stored texts are plain story text (no markup)."""
    rng = random.Random(seed)
    most = max(sizes)
    stored = news.stories(most, seed)
    sigs = signatures(["\n".join(s.paragraphs) for s in stored])
    probes = rng.sample(range(min(sizes)), queries)
    asked = signatures(["\n".join(news.copy(stored[i], "edit10", rng).paragraphs) for i in probes])
    out = {}
    for size in sizes:
        index = NearDuplicateIndex(0.5, WINDOW)
        for number in range(size):
            index.add(number, sigs[number], NOW)
        index.query_many(asked[:1], NOW)  # sorts the index once, as the first poll after a start does
        started = time.perf_counter()
        index.query_many(asked, NOW)
        bulk = (time.perf_counter() - started) * 1000 / queries
        started = time.perf_counter()
        for row in asked[:200]:
            index.query_many(row.reshape(1, -1), NOW)
        single = (time.perf_counter() - started) * 1000 / 200
        out[size] = (bulk, single)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=100, help="copies of each kind")
    parser.add_argument("--negatives", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500, help="items a poll")
    parser.add_argument("--quick", action="store_true", help="a small corpus and 10,000 stored at most")
    args = parser.parse_args()
    if args.quick:
        args.stories, args.copies, args.negatives = 500, 20, 50

    started = time.perf_counter()
    docs = corpus(args.stories, args.copies, args.negatives)
    print(
        f"corpus: {args.stories:,} stories, {args.copies} copies of each of {len(news.KINDS)} kinds,"
        f" {args.negatives} hard negatives ({len(docs):,} items, built and cleaned in"
        f" {time.perf_counter() - started:.1f} s)"
    )
    ours = stage(docs, args.batch, MergeRules())
    old = baseline(docs)
    new_scores, old_scores = score(docs, ours), score(docs, old)
    print(f"{'kind':<12} {'recall':>7} {'before':>7}")
    for kind in news.KINDS:
        print(f"{kind:<12} {new_scores.recall[kind]:7.3f} {old_scores.recall[kind]:7.3f}")
    print(
        f"false merges: {new_scores.false_merges} (hard negatives merged: {new_scores.negatives_merged});"
        f" before: {old_scores.false_merges} ({old_scores.negatives_merged})"
    )
    print(f"checks that confirmed merges: {dict(ours.checks)}")
    rate, old_rate = len(docs) / ours.seconds, len(docs) / old.seconds
    print(f"dedup stage: {rate:,.0f} docs/s (before: {old_rate:,.0f} docs/s, {rate / old_rate:.1f}x)")
    sizes = (10_000,) if args.quick else (10_000, 100_000)
    for size, (bulk, single) in lookup_times(sizes).items():
        print(f"lookup with {size:,} stored: {bulk:.3f} ms a lookup in a poll's batch, {single:.3f} ms alone")


if __name__ == "__main__":
    main()
