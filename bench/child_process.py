"""Run one benchmark step in a fresh process, so its peak memory is its own (bench_model and
bench_backfill measure each step this way)."""

from __future__ import annotations

import multiprocessing as mp
import resource


def run(target, *args) -> dict:
    """`target(*args)` (a dict, or None for an empty one) run in a spawned process, with
    `peak_rss_kb` added: that process's peak resident memory."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _child(target, args, queue) -> None:
    result = target(*args) or {}
    result["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(result)
