"""What a worker process of the CPU stage runs (ingest/pool.py submits these).

A spawned worker imports this module to find the function it is given: it imports only the CPU
stage (ingest/process.py, ingest/fulltext.py), not the pool's asyncio side, so each worker holds
less memory."""

from __future__ import annotations

import logging
import os
import threading
import time

from core.errors import SourceError
from ingest.fulltext import PageJob, use_page
from ingest.process import Job, Prepared, Processed, process

log = logging.getLogger("ingest.pool")  # the pool's logger, as before these moved here


def call(job: Job) -> Processed | str:
    """`process(job)`; a failure comes back as its reason (exceptions need not pickle)."""
    try:
        return process(job)
    except SourceError as exc:
        return exc.reason
    except Exception as exc:  # a bug on one feed is that poll's failure
        log.debug("processing failed", exc_info=True, extra={"source": job.source})
        return f"cannot process the feed: {type(exc).__name__}: {exc}"


def call_page(job: PageJob) -> Prepared | str:
    """`use_page(job)`; a failure comes back as its reason."""
    try:
        return use_page(job)
    except Exception as exc:  # a page that breaks the extractor is that page's failure
        log.debug("page extraction failed", exc_info=True, extra={"source": job.source})
        return f"cannot extract the page: {type(exc).__name__}: {exc}"


def warm() -> None:
    """Import and run the CPU stage once, so the first real job does not pay for it."""
    process(Job(source="warm-up", items=()))


def watch_parent(parent: int) -> None:
    """Workers end when the service that spawned them is gone (kill -9 leaves no orphans)."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
