"""Clean + dedup throughput, recall and false merges on synthetic articles with planted near-duplicates.

Run: python -m bench.dedup [--articles 10000] [--duplicates 0.3] [--changed 0.05] [--threshold 0.5]

Prints, in one process: clean throughput; dedup throughput (fingerprint + MinHash signature + LSH
lookup); recall and false merges of MinHash+LSH; the same store path through SQLite; signature
throughput of rensa against datasketch; and a 64-bit SimHash baseline (Hamming <= 3).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rensa import RMinHash

from ingest.clean import clean
from ingest.dedup import NUM_PERM, NearDuplicateIndex, fingerprint, shingles, signature
from ingest.models import Article, ContentKind, RawItem

NOW = datetime(2026, 11, 25, tzinfo=UTC)
FOOTER = "reporting by the wire agency editing by the desk"


def make_corpus(
    n: int, dup_share: float, changed: float, seed: int = 7
) -> tuple[list[RawItem], dict[int, int]]:
    """`n` HTML items; a `dup_share` of them are copies of an earlier one with `changed` of the words
    replaced (and sometimes an added footer or a dropped paragraph). Returns items and dup -> original."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(30_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf: stories share common words
    originals: list[list[list[str]]] = []
    source_index: list[int] = []  # the item number of each original
    items: list[RawItem] = []
    planted: dict[int, int] = {}
    for i in range(n):
        if originals and rng.random() < dup_share:
            source = rng.randrange(len(originals))
            paragraphs = [list(p) for p in originals[source]]
            words = [(p, w) for p in range(len(paragraphs)) for w in range(len(paragraphs[p]))]
            for p, w in rng.sample(words, int(len(words) * changed)):
                paragraphs[p][w] = rng.choices(vocabulary, weights, k=1)[0]
            edit = rng.random()
            if edit < 0.2:
                paragraphs.append(FOOTER.split(" "))
            elif edit < 0.4 and len(paragraphs) > 4:
                del paragraphs[rng.randrange(len(paragraphs))]
            planted[i] = source_index[source]
        else:
            paragraphs = [
                rng.choices(vocabulary, weights, k=rng.randint(30, 60)) for _ in range(rng.randint(4, 10))
            ]
            originals.append(paragraphs)
            source_index.append(i)
        markup = "".join(f"<p>{' '.join(p)}.</p>" for p in paragraphs)
        items.append(RawItem(f"feed{i % 7}", f"item-{i}", markup, ContentKind.HTML, title=f"Story {i}"))
    return items, planted


def score(merged_into: dict[int, int], planted: dict[int, int]) -> tuple[float, int]:
    """Recall over planted duplicates, and merges that joined two different stories."""
    found = sum(1 for dup, original in planted.items() if merged_into.get(dup) == original)
    false = sum(1 for dup, target in merged_into.items() if planted.get(dup) != target)
    return found / max(1, len(planted)), false


def dedup_in_memory(articles: list[Article], threshold: float) -> tuple[dict[int, int], float]:
    """The store path's three content levels without a database: exact fingerprint, then LSH."""
    started = time.perf_counter()
    index = NearDuplicateIndex(threshold, timedelta(days=7))
    by_text: dict[str, int] = {}
    merged_into: dict[int, int] = {}
    for i, article in enumerate(articles):
        text_hash = fingerprint(article.title, article.text)
        if text_hash in by_text:
            merged_into[i] = by_text[text_hash]
            continue
        sig = signature(article.text)
        best = index.best_match(sig, NOW) if sig is not None else None
        if best is not None:
            merged_into[i] = best[0]
            continue
        by_text[text_hash] = i
        if sig is not None:
            index.add(i, sig, NOW)
    return merged_into, time.perf_counter() - started


def dedup_through_sqlite(articles: list[Article], threshold: float) -> tuple[dict[int, int], float]:
    """The real store path (ingest.store) into a temporary SQLite database, in batches of 100."""
    from core.db import Database
    from ingest.store import store_articles

    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        index = NearDuplicateIndex(threshold, timedelta(days=7))
        ids: dict[int, int] = {}
        position = {a.key: i for i, a in enumerate(articles)}
        started = time.perf_counter()
        for start in range(0, len(articles), 100):
            with db.session() as session:
                for stored in store_articles(session, articles[start : start + 100], NOW, index):
                    ids[position[stored.article.key]] = stored.id
        elapsed = time.perf_counter() - started
        db.close()
    first_by_id: dict[int, int] = {}
    for i in sorted(ids):
        first_by_id.setdefault(ids[i], i)
    return {i: first_by_id[ids[i]] for i in ids if first_by_id[ids[i]] != i}, elapsed


def signature_throughput(texts: list[str]) -> tuple[float, float]:
    """Signatures per second: rensa (used) and datasketch (the reference implementation)."""
    from datasketch import MinHash

    grams = [sorted(shingles(t)) for t in texts]
    started = time.perf_counter()
    for g in grams:
        m = RMinHash(num_perm=NUM_PERM, seed=42)
        m.update(g)
        m.digest()
    rensa_rate = len(grams) / (time.perf_counter() - started)
    started = time.perf_counter()
    for g in grams:
        d = MinHash(num_perm=NUM_PERM, seed=42)
        d.update_batch([s.encode() for s in g])
        d.digest()
    return rensa_rate, len(grams) / (time.perf_counter() - started)


def simhash_baseline(
    articles: list[Article], planted: dict[int, int], distance: int = 3
) -> tuple[float, int]:
    """A 64-bit SimHash over the same shingles: recall at Hamming <= `distance`, and false pairs."""
    hashes = np.zeros(len(articles), dtype=np.uint64)
    for i, article in enumerate(articles):
        grams = shingles(article.text)
        if not grams:
            continue
        values = np.array(
            [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") for g in grams],
            dtype=np.uint64,
        )
        bits = np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        votes = bits.astype(np.int32).sum(axis=0) * 2 - len(values)
        hashes[i] = np.packbits((votes > 0).astype(np.uint8), bitorder="little").view(np.uint64)[0]
    close: set[tuple[int, int]] = set()  # (later, earlier) pairs within the distance
    for start in range(0, len(hashes), 1000):
        block = hashes[start : start + 1000, None] ^ hashes[None, :]
        rows, cols = np.nonzero(np.bitwise_count(block) <= distance)
        close |= {
            (start + int(r), int(c)) for r, c in zip(rows, cols, strict=True) if start + int(r) > int(c)
        }
    found = sum(1 for dup, original in planted.items() if (dup, original) in close)
    planted_pairs = set(planted.items())
    # A pair of two copies of one story is not a false pair either.
    story = {i: planted.get(i, i) for i in range(len(articles))}
    false = sum(1 for a, b in close if (a, b) not in planted_pairs and story[a] != story[b])
    return found / max(1, len(planted)), false


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--duplicates", type=float, default=0.3)
    parser.add_argument("--changed", type=float, default=0.05)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()

    items, planted = make_corpus(args.articles, args.duplicates, args.changed)
    print(
        f"corpus: {len(items)} articles, {len(planted)} planted near-duplicates,"
        f" {args.changed:.0%} words changed"
    )

    started = time.perf_counter()
    articles = [clean(item) for item in items]
    clean_s = time.perf_counter() - started
    print(f"clean:                 {len(items) / clean_s:8.0f} articles/s")

    merged, dedup_s = dedup_in_memory(articles, args.threshold)
    recall, false = score(merged, planted)
    print(f"dedup (in memory):     {len(items) / dedup_s:8.0f} articles/s")
    print(f"clean + dedup:         {len(items) / (clean_s + dedup_s):8.0f} articles/s")
    print(f"MinHash+LSH @ {args.threshold}: recall {recall:.3f}, false merges {false}")

    if not args.skip_sqlite:
        merged_db, store_s = dedup_through_sqlite(articles, args.threshold)
        recall_db, false_db = score(merged_db, planted)
        print(
            f"store via SQLite:      {len(items) / store_s:8.0f} articles/s"
            f" (recall {recall_db:.3f}, false merges {false_db})"
        )

    sample = [a.text for a in articles[:2000]]
    rensa_rate, datasketch_rate = signature_throughput(sample)
    print(
        f"signatures: rensa {rensa_rate:8.0f}/s, datasketch {datasketch_rate:8.0f}/s "
        f"(rensa {rensa_rate / datasketch_rate:.1f}x)"
    )

    sim_recall, sim_false = simhash_baseline(articles, planted)
    print(f"SimHash-64 Hamming<=3: recall {sim_recall:.3f}, false pairs {sim_false}")
    print(
        f"recall ratio MinHash+LSH / SimHash: {recall / sim_recall:.1f}x"
        if sim_recall
        else "SimHash found none"
    )


if __name__ == "__main__":
    main()
