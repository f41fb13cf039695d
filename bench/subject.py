"""Newswatch itself on the bench feeds: the real config, database and service, polls only."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.data import CONTENT_WORDS
from core.db import Database
from newswatch.service import Service
from newswatch.settings import load_config


def rule_terms(names: tuple[str, ...], count: int, seed: int = 11) -> list[str]:
    """`count` distinct watch terms: every person's name, then two-word phrases."""
    rng = random.Random(seed)
    terms = list(names)[:count]
    seen = set(terms)
    while len(terms) < count:
        phrase = f"{rng.choice(CONTENT_WORDS)} {rng.choice(CONTENT_WORDS)}"
        if phrase not in seen:
            seen.add(phrase)
            terms.append(phrase)
    return terms


BENCH_SECRET = "whsec_YmVuY2gtc2VjcmV0LWZvci13ZWJob29rcy0zMmI="  # signing costs what it costs a user


def write_config(
    folder: Path, urls: list[str], terms: list[str], every: str = "15m", hook: str | None = None
) -> Path:
    """A Newswatch config polling `urls`, one rule per term, alerts to the webhook `hook` (a loopback
    receiver, bench/receiver.py), or to a console channel without one."""
    channel: dict[str, object] = {"name": "out", "console": True}
    if hook is not None:
        channel = {
            "name": "out",
            "webhook": hook,
            "secret": "whsec_" + "YmVuY2gtc2VjcmV0LWZvci13ZWJob29rcy0zMmI=",
        }
    config = {
        "database": "sqlite:///newswatch.db",
        "fetch": {"allow_private_addresses": True, "timeout": "30s"},
        "sources": [{"name": f"feed{i}", "feed": url, "every": every} for i, url in enumerate(urls)],
        "channels": [channel],
        "rules": [
            {"name": f"rule{i}", "keywords": [term], "notify": ["out"]} for i, term in enumerate(terms)
        ],
    }
    path = folder / "newswatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Round:
    """What one poll of every source (and the delivery after it) did."""

    items: int  # items of the polls that succeeded
    new: int
    failed: int  # polls that failed
    sent: int  # alerts delivered
    deliver_seconds: float = 0.0  # of the wall time, what delivering the alerts took

    def __int__(self) -> int:
        return self.new


class Runner:
    """One long-lived Newswatch service, as `newswatch run` keeps it: polls share its state. Creating
    one is the service's start-up: config, database, rules compiled, worker processes started."""

    def __init__(self, config_path: Path) -> None:
        self.config = load_config(config_path)
        self.db = Database(self.config.database)
        self.loop = asyncio.new_event_loop()
        self.service = Service(self.config, self.db)
        self.loop.run_until_complete(self.service.__aenter__())
        self.service.pool.start()

    def poll_all(self, deliver: bool = True) -> Round:
        """Poll every source once (fetch, parse, clean, dedup, match, store), then send the alerts."""

        async def go() -> Round:
            outcomes = await self.service.poll_many(self.config.sources)
            began = time.perf_counter()
            report = await self.service.deliver() if deliver else None
            return Round(
                sum(o.items for o in outcomes if o.ok),
                sum(o.new for o in outcomes),
                sum(1 for o in outcomes if not o.ok),
                report.sent if report is not None else 0,
                time.perf_counter() - began,
            )

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.service.__aexit__(None, None, None))
        self.loop.close()
        self.db.close()
