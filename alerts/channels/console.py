"""The console channel: prints alerts to standard output (the demo needs no outside service)."""

from __future__ import annotations

import sys
from typing import TextIO

from alerts.models import Alert


def render(alert: Alert) -> str:
    """A few readable lines for one alert."""
    article = alert.article
    found = ", ".join(
        f"{hit['surface']} ({hit['kind']} {hit['term']!r} in {hit['field']})" for hit in alert.matched
    )
    lines = [
        f"ALERT [{alert.rule}] {article['title']}",
        f"  source: {article['source']}   published: {article['published_at']}",
        f"  link:   {article['url'] or '-'}",
        f"  matched: {found}",
    ]
    return "\n".join(lines)


class ConsoleChannel:
    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream

    async def send(self, alert: Alert) -> None:
        stream = self._stream or sys.stdout
        print(render(alert), file=stream, flush=True)
