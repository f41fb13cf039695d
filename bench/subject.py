"""Newswatch itself on the bench feeds: the real config, database and service, polls only."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import yaml

from bench.data import WORDS
from newswatch.config import load_config
from newswatch.db import Database
from newswatch.service import Service


def rule_terms(names: tuple[str, ...], count: int, seed: int = 11) -> list[str]:
    """`count` distinct watch terms: every person's name, then two-word phrases."""
    rng = random.Random(seed)
    terms = list(names)[:count]
    seen = set(terms)
    while len(terms) < count:
        phrase = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
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


def poll_all(config_path: Path) -> int:
    """Poll every source once (fetch, parse, clean, dedup, match, store); return new articles."""
    config = load_config(config_path)
    db = Database(config.database)

    async def go() -> int:
        async with Service(config, db) as service:
            outcomes = await asyncio.gather(*(service.poll(s) for s in config.sources))
            return sum(o.new for o in outcomes)

    try:
        return asyncio.run(go())
    finally:
        db.close()
