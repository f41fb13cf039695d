"""The differential agreement rate for docs/benchmarks.md: generated feeds compared, and the share
on which the fast path and feedparser agree (title, link, id, dates, content, tags, under the
policies).

Run: python -m tests.ingest.agreement [--feeds N]
"""

from __future__ import annotations

import argparse
from collections import Counter

from hypothesis import HealthCheck, Phase, given, settings

from tests.ingest.feeds import disagreements, feeds


def measure(count: int) -> tuple[int, int, Counter[str]]:
    """(feeds compared, feeds agreeing, disagreeing fields) over `count` generated feeds."""
    tally = {"compared": 0, "agree": 0}
    fields: Counter[str] = Counter()

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(feeds())
    def compare(body: bytes) -> None:
        tally["compared"] += 1
        found = disagreements(body)
        tally["agree"] += not found
        fields.update(line.split(":")[0].split(" ", 2)[-1] for line in found)

    compare()
    return tally["compared"], tally["agree"], fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=2000)
    args = parser.parse_args()
    compared, agree, fields = measure(args.feeds)
    print(f"{compared} generated feeds compared, {agree} agree ({agree / compared:.1%})")
    for name, n in fields.most_common():
        print(f"  {name}: {n} disagreements")


if __name__ == "__main__":
    main()
