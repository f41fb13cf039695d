"""Channels: where alerts go. One module per kind; `make_channel` picks by the config."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from alerts.models import Alert, Digest
from core.config import ChannelConfig
from core.errors import DeliveryError

if TYPE_CHECKING:
    import aiohttp


class Channel(Protocol):
    """Something that delivers an alert, or raises DeliveryError saying why it could not."""

    name: str

    async def send(self, alert: Alert) -> None: ...

    async def send_digest(self, digest: Digest) -> None: ...

    async def send_test(self, message_id: str) -> None: ...


class ChannelGone(DeliveryError):
    """The peer said the endpoint is gone for good (HTTP 410): the channel must be disabled."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class PartlyDelivered(DeliveryError):
    """Some of a channel's targets took the message and others did not: `delivered` names every
    target that has it now (earlier attempts included); the retry goes only to the others."""

    def __init__(self, message: str, delivered: tuple[str, ...]) -> None:
        super().__init__(message)
        self.delivered = delivered


def test_event(channel: str, now: datetime | None = None) -> dict[str, Any]:
    """The body of `alerts send-test`: a signed event that says it is a test (like GitHub's ping)."""
    stamp = (now or datetime.now(UTC)).isoformat()
    return {
        "type": "newswatch.test",
        "timestamp": stamp,
        "data": {"channel": channel, "message": f"Newswatch test event for channel {channel!r}"},
    }


def make_channel(config: ChannelConfig, client: aiohttp.ClientSession) -> Channel:
    """The channel a config entry describes; webhooks share `client`."""
    from alerts.channels.console import ConsoleChannel
    from alerts.channels.email import EmailChannel
    from alerts.channels.webhook import WebhookChannel

    if config.webhook is not None:
        return WebhookChannel(
            config.name,
            config.webhook,
            config.secrets,
            client,
            fmt=config.format,
            template=config.template,
            content_type=config.content_type,
            timeout=config.timeout.total_seconds(),
        )
    if config.email is not None:
        return EmailChannel(config.name, config.email)
    if config.apprise is not None:
        from alerts.channels.apprise import AppriseChannel  # imports Apprise (slow): only when used

        return AppriseChannel(
            config.name,
            config.apprise,
            config.url_secrets,
            timeout=config.timeout.total_seconds(),
            templates=config.templates,
        )
    return ConsoleChannel(config.name)
