"""What `newswatch run` adds around the service: the HTTP endpoint, a pid file, and hot reload on SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from alerts.channels import make_channel
from core.config import Config, require_sources
from core.db import utcnow
from core.errors import ConfigError
from newswatch import websub
from newswatch.settings import load_config

if TYPE_CHECKING:
    from newswatch.service import Service

log = logging.getLogger(__name__)


def pid_file(config_path: Path) -> Path:
    """Where `run` writes its process id, so `newswatch reload` can find it: next to the config."""
    return config_path.with_name(config_path.name + ".pid")


@contextlib.contextmanager
def serving(service: Service, config_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Start the HTTP endpoint and the WebSub callback (if configured), write the pid file and
    reload on SIGHUP, until exit."""
    with websub.serving(service, loop), _status_and_reload(service, config_path, loop):
        yield


@contextlib.contextmanager
def _status_and_reload(
    service: Service, config_path: Path, loop: asyncio.AbstractEventLoop
) -> Iterator[None]:
    server = None
    if service.config.http is not None:
        from newswatch.web import StatusServer

        try:
            server = StatusServer(service, service.config.http.address)
        except OSError as exc:
            raise ConfigError(f"http.listen: cannot listen on {service.config.http.listen}: {exc}") from None
        server.start()
    pid_path = pid_file(config_path)
    try:
        pid_path.write_text(f"{os.getpid()}\n", encoding="ascii")
    except OSError as exc:
        log.warning(
            "cannot write pid file %s (newswatch reload will not find this process): %s", pid_path, exc
        )
    loop.add_signal_handler(signal.SIGHUP, reload, service, config_path)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        with contextlib.suppress(OSError):
            if pid_path.read_text(encoding="ascii").strip() == str(os.getpid()):
                pid_path.unlink()
        if server is not None:
            server.close()


def reload(service: Service, config_path: Path) -> bool:
    """Re-read the config and apply it; a config that does not load is refused and the old one kept."""
    try:
        config = load_config(config_path)
        require_sources(config_path, config)  # as `run` does: a config that watches nothing
    except ConfigError as exc:
        log.error("reload refused, still running the previous config: %s", exc)
        return False
    apply_config(service, config)
    return True


def apply_config(service: Service, config: Config) -> None:
    """Swap in a validated config: rules, channels, health and source schedules change live."""
    old = service.config
    for key in ("database", "http", "fetch", "full_text", "websub"):
        if getattr(old, key) != getattr(config, key):
            log.warning("reload: `%s` changed; that takes effect on the next start", key)
    client = service._hook_client  # the webhook client the service owns
    channels = service.channels
    if client is not None:
        channels = {c.name: make_channel(c, client) for c in config.channels}
    kept_settings = {key: getattr(old, key) for key in ("database", "http", "fetch", "full_text", "websub")}
    service.config = config.model_copy(update=kept_settings)
    service.use_rules(config)
    service.channels = channels
    scheduler = service.scheduler
    if scheduler is not None and scheduler.running:
        before = {s.name: s for s in old.sources if s.enabled}
        after = {s.name: s for s in config.sources if s.enabled}
        for name in before.keys() - after.keys():
            scheduler.remove_job(f"poll:{name}")
            log.info("reload: source no longer polled", extra={"source": name})
        now = service.now()
        for name, source in after.items():
            if before.get(name) != source:
                service.schedule_poll(source, now)
                log.info("reload: source scheduled", extra={"source": name, "every": str(source.every)})
        if service.websub is not None and scheduler.get_job("websub") is not None:
            # At once: unsubscribe from what left the config; the round re-syncs every interval.
            scheduler.modify_job("websub", next_run_time=utcnow())
    log.info(
        "config reloaded: %d sources, %d channels, %d rules",
        len(config.sources),
        len(config.channels),
        len(config.rules),
    )


def signal_reload(config_path: Path) -> int:
    """Send SIGHUP to the `run` process of this config; return its pid. Raises ConfigError if none runs."""
    path = pid_file(config_path)
    try:
        pid = int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        raise ConfigError(f"no running `newswatch run` for this config (no pid file at {path})") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ConfigError(f"no running `newswatch run` for this config (stale pid file {path})") from None
    return pid
