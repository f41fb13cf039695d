"""The webhook channel: a signed JSON POST (Standard Webhooks)."""

from __future__ import annotations

import json
import time

import httpx

from alerts import signing
from alerts.models import Alert
from newswatch.errors import DeliveryError

TIMEOUT_SECONDS = 15.0


class WebhookChannel:
    def __init__(self, name: str, url: str, secrets: list[str], client: httpx.AsyncClient) -> None:
        self.name = name
        self.url = url
        self._secrets = secrets
        self._client = client

    async def send(self, alert: Alert) -> None:
        body = json.dumps(alert.event(), ensure_ascii=False, separators=(",", ":")).encode()
        headers = signing.headers(self._secrets, alert.message_id, int(time.time()), body)
        headers["content-type"] = "application/json"
        try:
            response = await self._client.post(
                self.url, content=body, headers=headers, timeout=TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {self.name}: {type(exc).__name__}: {exc}") from None
        if 200 <= response.status_code < 300:
            return
        raise DeliveryError(
            f"webhook {self.name}: HTTP {response.status_code}",
            retryable=response.status_code != 410,
        )
