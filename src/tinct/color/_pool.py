"""Row ranges of an image spread over one process-wide thread pool (torch-free).

The kernels (compiled C in ``_rgb8``, numba in ``_kernels``) release the GIL, so Python threads
run them in parallel; the thread count is :func:`tinct.threads.get_num_threads`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tinct.threads import get_num_threads

__all__ = ["run_chunks", "run_rows"]

#: Below this many pixels per call, rows are converted in the calling thread only.
THREAD_MIN_PIXELS = 1 << 18
#: Ranges of rows per thread (more than one balances the load on shared cores).
RANGES_PER_THREAD = 4

_pool_lock = threading.Lock()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, executor)


def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's pool of ``workers`` threads (a new one after fork: threads do not survive it)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != workers:
            if _pool is not None and _pool[0] == os.getpid():
                _pool[2].shutdown(wait=False)
            _pool = (os.getpid(), workers, ThreadPoolExecutor(workers, thread_name_prefix="tinct-color"))
        return _pool[2]


def run_chunks(task: Callable[[int, int, int], Any], chunks: list[tuple[int, int, int]]) -> list[Any]:
    """``[task(*chunk), ...]``, spread over :func:`tinct.threads.get_num_threads` threads."""
    workers = get_num_threads()
    if workers <= 1 or len(chunks) <= 1:
        return [task(*chunk) for chunk in chunks]
    return list(_executor(workers).map(lambda chunk: task(*chunk), chunks))


def run_rows(
    task: Callable[[int, int, int], Any], batch: int, height: int, width: int
) -> list[tuple[tuple[int, int, int], Any]]:
    """``task(n, y0, y1)`` (a kernel that releases the GIL) over every image n < batch in a few
    ranges of rows per thread; returns each (n, y0, y1) with its result."""
    if batch == 0 or height == 0:
        return []
    task(0, 0, 0)  # a JIT kernel compiles (or loads from its cache) here, once, before the pool runs it
    threads = get_num_threads() if batch * height * width >= THREAD_MIN_PIXELS else 1
    # Several ranges per thread: on shared cores, a thread that gets less CPU time does less work.
    step = max(1, -(-batch * height // (threads * RANGES_PER_THREAD)))
    chunks = [(n, y0, min(height, y0 + step)) for n in range(batch) for y0 in range(0, height, step)]
    if threads == 1:
        return [(chunk, task(*chunk)) for chunk in chunks]
    return list(zip(chunks, run_chunks(task, chunks), strict=True))
