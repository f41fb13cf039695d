"""The apprise channel: each alert (or digest) to every Apprise URL of the channel — Telegram,
Slack, Matrix, ntfy, email, a JSON or form endpoint, and the rest of what Apprise speaks — with a
title and a body from Jinja2 templates a user can override.

Apprise sends with blocking calls: each URL's send runs in a thread of this module's own pool (so a
stalled service never takes the threads the database calls use), with Apprise's connect and read
timeouts set from the channel's `timeout` and the whole send bounded by twice that. The message is
delivered when every URL's service says so; after a partial failure the channel raises
PartlyDelivered naming the URLs that took it, and the retry goes only to the others.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, TemplateError

from alerts.channels import PartlyDelivered
from alerts.models import Alert, Digest
from core import apprise_url
from core.errors import DeliveryError

# Threads for Apprise's blocking sends, shared by every apprise channel of the process: CONCURRENCY
# (8) alerts in flight per channel, each to a few URLs at once.
THREADS = 32
_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="apprise")
_EXPLICIT_TIMEOUT = re.compile(r"[?&](cto|rto)=", re.IGNORECASE)
TITLE_MAX = 250


@dataclass(frozen=True)
class Target:
    """One Apprise URL of a channel, and the masked form that names it in logs and the outbox."""

    key: str
    url: str


def targets(urls: Sequence[str], secrets: Mapping[str, str]) -> list[Target]:
    """The channel's URLs, each named by its masked form (`#2`, `#3` after a repeat of one)."""
    seen: Counter[str] = Counter()
    found = []
    for url in urls:
        shown = apprise_url.display(url, secrets)
        seen[shown] += 1
        found.append(Target(shown if seen[shown] == 1 else f"{shown} #{seen[shown]}", url))
    return found


def _environment(folder: Path | None) -> Environment:
    loaders: list[Any] = [PackageLoader("alerts", "templates")]
    if folder is not None:
        loaders.insert(0, FileSystemLoader(str(folder)))
    return Environment(loader=ChoiceLoader(loaders), autoescape=False, trim_blocks=True, lstrip_blocks=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:TITLE_MAX]


def send_blocking(url: str, title: str, body: str, timeout: float, secrets: Mapping[str, str]) -> str | None:
    """Send one message to one Apprise URL (in a worker thread): None on success, else why not,
    in Apprise's words with every secret masked."""
    from apprise import NotifyFormat

    with apprise_url.captured() as lines:
        service = apprise_url.instantiate(url)
        if service is None:
            return "Apprise cannot use this URL"
        if not _EXPLICIT_TIMEOUT.search(url):  # a URL's own ?cto= / ?rto= wins
            service.socket_connect_timeout = timeout
            service.socket_read_timeout = timeout
        try:
            ok = service.notify(body=body, title=title, body_format=NotifyFormat.TEXT)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug is this URL's failure, not the run's
            return apprise_url.redact(f"{type(exc).__name__}: {exc}", secrets)
    if ok:
        return None
    reason = lines[-1] if lines else "the service reported a failure"
    return apprise_url.redact(" ".join(reason.split()), secrets)


class AppriseChannel:
    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        secrets: Mapping[str, str],
        *,
        timeout: float = 15.0,
        templates: Path | None = None,
    ) -> None:
        self.name = name
        self.targets = targets(urls, secrets)
        self._secrets = dict(secrets)
        self._timeout = timeout
        self._templates = _environment(templates)

    async def send(self, alert: Alert) -> None:
        context = {"alert": alert, "article": alert.article, "matched": alert.matched}
        title, body = self._render("apprise_title.txt", "apprise_body.txt", context)
        await self._notify(title, body, alert.delivered)

    async def send_digest(self, digest: Digest) -> None:
        rules = sorted({a.rule for a in digest.alerts})
        context = {"digest": digest, "alerts": digest.alerts, "rules": rules}
        title, body = self._render("apprise_digest_title.txt", "apprise_digest_body.txt", context)
        await self._notify(title, body, digest.delivered)

    async def send_test(self, message_id: str) -> None:
        title = f"[newswatch] test message for channel {self.name}"
        body = f"This is a test message from Newswatch for the channel {self.name!r} ({message_id})."
        await self._notify(title, body, ())

    def _render(self, title: str, body: str, context: dict[str, Any]) -> tuple[str, str]:
        try:
            return (
                _one_line(self._templates.get_template(title).render(context)),
                self._templates.get_template(body).render(context),
            )
        except (OSError, TemplateError) as exc:
            raise DeliveryError(
                f"apprise {self.name}: template: {type(exc).__name__}: {exc}", retryable=False
            ) from None

    async def _notify(self, title: str, body: str, done: Collection[str]) -> None:
        todo = [t for t in self.targets if t.key not in done]
        outcomes = await asyncio.gather(*(self._send(t, title, body) for t in todo))
        failed = {t.key: why for t, why in zip(todo, outcomes, strict=True) if why is not None}
        if not failed:
            return
        message = f"apprise {self.name}: {len(failed)} of {len(self.targets)} URLs failed: " + "; ".join(
            f"{key}: {why}" for key, why in failed.items()
        )
        have = tuple(t.key for t in self.targets if t.key not in failed)
        if have:
            raise PartlyDelivered(message, have)
        raise DeliveryError(message)

    async def _send(self, target: Target, title: str, body: str) -> str | None:
        """One URL's send in a pool thread; its time bound starts when a thread takes it."""
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        def work() -> str | None:
            try:
                loop.call_soon_threadsafe(started.set)
            except RuntimeError:  # the loop is gone (shutdown): send nothing
                return "stopped before sending"
            return send_blocking(target.url, title, body, self._timeout, self._secrets)

        future = loop.run_in_executor(_pool, work)
        waiting = asyncio.ensure_future(started.wait())
        bound = 2 * self._timeout
        try:
            first: set[asyncio.Future[Any]] = {future, waiting}
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            return await asyncio.wait_for(future, bound)
        except TimeoutError:
            return f"no answer within {bound:g} s"
        finally:
            waiting.cancel()
            future.cancel()  # not started yet: it never sends; running: its outcome is dropped
