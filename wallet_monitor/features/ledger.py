"""Each wallet's retained events, coded and in context order: a follower's context, unsorted.

`make_context` puts a batch's events in (wallet, time, order) with every batch: it ranks the
transaction and login ids, sorts the whole look-back of the wallets touched, and takes every
per-event value into that order. A follower keeps each wallet's events in that order as they
arrive instead (`WalletLedger.add_transactions` / `add_logins`: one sort of the new events, a
merge only for a wallet whose new events are not all later than its last one), and a batch's
context is its wallets' events laid end to end (`WalletLedger.context`): the same events in the
same order as `make_context` sorts them, read by the same feature families through
`assemble`. Only the events of the wallets that own a target are in it; the events of other
wallets that `make_context` would also sort never reach a target's features.

Order within a wallet: timestamp, then logins before transactions ("logins with timestamp
<= t are known at t"), then the id (transaction ids and login ids by their strings, as
`make_context` ranks them). An event that arrives late is merged into its own wallet only.
"""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from wallet_monitor.features.arrays import rank_strings
from wallet_monitor.features.context import (
    ACCESS,
    Columns,
    Context,
    EventValues,
    assemble,
)
from wallet_monitor.features.events import KIND_IN, KIND_LOGIN, KIND_OWN, Events
from wallet_monitor.features.vocab import WalletFacts

# The fields of a retained event, each a row of a wallet's (len(FIELDS), events) int64 array
# (plain int64 rows concatenate and slice faster than a structured array's fields): seq is the
# arrival number of an own transaction (-1 for other events), by which a batch finds its
# targets; tie is 0 for a login, 1 for a transaction (logins first at one timestamp); amount
# holds the float64's bits.
FIELDS = ("ts", "seq", "amount", "other", "ip", "country", "device", "kind", "type", "tie",
          "success")
TS, SEQ, AMOUNT, OTHER, KIND, TYPE, TIE, SUCCESS = (FIELDS.index(f) for f in (
    "ts", "seq", "amount", "other", "kind", "type", "tie", "success"))
# A wallet's arrays are made this many times the events they hold when they must grow: an append
# is then a copy of the new events only, most batches (memory: at most 2x the ledger's events).
ROOM_GROWTH = 2
_CODED = {"other": "wallet", "ip": "ip", "country": "country", "device": "device"}
# The ACCESS fields are next to each other, in ACCESS' order: one view holds them all.
_ACCESS_ROWS = slice(FIELDS.index("ip"), FIELDS.index("ip") + len(ACCESS))
assert [FIELDS[i] for i in range(len(FIELDS))[_ACCESS_ROWS]] == list(ACCESS)


class WalletLedger:
    """Per wallet code: its events (FIELDS x events, in context order) and their ids (ties)."""

    def __init__(self):
        self.events: dict[int, np.ndarray] = {}
        self.ids: dict[int, np.ndarray] = {}
        # Per wallet: the arrays its events and ids are the first columns of, with room to
        # append in place (a wallet's events are a view of them while the view's base is one).
        self._room: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # (first event's time, wallet) of every wallet, a heap: a bounded eviction finds its
        # oldest wallets without a pass over all of them. Entries go stale when a wallet's first
        # event changes (a fresh one is pushed then) and are skipped when popped.
        self._firsts: list[tuple[int, int]] = []
        self.seq = 0  # the next own transaction's arrival number

    def __len__(self) -> int:
        return sum(e.shape[1] for e in self.events.values())

    def add_transactions(self, tx: pd.DataFrame | dict) -> np.ndarray:
        """Keep prepared, coded transactions (`Vocabulary.code(prepare_transactions(...))`, or
        its columns as arrays: `prepare_transactions(..., arrays=True)`): an own event each, and
        an incoming event for the receiver of a transfer to another wallet. Returns their
        arrival numbers, in the frame's order."""
        w = np.asarray(tx["wallet_id"], dtype=np.int64)
        n = len(w)
        cp = np.asarray(tx["counterparty_wallet_id"], dtype=np.int64)
        tcode = np.asarray(tx["tcode"]).astype(np.int64)
        inc = np.flatnonzero((tcode == 1) & (cp >= 0) & (cp != w))
        rows = np.concatenate([np.arange(n), inc])
        seq = np.arange(self.seq, self.seq + n, dtype=np.int64)
        self.seq += n
        ev = np.empty((len(FIELDS), len(rows)), np.int64)
        ev[TS] = np.asarray(tx["ts"], dtype=np.int64)[rows]
        ev[SEQ, :n], ev[SEQ, n:] = seq, -1
        ev[AMOUNT] = np.asarray(tx["amount"], dtype=np.float64)[rows].view(np.int64)
        ev[OTHER] = np.concatenate([cp, w[inc]])
        for field, col in ACCESS.items():
            ev[FIELDS.index(field), :n] = np.asarray(tx[col], dtype=np.int64)
            ev[FIELDS.index(field), n:] = -1
        ev[KIND, :n], ev[KIND, n:] = KIND_OWN, KIND_IN
        ev[TYPE, :n], ev[TYPE, n:] = tcode, -1
        ev[TIE], ev[SUCCESS] = 1, 0
        ids = np.asarray(tx["transaction_id"], dtype=object)[rows]
        self._add(np.concatenate([w, cp[inc]]), ev, ids, rank_strings(tx["transaction_id"])[rows])
        return seq

    def add_logins(self, lg: pd.DataFrame | dict) -> None:
        """Keep prepared, coded logins (`Vocabulary.code(prepare_logins(...))`, or its columns
        as arrays: `prepare_logins(..., arrays=True)`)."""
        ts = np.asarray(lg["ts"], dtype=np.int64)
        ev = np.empty((len(FIELDS), len(ts)), np.int64)
        ev[TS] = ts
        ev[SEQ] = ev[OTHER] = ev[TYPE] = -1
        ev[AMOUNT] = np.zeros(len(ts)).view(np.int64)
        for field, col in ACCESS.items():
            ev[FIELDS.index(field)] = np.asarray(lg[col], dtype=np.int64)
        ev[KIND], ev[TIE] = KIND_LOGIN, 0
        ev[SUCCESS] = np.asarray(lg["success"]) > 0
        self._add(np.asarray(lg["wallet_id"], dtype=np.int64), ev,
                  np.asarray(lg["login_id"], dtype=object), rank_strings(lg["login_id"]))

    def _add(self, wallet: np.ndarray, ev: np.ndarray, ids: np.ndarray, rank: np.ndarray) -> None:
        if not ev.shape[1]:
            return
        order = np.lexsort((rank, ev[TIE], ev[TS], wallet))
        wallet, ev, ids = wallet[order], ev[:, order], ids[order]
        bounds = np.flatnonzero(np.diff(wallet)) + 1
        starts, ends = np.r_[0, bounds], np.r_[bounds, len(wallet)]
        new_ts = ev[TS].tolist()
        # One step per wallet touched (not per event): append, or merge late events in.
        for w, a, b in zip(wallet[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
            old = self.events.get(w)
            if old is None:
                self.events[w], self.ids[w] = ev[:, a:b], ids[a:b]
                heapq.heappush(self._firsts, (new_ts[a], w))
                continue
            old_ts = old[TS]
            # Events at or after the first new timestamp are put in order again with the new
            # ones (usually none: a batch is later than its wallets' events, but a poll's logins
            # can run ahead of its transactions).
            k = (old.shape[1] if old_ts[-1] < new_ts[a]
                 else int(np.searchsorted(old_ts, new_ts[a], "left")))
            tail, tail_ids = ev[:, a:b], ids[a:b]
            if k < old.shape[1]:
                tail = np.concatenate([old[:, k:], tail], axis=1)
                tail_ids = np.concatenate([self.ids[w][k:], tail_ids])
                _, id_rank = np.unique(tail_ids, return_inverse=True)
                order = np.lexsort((id_rank, tail[TIE], tail[TS]))
                tail, tail_ids = tail[:, order], tail_ids[order]
            self._put(w, old, k, tail, tail_ids)

    def _put(self, w: int, old: np.ndarray, k: int, tail: np.ndarray, tail_ids: np.ndarray):
        """Wallet `w`'s events: `old`'s first k, then `tail` (and so its ids), written in place
        into its arrays' spare room when they have it, else into new arrays with room to grow:
        appending costs the new events, not a copy of the wallet's look-back each batch."""
        n = k + tail.shape[1]
        buf, ibuf = self._room.get(w, (None, None))
        if buf is None or old.base is not buf or buf.shape[1] < n:
            buf, ibuf = self._new_room(w, n)
            buf[:, :k], ibuf[:k] = old[:, :k], self.ids[w][:k]
        buf[:, k:n], ibuf[k:n] = tail, tail_ids
        self.events[w], self.ids[w] = buf[:, :n], ibuf[:n]
        if k == 0:  # a late event before the wallet's first
            heapq.heappush(self._firsts, (int(buf[TS, 0]), w))

    def _new_room(self, w: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """New arrays for wallet `w`'s n events and ids, with room to grow (ROOM_GROWTH)."""
        cap = ROOM_GROWTH * n
        self._room[w] = room = np.empty((len(FIELDS), cap), np.int64), np.empty(cap, object)
        return room

    def evict(self, cutoff_ns: int, most: int | None = None) -> None:
        """Forget the events before `cutoff_ns` (and a wallet left without any). `most`: of at
        most this many wallets, those whose first event is oldest (None: of every wallet), so
        one call's cost is bounded; events left a little past the cutoff meanwhile are outside
        every feature's look-back, so they change no feature. A wallet's events are moved to
        the front of its arrays in place: its room to append is kept."""
        if most is None:
            for w in [w for w, e in self.events.items() if e[TS, 0] < cutoff_ns]:
                self._evict_wallet(w, cutoff_ns)
            self._index_firsts()
            return
        done = 0
        while self._firsts and self._firsts[0][0] < cutoff_ns and done < most:
            first, w = heapq.heappop(self._firsts)
            e = self.events.get(w)
            if e is None or e[TS, 0] != first:
                continue  # stale: the wallet is gone, or its first event changed since
            self._evict_wallet(w, cutoff_ns)
            if w in self.events:
                heapq.heappush(self._firsts, (int(self.events[w][TS, 0]), w))
            done += 1

    def _index_firsts(self) -> None:
        self._firsts = [(int(e[TS, 0]), w) for w, e in self.events.items()]
        heapq.heapify(self._firsts)

    def _evict_wallet(self, w: int, cutoff_ns: int) -> None:
        """Forget wallet `w`'s events before `cutoff_ns` (the wallet, if none is left)."""
        e, ids = self.events[w], self.ids[w]
        n = e.shape[1]
        keep = int(np.searchsorted(e[TS], cutoff_ns, side="left"))
        if keep == n:
            del self.events[w], self.ids[w]
            self._room.pop(w, None)
            return
        m = n - keep
        buf, ibuf = self._room.get(w, (None, None))
        if buf is None or e.base is not buf:
            buf, ibuf = self._new_room(w, m)
            buf[:, :m], ibuf[:m] = e[:, keep:], ids[keep:]
        else:  # the events are buf's first n columns: move the kept ones to its front
            buf[:, :m], ibuf[:m] = buf[:, keep:n], ibuf[keep:n]
            ibuf[m:n] = None  # the ids left behind are not kept alive
        self.events[w], self.ids[w] = buf[:, :m], ibuf[:m]

    def recode(self, remaps: dict[str, np.ndarray]) -> None:
        """Apply `Vocabulary.compact`'s code maps (kind -> old code -> new, [-1] = -1)."""
        for e in self.events.values():
            for field, kind in _CODED.items():
                if kind in remaps:
                    e[FIELDS.index(field)] = remaps[kind][e[FIELDS.index(field)]]
        wallets = remaps.get("wallet")
        if wallets is not None:
            self.events = {int(wallets[w]): e for w, e in self.events.items()}
            self.ids = {int(wallets[w]): i for w, i in self.ids.items()}
            self._room = {int(wallets[w]): r for w, r in self._room.items()}
            self._index_firsts()

    def context(self, wallets: np.ndarray, seq: np.ndarray, facts: WalletFacts, cols: Columns,
                country_vocab: np.ndarray, logins: bool) -> Context:
        """The context of the targets with arrival numbers `seq` (the last transactions added,
        in order), whose wallets are `wallets` (unique, ascending); `logins`: a logins input is
        followed (else the login features are filled neutrally, as `build_features` does)."""
        parts = [self.events[w] for w in wallets.tolist()]
        ev = np.concatenate(parts, axis=1)
        wallet = np.repeat(wallets.astype(np.int64), [p.shape[1] for p in parts])
        kind = ev[KIND].astype(np.int8)
        events = Events(wallet, ev[TS], None, kind)
        at = np.flatnonzero(ev[SEQ] >= seq[0])
        P_target = np.empty(len(seq), np.int64)
        P_target[ev[SEQ, at] - seq[0]] = at
        values = EventValues(ev[OTHER], {name: ev[FIELDS.index(name)] for name in ACCESS},
                             ev[SUCCESS].astype(bool) if logins else None, ev[_ACCESS_ROWS])
        return assemble(events, P_target, ev[TYPE].astype(np.int8), ev[AMOUNT].view(np.float64),
                        values, facts, cols, country_vocab)
