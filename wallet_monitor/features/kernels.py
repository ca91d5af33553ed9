"""The features' hot loops compiled with numba, when numba is there.

`kernels()` returns the compiled kernels, or None where numba is missing, cannot compile them,
or `WALLET_MONITOR_NO_NUMBA=1` is set; the callers then run their numpy path. Each kernel gives
exactly what its numpy path gives (counts, fixed-point sums, positions, flags and maxima, no float
arithmetic: the formulas stay in numpy, in `families.py`), so batch and streaming, compiled or not, give the same features
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
# Window sums and maxima scan their windows' events while these hold at most this many times all
# events (a follower's few targets); past it (a batch's look-backs) one cumulative pass, or the
# sparse table's log n passes, cost less.
SCAN_LIMIT = 4
HASH_MULT = 2_654_435_761  # Knuth's multiplicative hash: spreads nearby codes over the table


def kernels() -> SimpleNamespace | None:
    """The compiled kernels (`window_sums`, `type_sums`, `window_max`, `last_before`, `pair_stats`,
    `window_starts`, `located_steps`: `_KERNELS_PY` compiled), or None."""
    if not _KERNELS:
        _KERNELS.append(None if os.environ.get(DISABLE_ENV) == "1" else _compile())
    return _KERNELS[0]


def _compile() -> SimpleNamespace | None:
    try:
        import numba
    except ImportError:
        return None
    try:  # compile (or load from the cache) now, so a failure falls back here, not mid-stream
        jit = numba.njit(cache=True, nogil=True)  # raises where no cache folder is writable
        compiled = SimpleNamespace(**{f.__name__[1:]: jit(f) for f in _KERNELS_PY})
        i64, b, f64 = np.zeros(1, np.int64), np.zeros(1, np.bool_), np.zeros(1)
        for values, where in ((i64, b), (b, b), (i64, i64)):
            compiled.window_sums(values, where, i64, i64 + 1)
        compiled.type_sums(b, np.zeros(1, np.int8), 3, i64, i64, i64 + 1)
        compiled.window_max(f64, b, i64, i64 + 1)
        compiled.last_before(b, i64, i64)
        compiled.pair_stats(i64, i64, b, np.zeros((1, 1), np.int64), b, b, 1)
        compiled.window_starts(i64, i64, i64, 1)
        compiled.located_steps(b, i64, i64, i64)
    except Exception as exc:  # noqa: BLE001 - any numba failure means: the numpy paths
        logger.warning("numba could not compile the feature kernels (%s); using numpy", exc)
        return None
    return compiled


def _window_sums(values, where, start, end):  # pragma: no cover - jit
    """sum(values[j] for j in start[i]:end[i] where where[j]) per i: the windows' own
    events while they hold at most SCAN_LIMIT times all events, else one cumulative pass (a
    batch's targets are all its events)."""
    n_out = len(start)
    out = np.zeros(n_out, np.int64)
    total = 0
    for i in range(n_out):
        total += end[i] - start[i]
    if total <= SCAN_LIMIT * len(values):
        for i in range(n_out):
            a, b, acc = start[i], start[i], 0
            # A window sliding on from the last one (a wallet's next target) is the last sum
            # with what left it taken off and what entered it added.
            if i and start[i - 1] <= start[i] <= end[i - 1] <= end[i]:
                a, b, acc = start[i - 1], end[i - 1], out[i - 1]
            for j in range(a, start[i]):
                if where[j]:
                    acc -= values[j]
            for j in range(b, end[i]):
                if where[j]:
                    acc += values[j]
            out[i] = acc
        return out
    cs = np.zeros(len(values) + 1, np.int64)
    for j in range(len(values)):
        cs[j + 1] = cs[j] + values[j] if where[j] else cs[j]
    for i in range(n_out):
        out[i] = cs[end[i]] - cs[start[i]]
    return out


def _type_sums(own, type_e, n_types, values, start, end):  # pragma: no cover - jit
    """Per i, the wallet's own events j in start[i]:end[i] counted and their values summed, all
    of them (row 0) and per type (row 1 + type_e[j], where type_e[j] >= 0): what `_window_sums`
    gives with `own` and each type's mask as `where`, from one scan for every row (see
    SCAN_LIMIT)."""
    n_out = len(start)
    counts = np.zeros((n_types + 1, n_out), np.int64)
    sums = np.zeros((n_types + 1, n_out), np.int64)
    total = 0
    for i in range(n_out):
        total += end[i] - start[i]
    if total > SCAN_LIMIT * len(values):
        c_cs = np.zeros((n_types + 1, len(values) + 1), np.int64)
        s_cs = np.zeros((n_types + 1, len(values) + 1), np.int64)
        for j in range(len(values)):
            for k in range(n_types + 1):
                c_cs[k, j + 1], s_cs[k, j + 1] = c_cs[k, j], s_cs[k, j]
            if own[j]:
                c_cs[0, j + 1] += 1
                s_cs[0, j + 1] += values[j]
                if type_e[j] >= 0:
                    c_cs[type_e[j] + 1, j + 1] += 1
                    s_cs[type_e[j] + 1, j + 1] += values[j]
        for i in range(n_out):
            for k in range(n_types + 1):
                counts[k, i] = c_cs[k, end[i]] - c_cs[k, start[i]]
                sums[k, i] = s_cs[k, end[i]] - s_cs[k, start[i]]
        return counts, sums
    for i in range(n_out):
        a, b = start[i], start[i]
        # A window sliding on from the last one: the last counts and sums, what left it taken
        # off and what entered it added.
        if i and start[i - 1] <= start[i] <= end[i - 1] <= end[i]:
            a, b = start[i - 1], end[i - 1]
            for k in range(n_types + 1):
                counts[k, i], sums[k, i] = counts[k, i - 1], sums[k, i - 1]
        for j in range(a, start[i]):
            if own[j]:
                counts[0, i] -= 1
                sums[0, i] -= values[j]
                if type_e[j] >= 0:
                    counts[type_e[j] + 1, i] -= 1
                    sums[type_e[j] + 1, i] -= values[j]
        for j in range(b, end[i]):
            if own[j]:
                counts[0, i] += 1
                sums[0, i] += values[j]
                if type_e[j] >= 0:
                    counts[type_e[j] + 1, i] += 1
                    sums[type_e[j] + 1, i] += values[j]
    return counts, sums


def _window_max(values, where, start, end):  # pragma: no cover - jit
    """max(values[j] for j in start[i]:end[i] where where[j]) per i, -inf when none: a
    scan of the windows' events (see SCAN_LIMIT)."""
    n_out = len(start)
    out = np.full(n_out, -np.inf)
    last_at = -1  # where the last window's maximum is (-1: none of its events counted)
    for i in range(n_out):
        b, at = start[i], -1
        # A window sliding on from the last one that still holds the last maximum (or the last
        # held no event): that maximum, then the events that entered.
        if (i and start[i - 1] <= start[i] <= end[i - 1] <= end[i]
                and (last_at < 0 or last_at >= start[i])):
            b, out[i], at = end[i - 1], out[i - 1], last_at
        for j in range(b, end[i]):
            # A NaN stays the maximum, as np.maximum keeps it (the loaders refuse NaN amounts;
            # build_features' callers might not).
            if where[j] and (values[j] > out[i] or values[j] != values[j]):
                out[i], at = values[j], j
        last_at = at
    return out


def _last_before(mask, wallet, at):  # pragma: no cover - jit
    """The last event j < i with mask[j] in i's wallet, per i in `at` (ascending); -1 if
    none: arrays.last_before in one pass up to the last of `at`."""
    out = np.full(len(at), -1, np.int64)
    last, j = -1, 0
    for i in range(len(at)):
        while j < at[i]:
            if mask[j]:
                last = j
            j += 1
        if last >= 0 and wallet[last] == wallet[at[i]]:
            out[i] = last
    return out


def _pair_stats(wallet, ts, valid, values, marked, read, span):  # pragma: no cover - jit
    """events.pair_stats of every row of `values` (events in order: wallets in runs, time
    order within one; valid: `valid` and the value >= 0; the same `marked` and `read`): per
    event, new (the pair unseen in the `span` before it), known (ns since the pair's first event
    in that span) and seen (an earlier marked event of the pair in it), the last two only where
    `read`; False and 0 elsewhere. Also the wallet's own "known" (the same of `valid` with one
    value). No sort: a pass per row, each pair's events chained, its latest, first-in-span and
    latest marked event in a small hash table of the wallet's values, emptied when the wallet
    changes (a table at a time stays in cache); a pair's first event in the span is looked for
    only where `read`."""
    n, rows = values.shape[1], values.shape[0]
    longest, run = 0, 0
    for r in range(n):
        run = run + 1 if r and wallet[r] == wallet[r - 1] else 1
        longest = max(longest, run)
    cap = 2
    while cap < 2 * longest:
        cap *= 2
    key = np.full(cap, -1, np.int64)  # the value a slot holds (values are >= 0)
    last = np.empty(cap, np.int64)  # the pair's latest row
    first = np.empty(cap, np.int64)  # the pair's first row in the span (as of its last read)
    marked_at = np.empty(cap, np.int64)  # the pair's latest marked row, -1 none
    used = np.empty(max(longest, 1), np.int64)  # the slots filled for this wallet
    nxt = np.empty(n, np.int64)  # the pair's next row after each row (this pass's pairs)
    new = np.zeros((rows, n), np.bool_)
    known = np.zeros((rows, n), np.int64)
    seen = np.zeros((rows, n), np.bool_)
    wallet_known = np.zeros(n, np.int64)
    w_first = -1  # the wallet's first valid event in the span
    for r in range(n):
        if r and wallet[r] != wallet[r - 1]:
            w_first = -1
        if not valid[r]:
            continue
        if w_first < 0:
            w_first = r
        while ts[w_first] < ts[r] - span or not valid[w_first]:
            w_first += 1
        if read[r]:
            wallet_known[r] = ts[r] - ts[w_first]
    for q in range(rows):
        n_used, h = 0, 0
        for r in range(n + 1):
            if r == n or (r and wallet[r] != wallet[r - 1]):
                for u in range(n_used):
                    key[used[u]] = -1
                n_used = 0
                if r == n:
                    break
            v = values[q, r]
            if not valid[r] or v < 0:
                continue
            if key[h] != v:  # a wallet's events mostly repeat the last value: no hash then
                h = (v * HASH_MULT) & (cap - 1)
                while key[h] != -1 and key[h] != v:
                    h = (h + 1) & (cap - 1)
            lo = ts[r] - span
            if key[h] == -1:
                key[h], first[h], marked_at[h] = v, r, -1
                used[n_used] = h
                n_used += 1
                new[q, r] = True
            else:
                nxt[last[h]] = r
                new[q, r] = ts[last[h]] < lo
                if read[r]:
                    f = first[h]
                    while ts[f] < lo:
                        f = nxt[f]
                    first[h] = f
            last[h] = r
            if read[r]:
                known[q, r] = ts[r] - ts[first[h]]
                seen[q, r] = marked_at[h] >= first[h]
            if marked[r]:
                marked_at[h] = r
    return wallet_known, new, known, seen


def _window_starts(wallet, ts, at, span):  # pragma: no cover - jit
    """Per i in `at`: the first event of its wallet with timestamp >= ts[i] - span (events
    sorted by wallet, then time): Events.start by two binary searches, no ranks; where `at`
    goes on forward in the same wallet (every event of a mask, in order), from the previous
    start on, which only moves forward: one pass over the wallet's events, not a search each."""
    out = np.empty(len(at), np.int64)
    prev = -1
    for i in range(len(at)):
        a = at[i]
        if prev >= 0 and prev <= a and wallet[prev] == wallet[a]:
            lo = out[i - 1]
            bound = ts[a] - span
            while ts[lo] < bound:
                lo += 1
            out[i] = lo
            prev = a
            continue
        prev = a
        lo, hi = 0, a  # the wallet's first event
        while lo < hi:
            mid = (lo + hi) // 2
            if wallet[mid] < wallet[a]:
                lo = mid + 1
            else:
                hi = mid
        bound = ts[a] - span
        hi = a
        while lo < hi:
            mid = (lo + hi) // 2
            if ts[mid] < bound:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo
    return out


def _located_steps(access, country, wallet, at):  # pragma: no cover - jit
    """geo._located_steps in one pass up to the last of `at` (ascending): per i in `at`, its
    wallet's last located event (access, country >= 0) before it, and the last located event
    before the run of located events in at[i]'s country that at[i] ends; -1 where none."""
    prev = np.full(len(at), -1, np.int64)
    before = np.full(len(at), -1, np.int64)
    last, run_prev, j = -1, -1, 0
    for i in range(len(at)):
        a = at[i]
        while j < a:
            if j and wallet[j] != wallet[j - 1]:
                last, run_prev = -1, -1
            if access[j] and country[j] >= 0:
                if last >= 0 and country[j] != country[last]:
                    run_prev = last
                last = j
            j += 1
        if last >= 0 and wallet[last] == wallet[a]:
            prev[i] = last
            before[i] = run_prev if country[last] == country[a] else last
    return prev, before


# The kernels as plain Python, compiled by `_compile` (never run uncompiled: too slow).
_KERNELS_PY = (_window_sums, _type_sums, _window_max, _last_before, _pair_stats,
               _window_starts, _located_steps)
