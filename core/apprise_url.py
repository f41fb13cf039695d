"""Apprise URLs (the `apprise:` channel kind): checked with Apprise's own parser, shown with their
secrets masked, and Apprise's log lines kept to the caller that asked for them.

Apprise is imported here only when a config has an apprise channel: the import and its plugin
table take about a third of a second, which no other command should pay.

Redaction has two layers. Apprise masks what each service calls a secret (`url(privacy=True)`: a
password as `****`, a bot token as `1...Z`). Our own layer replaces every value the config took
from the environment (`${VAR}`) with `${VAR}` itself, wherever it appears (a path, a header
parameter, a log line of Apprise's), raw or URL-encoded. The query string is never shown.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

# A value taken from the environment shorter than this is no secret, and replacing it everywhere
# (a port "80", a chat id "12") would garble the text.
MIN_SECRET_LENGTH = 4
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]{0,31})://")

_capture = threading.local()
_quiet_lock = threading.Lock()
_quieted = False


class _ThreadCapture(logging.Handler):
    """Apprise's log records go to the list of the thread that is sending (or checking), if any;
    never to our own log handlers, which could print a URL with its secret."""

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(_capture, "lines", None)
        if lines is not None:
            try:
                lines.append(record.getMessage())
            except Exception:  # noqa: BLE001 - a bad format string in a plugin's log call
                lines.append(str(record.msg))


# Apprise's loggers, and urllib3's (under `requests`, which Apprise's services use and nothing else
# in Newswatch does): both can name a URL, path and token included.
CAPTURED_LOGGERS = ("apprise", "urllib3")


def _quiet() -> None:
    """Take over Apprise's loggers once, before Apprise is imported: their warnings and errors are
    kept by the thread that is sending (see `captured`), never propagated to our log."""
    global _quieted
    with _quiet_lock:
        if _quieted:
            return
        for name in CAPTURED_LOGGERS:
            logger = logging.getLogger(name)
            logger.handlers[:] = [_ThreadCapture()]
            logger.propagate = False
            logger.setLevel(logging.WARNING)
        _quieted = True


@contextmanager
def captured() -> Iterator[list[str]]:
    """Apprise's warnings and errors logged by this thread while the block runs."""
    _quiet()
    previous = getattr(_capture, "lines", None)
    lines: list[str] = []
    _capture.lines = lines
    try:
        yield lines
    finally:
        _capture.lines = previous


def asset() -> Any:
    """Apprise's settings for Newswatch: redirects are not followed (as for webhooks; a URL's own
    `?redirect=yes` can say otherwise), secrets masked in its messages, nothing written to disk."""
    _quiet()
    from apprise import AppriseAsset

    return AppriseAsset(http_redirects=False, secure_logging=True, storage_mode="memory")


def scheme(url: str) -> str | None:
    """The scheme of `url` in lower case (`tgram`), or None when it has none."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


def instantiate(url: str) -> NotifyBase | None:
    """Apprise's service object for `url`, or None when Apprise cannot use it (nothing is logged)."""
    _quiet()
    from apprise import Apprise

    with captured():
        try:
            return Apprise.instantiate(url, asset=asset())
        except Exception:  # noqa: BLE001 - Apprise's parser on hostile text: any failure is "unusable"
            return None


def problem(url: str) -> str | None:
    """Why `url` is not an Apprise URL Newswatch can send to, or None when it is. Never echoes the
    URL (it may hold a secret): names its scheme only."""
    _quiet()
    from apprise.manager_plugins import NotificationManager

    if not isinstance(url, str) or not url.strip():
        return "an Apprise URL cannot be blank"
    found = scheme(url)
    if found is None:
        return "is not an Apprise URL (write scheme://..., e.g. tgram://, slack://, ntfy://, json://)"
    plugins = NotificationManager()  # type: ignore[no-untyped-call]  # Apprise's table of services
    if found not in plugins:
        return f"unknown Apprise scheme {found}:// (the installed Apprise has no such service)"
    if instantiate(url) is None:
        service = getattr(plugins[found], "service_name", found)
        return f"is not a {found}:// URL that Apprise's {service} service can use; check its syntax"
    return None


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """`text` with every environment value of `secrets` (value -> variable name) replaced by
    `${NAME}`, raw or URL-encoded; longest first, so one secret inside another is caught whole."""
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) < MIN_SECRET_LENGTH:
            continue
        for form in {value, quote(value, safe=""), quote(value), quote_plus(value)}:
            text = text.replace(form, f"${{{secrets[value]}}}")
    return text


def display(url: str, secrets: Mapping[str, str]) -> str:
    """`url` as logs, `check --json`, `alerts --json` and the status page show it: Apprise's masked
    form without the query string, and every `${VAR}` value put back as `${VAR}`."""
    service = instantiate(url)
    if service is None:
        shown = f"{scheme(url) or '?'}://…"
    else:
        shown = str(service.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
    return redact(shown, secrets)
