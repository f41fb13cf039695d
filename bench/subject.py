"""Newswatch itself on the bench feeds: the real config, database and service, polls only."""

from __future__ import annotations

import asyncio
import random
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


def write_config(folder: Path, urls: list[str], terms: list[str], every: str = "15m") -> Path:
    """A Newswatch config polling `urls`, one rule per term, alerts to a console channel."""
    config = {
        "database": "sqlite:///newswatch.db",
        "fetch": {"allow_private_addresses": True, "timeout": "30s"},
        "sources": [{"name": f"feed{i}", "feed": url, "every": every} for i, url in enumerate(urls)],
        "channels": [{"name": "terminal", "console": True}],
        "rules": [
            {"name": f"rule{i}", "keywords": [term], "notify": ["terminal"]} for i, term in enumerate(terms)
        ],
    }
    path = folder / "newswatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Runner:
    """One long-lived Newswatch service, as `newswatch run` keeps it: polls share its state."""

    def __init__(self, config_path: Path) -> None:
        self.config = load_config(config_path)
        self.db = Database(self.config.database)
        self.loop = asyncio.new_event_loop()
        self.service = Service(self.config, self.db)
        self.loop.run_until_complete(self.service.__aenter__())

    def poll_all(self) -> int:
        """Poll every source once (fetch, parse, clean, dedup, match, store); return new articles."""

        async def go() -> int:
            outcomes = await self.service.poll_many(self.config.sources)
            return sum(o.new for o in outcomes)

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.service.__aexit__(None, None, None))
        self.loop.close()
        self.db.close()
