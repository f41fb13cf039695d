"""The console channel: prints alerts to standard output (the demo needs no outside service)."""

from __future__ import annotations

import sys
from typing import TextIO

from alerts.models import Alert, Digest
from core import dates


def render(alert: Alert) -> str:
    """A few readable lines for one alert."""
    article = alert.article
    found = ", ".join(
        f"{hit['surface']} ({hit['kind']} {hit['term']!r} in {hit['field']})" for hit in alert.matched
    )
    lines = [
        f"ALERT [{alert.rule}] {article['title']}",
        f"  source: {article['source']}   published: {dates.local(article.get('published_at'))}",
        f"  link:   {article['url'] or '-'}",
        f"  matched: {found}",
    ]
    return "\n".join(lines)


class ConsoleChannel:
    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self._stream or sys.stdout, flush=True)

    async def send(self, alert: Alert) -> None:
        self._print(render(alert))

    async def send_digest(self, digest: Digest) -> None:
        self._print(f"DIGEST {digest.batch}: {len(digest.alerts)} alerts")
        for alert in digest.alerts:
            self._print(render(alert))

    async def send_test(self, message_id: str) -> None:
        self._print(f"TEST newswatch channel {self.name!r} works ({message_id})")
