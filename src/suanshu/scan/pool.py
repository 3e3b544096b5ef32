"""Record batches scanned on several cores, results back in reading order.

One Python process scans on one core: between RE2 and numpy calls the engine holds the GIL, and
names and addresses are Python. A file of many batches is therefore cut across processes: the
caller reads the batches and keeps everything that spans them (profiles, counts, the order of
findings); each worker runs the detectors and the batch profile over whole batches
(``report.scan_batch``), reading its rows from the Parquet file itself. At most ``workers + 1``
batches are out at a time, so memory stays bounded by the batch (times the workers) as in one
process.

Workers fork from a forkserver that imported the scanner and loaded its dictionaries once
(``_forkserver``), so each starts in milliseconds with no second copy of the dictionaries; the
forkserver itself starts once per process, on first use. Forking from it, never from the caller,
keeps the caller's threads (Arrow's pools, a web server's) out of the workers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from suanshu.core.errors import SuanshuError

A = TypeVar("A")
R = TypeVar("R")


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def ahead(fn: Callable[[A], R], args: Iterable[A], workers: int) -> Iterator[Future]:
    """The future of ``fn(arg)`` for each of ``args``, in their order, with ``fn`` running in
    ``workers`` processes and at most ``workers + 1`` submitted and not yet handed out.
    Stopping early (a break, an error) cancels what has not started."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["suanshu.scan._forkserver"])
    else:  # (Windows) each worker starts afresh
        context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pending: deque[Future] = deque()
    try:
        for arg in args:
            pending.append(pool.submit(fn, arg))
            if len(pending) > workers:
                yield pending.popleft()
        while pending:
            yield pending.popleft()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def result(future: Future) -> R:
    """The future's result; a worker that died (killed, out of memory) is a clear error."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise SuanshuError("scan.worker_failed",
                           "a scan worker process died before finishing its batch (out of memory?); "
                           "scan again with fewer workers (--workers 1 scans in this process)") from exc
