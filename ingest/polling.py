"""When to poll next: exponential backoff with jitter after failures, and spread-out first polls."""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta

MIN_SPREAD = timedelta(seconds=5)
FIRST_POLLS_PER_SECOND = 20


def backoff(failures: int, base: timedelta, cap: timedelta, rand: random.Random | None = None) -> timedelta:
    """The wait after the `failures`-th failure in a row: base * 2**(failures-1), capped, with jitter.

    The jitter takes the wait down by up to half ("equal jitter"), so sources that failed together
    (one outage) do not all come back in the same second, and the wait still grows with each failure.
    """
    if failures < 1:
        return timedelta(0)
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** min(failures - 1, 32))
    return timedelta(seconds=ceiling * (0.5 + 0.5 * (rand or random).random()))


def first_poll_offset(name: str, every: timedelta, sources: int) -> timedelta:
    """A stable offset for a source's first poll, by its name, over a window sized for `sources`.

    The window holds about FIRST_POLLS_PER_SECOND first polls a second (at least 5 s, at most `every`):
    1,000 sources start over 50 s, a handful within 5 s. Later polls keep these phases.

    A hash of the name rather than a random draw: the spread is even across many sources and the same
    on every start, so a restart does not bunch the polls up again.
    """
    spread = max(MIN_SPREAD, timedelta(seconds=sources / FIRST_POLLS_PER_SECOND))
    window = min(every, spread).total_seconds()
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
    return timedelta(seconds=window * digest / 2**64)
