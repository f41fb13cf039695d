"""The webhook channel: a signed POST (Standard Webhooks), in the channel's payload format."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp

from alerts import payloads, signing
from alerts.channels import ChannelGone, test_event
from alerts.models import Alert, Digest
from core.errors import DeliveryError
from ingest.http import USER_AGENT

TIMEOUT_SECONDS = 15.0
# Answers after which the peer's Retry-After is honoured (overload and gateway trouble).
RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
# Connections kept open per receiver: the drain has at most alerts.delivery.CONCURRENCY POSTs in
# flight per channel, and a few channels may share one host.
CONNECTIONS_PER_HOST = 16


def make_session() -> aiohttp.ClientSession:
    """The HTTP client every webhook channel of a service shares (call it inside the event loop).

    aiohttp, not httpx: a signed POST costs about 0.2 ms of CPU against httpx's 1.8 ms (its HTTP
    parser is in C), and a burst of alerts is mostly POSTs. Keep-alive connections, no redirects
    followed, no proxy or netrc from the environment, answers read as bytes and never decompressed.
    Webhook receivers are the operator's own endpoints, often internal ones, so no address guard
    applies to them (feeds, the hostile input, go through ingest/http.py).
    """
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=CONNECTIONS_PER_HOST)
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class WebhookChannel:
    def __init__(
        self,
        name: str,
        url: str,
        secrets: list[str],
        client: aiohttp.ClientSession,
        *,
        fmt: str = "standard",
        template: Path | None = None,
        content_type: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.name = name
        self.url = url
        self._secrets = secrets
        self._client = client
        self._format = fmt
        self._template = template
        self._content_type = content_type or (
            "text/plain; charset=utf-8" if fmt == "template" else "application/json"
        )
        self._timeout = timeout

    async def send(self, alert: Alert) -> None:
        await self._post(alert.message_id, alert.event())

    async def send_digest(self, digest: Digest) -> None:
        await self._post(digest.message_id, digest.event())

    async def send_test(self, message_id: str) -> None:
        await self._post(message_id, test_event(self.name, datetime.now(UTC)))

    async def _post(self, message_id: str, event: dict[str, Any]) -> None:
        body = payloads.body(event, self._format, self._template)
        headers = signing.headers(self._secrets, message_id, int(time.time()), body)
        headers["content-type"] = self._content_type
        headers["user-agent"] = USER_AGENT
        try:
            async with self._client.post(
                self.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after_header = response.headers.get("retry-after")
                # The answer's body is not read: the connection goes back to the pool only once it
                # is, so a short one is drained, a long one closes the connection instead.
                if response.content_length is not None and response.content_length <= 65536:
                    await response.read()
        except TimeoutError as exc:
            raise DeliveryError(
                f"webhook {self.name}: no answer within {self._timeout:g} s ({type(exc).__name__})"
            ) from None
        except (aiohttp.ClientError, ValueError, UnicodeError, asyncio.IncompleteReadError) as exc:
            # Never the URL: incoming-webhook URLs (Slack, Discord) carry their token in the path.
            detail = str(exc).replace(self.url, "<url>")
            raise DeliveryError(f"webhook {self.name}: {type(exc).__name__}: {detail}") from None
        if 200 <= status < 300:
            return
        if status == 410:
            raise ChannelGone(f"webhook {self.name}: HTTP 410 Gone")
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(retry_after_header)
        raise DeliveryError(f"webhook {self.name}: HTTP {status}", retry_after=retry_after)
