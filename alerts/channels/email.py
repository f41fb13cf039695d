"""The email channel: one message per alert over SMTP, text and HTML from Jinja2 templates."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from jinja2 import Environment, PackageLoader, select_autoescape

from alerts.models import Alert
from newswatch.config import EmailSettings
from newswatch.errors import DeliveryError

_templates = Environment(
    loader=PackageLoader("alerts", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
)


def compose(alert: Alert, settings: EmailSettings) -> EmailMessage:
    """The message for one alert: subject names the rule and title; text and HTML parts."""
    message = EmailMessage()
    title = " ".join(str(alert.article["title"]).split())
    message["Subject"] = f"[newswatch] {alert.rule}: {title}"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to)
    if settings.cc:
        message["Cc"] = ", ".join(settings.cc)
    message["Date"] = formatdate(localtime=False)
    domain = settings.sender.rpartition("@")[2] or "newswatch.invalid"
    message["Message-ID"] = make_msgid(idstring=alert.message_id, domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Newswatch-Rule"] = alert.rule
    context = {"alert": alert, "article": alert.article, "matched": alert.matched}
    message.set_content(_templates.get_template("email.txt").render(context))
    message.add_alternative(_templates.get_template("email.html").render(context), subtype="html")
    return message


class EmailChannel:
    def __init__(self, name: str, settings: EmailSettings) -> None:
        self.name = name
        self.settings = settings

    async def send(self, alert: Alert) -> None:
        message = compose(alert, self.settings)
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        smtp = self.settings.smtp
        recipients = [*self.settings.to, *self.settings.cc, *self.settings.bcc]
        timeout = smtp.timeout.total_seconds()
        try:
            client: smtplib.SMTP
            if smtp.ssl:
                client = smtplib.SMTP_SSL(
                    smtp.host, smtp.port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
            with client:
                if smtp.starttls:
                    client.starttls(context=ssl.create_default_context())
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
            raise DeliveryError(
                f"email {self.name}: recipients refused: {exc.recipients}", retryable=False
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email {self.name}: {type(exc).__name__}: {exc}") from None
