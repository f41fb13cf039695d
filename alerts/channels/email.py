"""The email channel: SMTP (plain, STARTTLS or implicit TLS, login), text and HTML from Jinja2
templates a user can override; one message per alert, or one per digest."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from alerts.models import Alert, Digest
from core.config import EmailSettings
from core.errors import DeliveryError


def _environment(settings: EmailSettings) -> Environment:
    loaders: list[Any] = [PackageLoader("alerts", "templates")]
    if settings.templates is not None:
        loaders.insert(0, FileSystemLoader(str(settings.templates)))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _message(settings: EmailSettings, subject: str, message_id: str, rule: str | None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to)
    if settings.cc:
        message["Cc"] = ", ".join(settings.cc)
    message["Date"] = formatdate(localtime=False)
    domain = settings.sender.rpartition("@")[2] or "newswatch.invalid"
    # Stable per alert: a retry of an unacknowledged send carries the same Message-ID.
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    if rule:
        message["X-Newswatch-Rule"] = rule
    return message


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def compose(alert: Alert, settings: EmailSettings) -> EmailMessage:
    """The message for one alert: subject names the rule and title; text and HTML parts."""
    message = _message(
        settings,
        f"[newswatch] {alert.rule}: {_one_line(alert.article['title'])}",
        alert.message_id,
        alert.rule,
    )
    templates = _environment(settings)
    context = {"alert": alert, "article": alert.article, "matched": alert.matched}
    message.set_content(templates.get_template("email.txt").render(context))
    message.add_alternative(templates.get_template("email.html").render(context), subtype="html")
    return message


def compose_digest(digest: Digest, settings: EmailSettings) -> EmailMessage:
    """One message listing every alert of a digest."""
    rules = sorted({a.rule for a in digest.alerts})
    subject = f"[newswatch] digest: {len(digest.alerts)} alerts ({', '.join(rules)})"
    message = _message(settings, subject, digest.message_id, rules[0] if len(rules) == 1 else None)
    templates = _environment(settings)
    context = {"digest": digest, "alerts": digest.alerts}
    message.set_content(templates.get_template("digest.txt").render(context))
    message.add_alternative(templates.get_template("digest.html").render(context), subtype="html")
    return message


def compose_test(channel: str, message_id: str, settings: EmailSettings) -> EmailMessage:
    """The `alerts send-test` message."""
    message = _message(settings, f"[newswatch] test message for channel {channel}", message_id, None)
    message.set_content(f"This is a test message from Newswatch for the channel {channel!r}.\n")
    return message


class EmailChannel:
    def __init__(self, name: str, settings: EmailSettings) -> None:
        self.name = name
        self.settings = settings

    async def send(self, alert: Alert) -> None:
        await asyncio.to_thread(self._deliver, compose(alert, self.settings))

    async def send_digest(self, digest: Digest) -> None:
        await asyncio.to_thread(self._deliver, compose_digest(digest, self.settings))

    async def send_test(self, message_id: str) -> None:
        await asyncio.to_thread(self._deliver, compose_test(self.name, message_id, self.settings))

    def _tls(self) -> ssl.SSLContext:
        ca_file = self.settings.smtp.ca_file
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def _deliver(self, message: EmailMessage) -> None:
        smtp = self.settings.smtp
        recipients = [*self.settings.to, *self.settings.cc, *self.settings.bcc]
        timeout = smtp.timeout.total_seconds()
        try:
            client: smtplib.SMTP
            if smtp.ssl:
                client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=self._tls())
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
            with client:
                if smtp.starttls:
                    client.starttls(context=self._tls())
                if smtp.username:
                    client.login(smtp.username, smtp.password or "")
                client.send_message(message, to_addrs=recipients)
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise DeliveryError(
                f"email {self.name}: SMTP {exc.smtp_code} {text}", retryable=exc.smtp_code < 500
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            answers = "; ".join(
                f"{who}: {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
                for who, (code, text) in exc.recipients.items()
            )
            raise DeliveryError(
                f"email {self.name}: recipients refused: {answers}", retryable=all(c < 500 for c in codes)
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email {self.name}: {type(exc).__name__}: {exc}") from None
