"""Bounded concurrency for colorizations: a few worker threads, a short queue, a deadline."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import ctypes.util
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["PoolFull", "PoolTimeout", "WorkerPool"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class PoolFull(Exception):
    """Every worker is busy and the queue is full (→ 503)."""


class PoolTimeout(Exception):
    """The job did not finish before its deadline (→ 504)."""


def _malloc_trim() -> Callable[[], Any] | None:
    # glibc keeps freed memory of each thread's arena for reuse; after a large image the
    # process would otherwise keep (and with several worker threads, multiply) hundreds of MB.
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class WorkerPool:
    """Run blocking jobs in ``workers`` threads with at most ``queue`` more waiting.

    A job counts against the capacity from submission until its thread is really done with it,
    even after its caller gave up waiting (timeout): threads cannot be interrupted, so this is
    what keeps the number of colorizations in memory at once bounded.
    """

    def __init__(self, workers: int, queue: int, trim_memory: bool = True) -> None:
        self.workers = workers
        self.queue = queue
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tinct-serve")
        self._lock = threading.Lock()
        self._admitted = 0  # submitted and not finished (running + waiting)
        self._running = 0
        self._trim = _malloc_trim() if trim_memory else None

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._admitted - self._running

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._lock:
            self._running += 1
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running -= 1
                idle = self._running == 0
            if idle and self._trim is not None:
                self._trim()

    def _finished(self, _future: concurrent.futures.Future) -> None:
        with self._lock:
            self._admitted -= 1

    def submit(
        self, fn: Callable[..., T], *args: Any, cleanup: Callable[[], Any] | None = None
    ) -> concurrent.futures.Future[T]:
        """Queue ``fn(*args)``; raises :class:`PoolFull` when ``workers + queue`` jobs are admitted.

        ``cleanup()`` runs exactly once when the job is over: finished, failed, dropped before it
        started, or refused.
        """
        with self._lock:
            full = self._admitted >= self.workers + self.queue
            if not full:
                self._admitted += 1
        if full:
            if cleanup is not None:
                cleanup()
            raise PoolFull
        try:
            future = self._executor.submit(self._call, fn, args)
        except BaseException:
            with self._lock:
                self._admitted -= 1
            if cleanup is not None:
                cleanup()
            raise
        future.add_done_callback(self._finished)
        if cleanup is not None:
            future.add_done_callback(lambda _: cleanup())
        return future

    async def run(
        self, fn: Callable[..., T], *args: Any, timeout: float, cleanup: Callable[[], Any] | None = None
    ) -> T:
        """``fn(*args)`` in a worker; :class:`PoolFull` at once if full, :class:`PoolTimeout` after ``timeout`` s.

        On timeout a job still waiting is dropped; one already running finishes in its thread.
        """
        future = self.submit(fn, *args, cleanup=cleanup)
        try:
            # Cancelling the asyncio wrapper (timeout, client gone) cancels the job if it is still
            # waiting; a running one finishes and its result is discarded.
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise PoolTimeout from None

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
