"""All events of all wallets in one sorted array, and the (wallet, value) pair statistics.

An event is a wallet's own transaction, a transfer it receives, or one of its logins; they
sort by (wallet, timestamp, order), where the order puts logins before transactions at the
same timestamp ("logins with timestamp <= t are known at t") and breaks ties by id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wallet_monitor.features.arrays import sorted_unique
from wallet_monitor.features.params import PAIR_LOOKBACK

KIND_OWN, KIND_IN, KIND_LOGIN = 0, 1, 2


class Events:
    """All events of all wallets in one array, sorted by (wallet, timestamp, order)."""

    def __init__(self, wallet, ts, sub, kind):
        """`sub` orders events of one wallet and timestamp; None: the events are in order
        already (a follower's `WalletLedger`), wallets ascending."""
        self._pair_rank = None
        self.compiled = None  # the kernels, where `assemble` finds they pay (see there)
        if sub is None:
            self.order = None
            self.wallet, self.ts, self.kind = wallet, ts, kind
            self.n = len(ts)
            self._ranks = None  # (uniq, m, key): what the numpy paths search, made on demand
            return
        uniq = sorted_unique(ts)
        m = len(uniq) + 1
        key = wallet * m + np.searchsorted(uniq, ts)
        n_sub = int(sub.max(initial=0)) + 1
        if float(key.max(initial=0) + 1) * n_sub < 2**62:
            order = np.argsort(key * n_sub + sub)  # the composite key is unique: any sort works
        else:
            order = np.lexsort((sub, key))
        self.order = order
        self.wallet = wallet[order]
        self.ts = ts[order]
        self.kind = kind[order]
        self._ranks = uniq, m, key[order]
        self.n = len(order)

    def _ranked(self) -> tuple[np.ndarray, int, np.ndarray]:
        """The distinct timestamps, their count + 1 and each event's wallet * m + rank."""
        if self._ranks is None:
            uniq, rank = _ranks_of_runs(self.ts)
            m = len(uniq) + 1
            self._ranks = uniq, m, self.wallet * m + rank
        return self._ranks

    @property
    def m(self) -> int:
        return self._ranked()[1]

    @property
    def key(self) -> np.ndarray:
        return self._ranked()[2]

    def take(self, values: np.ndarray) -> np.ndarray:
        return values if self.order is None else values[self.order]

    def lo_rank(self, bound: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._ranked()[0], bound, side="left")

    def pair_rank(self) -> np.ndarray:
        """lo_rank(ts - PAIR_LOOKBACK) of every event, computed once for all pair statistics."""
        if self._pair_rank is None:
            self._pair_rank = self.lo_rank(self.ts - PAIR_LOOKBACK.value)
        return self._pair_rank

    def start(self, at: np.ndarray, span: pd.Timedelta) -> np.ndarray:
        """First event position of the same wallet with timestamp >= t - span."""
        if self.compiled is not None:
            return self.compiled.window_starts(self.wallet, self.ts, at, span.value)
        lo = self.lo_rank(self.ts[at] - span.value)
        return np.searchsorted(self.key, self.wallet[at] * self.m + lo, side="left")


def _ranks_of_runs(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of `ts` and each one's index among them (`searchsorted`),
    by one stable sort, which runs of ascending times (one per wallet) make cheap."""
    order = np.argsort(ts, kind="stable")
    s = ts[order]
    first = np.ones(len(s), bool)
    first[1:] = s[1:] != s[:-1]
    rank = np.empty(len(s), np.int64)
    rank[order] = np.cumsum(first) - 1
    return s[first], rank


def pair_stats(ev: Events, valid: np.ndarray, value: np.ndarray, marked=None, read=None):
    """For the events where `valid` (value codes >= 0 there), per event: was the (wallet, value)
    pair unseen in the PAIR_LOOKBACK before it, and since when it is known; with `marked`, also
    whether an earlier marked event of the pair lies in that PAIR_LOOKBACK. `read` (per event;
    None: every event): the events whose "known since" and "marked" are read; the others get 0
    and False, which spares the numpy path the search for their pair's first event in the
    PAIR_LOOKBACK (a follower's batch reads them near its few targets only). Events not valid
    get False, 0 and False."""
    if ev.compiled is not None:
        _, new, known, seen = ev.compiled.pair_stats(
            ev.wallet, ev.ts, valid, value.reshape(1, -1),
            np.zeros(ev.n, bool) if marked is None else marked,
            np.ones(ev.n, bool) if read is None else read, PAIR_LOOKBACK.value)
        return new[0], known[0], seen[0]
    new, known, seen = np.zeros(ev.n, bool), np.zeros(ev.n, np.int64), np.zeros(ev.n, bool)
    rows = np.flatnonzero(valid)
    if len(rows):
        new[rows], known[rows], seen[rows] = _pair_stats_rows(
            ev, rows, value[rows], None if marked is None else marked[rows],
            None if read is None else read[rows])
    return new, known, seen


def access_pairs(ev: Events, access: np.ndarray, names, value_of, block, marked, read):
    """The (wallet, access value) pair statistics of the access family: ns since the wallet's
    first access event in the PAIR_LOOKBACK, per event where `read` (`pair_stats` of `access`
    with one value), and per name of `names` a function giving `pair_stats(ev, access &
    (value >= 0), value, marked, read)` of its values (`value_of(name)`; `block`: the names'
    values as rows of one array, or None). Compiled, all in one call; else one name at a time,
    when asked (a batch's peak memory)."""
    if ev.compiled is not None:
        if block is None:
            block = np.stack([value_of(name) for name in names])
        wallet_known, new, known, seen = ev.compiled.pair_stats(
            ev.wallet, ev.ts, access, block, marked, read, PAIR_LOOKBACK.value)
        rows = {name: q for q, name in enumerate(names)}
        return wallet_known, lambda name: (new[rows[name]], known[rows[name]], seen[rows[name]])
    wallet_known = pair_stats(ev, access, np.zeros(ev.n, np.int64), read=read)[1]

    def stats(name):
        value = value_of(name)
        return pair_stats(ev, access & (value >= 0), value, marked, read)
    return wallet_known, stats


def _pair_stats_rows(ev: Events, rows: np.ndarray, value: np.ndarray, marked, read):
    """`pair_stats` in numpy, on the valid events' positions `rows` (ascending) and their
    values, `marked` and `read`."""
    n = len(rows)
    # rows are already in time order within each wallet, so a stable sort keeps it per pair.
    pair = ev.wallet[rows] * (int(value.max()) + 1) + value
    order = np.argsort(pair, kind="stable")
    p_sorted, r_sorted = pair[order], rows[order]
    ts = ev.ts[r_sorted]
    same_prev = np.zeros(n, bool)
    same_prev[1:] = p_sorted[1:] == p_sorted[:-1]
    dense = np.cumsum(~same_prev)
    prev_ts = np.empty(n, np.int64)
    prev_ts[0] = 0
    prev_ts[1:] = ts[:-1]
    new = np.empty(n, bool)
    new[order] = ~same_prev | (prev_ts < ts - PAIR_LOOKBACK.value)
    known, seen = np.zeros(n, np.int64), np.zeros(n, bool)
    if read is not None and read.all():
        read = None
    at = np.arange(n) if read is None else np.flatnonzero(read[order])  # in pair order
    if not len(at):
        return new, known, seen
    key = dense * ev.m + (ev.key[r_sorted] % ev.m)
    lo = (ev.pair_rank()[r_sorted] if read is None
          else ev.lo_rank(ts[at] - PAIR_LOOKBACK.value))
    first = np.searchsorted(key, dense[at] * ev.m + lo, side="left")
    known[order[at]] = ts[at] - ts[first]
    if marked is not None:
        last = np.maximum.accumulate(np.where(marked[order], np.arange(n), -1))
        prev_marked = np.empty(n, np.int64)
        prev_marked[0] = -1
        prev_marked[1:] = last[:-1]
        seen[order[at]] = prev_marked[at] >= first
    return new, known, seen
