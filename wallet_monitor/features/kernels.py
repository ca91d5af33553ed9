"""The features' hot loops compiled with numba, when numba is there.

`kernels()` returns the compiled kernels, or None where numba is missing, cannot compile them,
or `WALLET_MONITOR_NO_NUMBA=1` is set; the callers then run their numpy path. Each kernel gives
exactly what its numpy path gives (integers and flags only: the float formulas stay in numpy, in
`families.py`), so batch and streaming, compiled or not, give the same features
(tests/features/test_kernels.py). A follower's batch reads a few targets in a context of
thousands of events: a compiled loop reads only the events its targets' windows hold, where the
numpy path pays a pass over every event per sum. numba is imported on first use, never at import
time, and the compiled code is cached on disk (`cache=True`).
"""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import numpy as np

logger = logging.getLogger(__name__)

# Set to 1 to run the numpy paths even where numba is installed (a comparison, a broken install).
DISABLE_ENV = "WALLET_MONITOR_NO_NUMBA"
_KERNELS: list = []  # [the compiled kernels or None], filled on first use


def kernels() -> SimpleNamespace | None:
    """The compiled kernels (`window_sums`, `pair_stats`), or None."""
    if not _KERNELS:
        _KERNELS.append(None if os.environ.get(DISABLE_ENV) == "1" else _compile())
    return _KERNELS[0]


def _compile() -> SimpleNamespace | None:
    try:
        import numba
    except ImportError:
        return None
    jit = numba.njit(cache=True, nogil=True)

    @jit
    def window_sums(values, start, end):  # pragma: no cover - jit
        """sum(values[start[i]:end[i]]) per i: the windows' own events when they hold fewer
        than all events, else one cumulative pass (a batch's targets are all its events)."""
        n_out = len(start)
        out = np.zeros(n_out, np.int64)
        total = 0
        for i in range(n_out):
            total += end[i] - start[i]
        if total <= len(values):
            for i in range(n_out):
                acc = 0
                for j in range(start[i], end[i]):
                    acc += values[j]
                out[i] = acc
            return out
        cs = np.zeros(len(values) + 1, np.int64)
        for j in range(len(values)):
            cs[j + 1] = cs[j] + values[j]
        for i in range(n_out):
            out[i] = cs[end[i]] - cs[start[i]]
        return out

    @jit
    def pair_stats(pair, ts, marked, read, span):  # pragma: no cover - jit
        """events.pair_stats on rows already in event order: per row, new (the pair unseen in
        the `span` before it), known (ns since the pair's first row in that span) and seen (an
        earlier marked row of the pair in it), the last two only where `read`."""
        n = len(pair)
        order = np.argsort(pair, kind="mergesort")  # stable: time order within a pair
        new = np.zeros(n, np.bool_)
        known = np.zeros(n, np.int64)
        seen = np.zeros(n, np.bool_)
        first = 0
        last_marked = -1
        for i in range(n):
            r = order[i]
            if i == 0 or pair[order[i - 1]] != pair[r]:
                first, last_marked = i, -1
                new[r] = True
            else:
                new[r] = ts[order[i - 1]] < ts[r] - span
            while ts[order[first]] < ts[r] - span:
                first += 1
            if read[r]:
                known[r] = ts[r] - ts[order[first]]
                seen[r] = last_marked >= first
            if marked[r]:
                last_marked = i
        return new, known, seen

    try:  # compile (or load from the cache) now, so a failure falls back here, not mid-stream
        i64, b = np.zeros(1, np.int64), np.zeros(1, np.bool_)
        window_sums(i64, i64, i64 + 1)
        window_sums(b, i64, i64 + 1)
        pair_stats(i64, i64, b, b, 1)
    except Exception as exc:  # noqa: BLE001 - any numba failure means: the numpy paths
        logger.warning("numba could not compile the feature kernels (%s); using numpy", exc)
        return None
    return SimpleNamespace(window_sums=window_sums, pair_stats=pair_stats)
