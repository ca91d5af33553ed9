"""The Dask cluster a run uses: a scheduler's address, or a local cluster sized to the machine.

A local cluster has one single-threaded worker process per core (the feature arrays hold the
GIL between numpy calls) and a memory limit per worker, so a partition that grows too large
spills or restarts that worker instead of the machine running out of memory. A worker lost
mid-run has its tasks recomputed by Dask (`distributed.scheduler.allowed-failures`).

Its workers allocate as a plain pandas process does (`_PandasHeap`): Dask's nanny starts each
worker with `MALLOC_TRIM_THRESHOLD_=65536`, which fixes glibc's thresholds, so every array
over 128 kB is mapped from the system and unmapped again when freed; the features' million-row
arrays then cost a page fault per 4 kB each time. On 1M transactions the workers' system time
fell from ~15 to ~7 CPU-s each and the run's CPU from 95.7 to 73.0 s (docs/BACKFILL.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

# Share of the machine's memory the local workers may take together: the rest is left to the
# client process, which gathers one output partition at a time.
LOCAL_MEMORY_SHARE = 0.75
# glibc's thresholds as a pandas process's converge to them (its dynamic maxima on 64-bit):
# arrays under 32 MB come from the heap, and up to 64 MB free at its top is kept, not returned.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)


def _pandas_heap() -> bool:
    """Set this process's glibc thresholds to MMAP_THRESHOLD / TRIM_THRESHOLD; False where the
    C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False


def _worker_plugin():
    from distributed.diagnostics.plugin import WorkerPlugin

    class _PandasHeap(WorkerPlugin):
        """Each worker, restarted ones included, allocates as a pandas process does."""

        name = "wallet-monitor-pandas-heap"

        def setup(self, worker):
            _pandas_heap()

    return _PandasHeap()


def _machine_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None,
            memory_limit: int | str | None = None):
    """A `distributed.Client` on `scheduler` (`tcp://HOST:8786`), or on a local cluster of
    `workers` processes (default: one per core) with `memory_limit` each (default: the
    LOCAL_MEMORY_SHARE of the machine split between them); closed on exit."""
    from distributed import Client, LocalCluster

    # Every shuffle logs its start and end as a warning: noise in a run's log.
    logging.getLogger("distributed.shuffle._scheduler_plugin").setLevel(logging.ERROR)

    if scheduler:
        with Client(scheduler) as client:
            logger.info("Dask scheduler %s; dashboard %s", scheduler, client.dashboard_link)
            yield client
        return
    workers = workers or os.cpu_count() or 1
    limit = memory_limit or int(_machine_memory() * LOCAL_MEMORY_SHARE / workers)
    with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=limit,
                      processes=True, dashboard_address=":0") as cluster, Client(cluster) as client:
        client.register_plugin(_worker_plugin())
        logger.info("local Dask cluster: %d workers, memory limit %s each; dashboard %s",
                    workers, f"{limit / 1e9:.1f} GB" if isinstance(limit, int) else limit,
                    client.dashboard_link)
        yield client
