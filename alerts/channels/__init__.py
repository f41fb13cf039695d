"""Channels: where alerts go. One module per kind; `make_channel` picks by the config."""

from __future__ import annotations

from typing import Protocol

import httpx

from alerts.models import Alert
from newswatch.config import ChannelConfig


class Channel(Protocol):
    """Something that delivers an alert, or raises DeliveryError saying why it could not."""

    name: str

    async def send(self, alert: Alert) -> None: ...


def make_channel(config: ChannelConfig, client: httpx.AsyncClient) -> Channel:
    """The channel a config entry describes; webhooks share `client`."""
    from alerts.channels.console import ConsoleChannel
    from alerts.channels.email import EmailChannel
    from alerts.channels.webhook import WebhookChannel

    if config.webhook is not None:
        secrets = [config.secret] if config.secret else []
        return WebhookChannel(config.name, config.webhook, secrets, client)
    if config.email is not None:
        return EmailChannel(config.name, config.email)
    return ConsoleChannel(config.name)
