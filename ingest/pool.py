"""The worker processes of the CPU stage (ingest/process.py), off the event loop and on every core.

A job that runs past its time budget is the poll's failure: the pool's processes are killed (a
running parse cannot be interrupted any other way) and a fresh pool serves the next job. A worker
that dies (a crash, the OOM killer) breaks the pool; the job is retried once on a fresh one."""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from core.errors import SourceError
from ingest.fulltext import PageJob
from ingest.process import Job, Prepared, Processed
from ingest.worker import call as _call
from ingest.worker import call_page as _call_page
from ingest.worker import warm as _warm
from ingest.worker import watch_parent as _watch_parent

_J = TypeVar("_J")

log = logging.getLogger(__name__)


class BudgetExceededError(SourceError):
    """Parsing and cleaning one poll took longer than its budget (pipeline.process_timeout)."""


class ProcessPool:
    """`workers` spawned processes (0: one thread in this process, for embedding and debugging)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: Executor | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the workers now (a service does this at start, so the first poll does not wait)."""
        executor = self._ensure()
        if isinstance(executor, ProcessPoolExecutor):
            # Spawned workers import the cleaning code on first use: make every one do it now.
            for future in [executor.submit(_warm) for _ in range(self.workers)]:
                future.result()

    async def run(self, job: Job, budget: float) -> Processed:
        """`process(job)` in a worker, within `budget` seconds; raises SourceError (BudgetExceededError
        when the budget ran out). A small job runs in a thread here: a worker process costs more to
        reach (and, the first time, to start) than it would save."""
        outcome = await self._run(_call, job, job.source, budget, _small(job), "feed")
        assert isinstance(outcome, Processed)
        return outcome

    async def run_page(self, job: PageJob, budget: float) -> Prepared:
        """`use_page(job)` (full text: a page's extraction and cleaning) in a worker, within `budget`
        seconds; raises SourceError (BudgetExceededError when the budget ran out)."""
        small = len(job.body) <= SMALL_BYTES
        outcome = await self._run(_call_page, job, job.source, budget, small, "page")
        assert isinstance(outcome, Prepared)
        return outcome

    async def _run(
        self, call: Callable[[_J], object], job: _J, source: str, budget: float, small: bool, kind: str
    ) -> object:
        work = "parsing and cleaning" if kind == "feed" else "extracting the page"
        if small:
            outcome = await asyncio.to_thread(call, job)
            if isinstance(outcome, str):
                raise SourceError(source, outcome)
            return outcome
        for attempt in (1, 2):
            executor = self._ensure()
            future = asyncio.get_running_loop().run_in_executor(executor, call, job)
            try:
                outcome = await asyncio.wait_for(future, budget)
            except TimeoutError:
                self._replace(executor)
                raise BudgetExceededError(
                    source,
                    f"{work} took longer than {budget:g}s (pipeline.process_timeout);"
                    f" the {kind} was fetched in full",
                ) from None
            except BrokenProcessPool:
                self._replace(executor)
                if attempt == 2:
                    raise SourceError(source, f"a worker process died while parsing this {kind}") from None
                log.warning("a worker process died; retrying on a fresh pool", extra={"source": source})
                continue
            if isinstance(outcome, str):
                raise SourceError(source, outcome)
            return outcome
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the workers at once (a job still running is dropped: its poll is redone next time)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            _kill(executor)

    def _ensure(self) -> Executor:
        with self._lock:
            if self._executor is None:
                if self.workers == 0:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="process")
                else:
                    self._executor = ProcessPoolExecutor(
                        self.workers,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_watch_parent,
                        initargs=(os.getpid(),),
                    )
            return self._executor

    def _replace(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        _kill(broken)


# A job this small (a folder of a few files, a short feed) is processed in a thread of this process.
SMALL_BYTES = 64 * 1024
SMALL_ITEMS = 20


def _small(job: Job) -> bool:
    size = len(job.body) + sum(len(item.content) for item in job.items)
    return size <= SMALL_BYTES and len(job.items) <= SMALL_ITEMS


def _kill(executor: Executor) -> None:
    if isinstance(executor, ProcessPoolExecutor):
        for worker in list((executor._processes or {}).values()):  # no public way to kill
            worker.kill()
    executor.shutdown(wait=False, cancel_futures=True)


_shared: dict[int, ProcessPool] = {}
_shared_lock = threading.Lock()


def shared_pool(workers: int | None) -> ProcessPool:
    """The process-wide pool with `workers` processes (None: one per core). Every service in a process
    shares it, and it is closed at exit."""
    count = workers if workers is not None else (os.cpu_count() or 1)
    with _shared_lock:
        pool = _shared.get(count)
        if pool is None:
            pool = _shared[count] = ProcessPool(count)
        return pool


@atexit.register
def _close_shared() -> None:
    for pool in list(_shared.values()):
        pool.close()
