"""The window context every feature family reads: events sorted once, targets located in them,
window starts found once.

Sums run on fixed-point integers (amounts in 1/100 cent, log amounts scaled by 2^28), so a
window sum is exact and a row's value does not depend on how much older history was loaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wallet_monitor.features.arrays import (
    NAT,
    NS_PER_H,
    codes,
    csum,
    last_before,
    rank_strings,
    text,
    window_max,
)
from wallet_monitor.features.events import KIND_LOGIN, KIND_OWN, Events
from wallet_monitor.features.kernels import SCAN_LIMIT, kernels
from wallet_monitor.features.params import LOOKBACK, MIN_RATE_SPAN, WINDOWS
from wallet_monitor.features.vocab import Vocabulary, WalletFacts, table_facts
from wallet_monitor.schema import TX_TYPES

logger = logging.getLogger(__name__)

AMOUNT_SCALE = 10_000  # window sums run on amounts in 1/100 cent, as exact int64
AMOUNT_MAX = 1e11  # amounts are capped here so their fixed-point sums cannot overflow
LOG_SCALE = float(1 << 28)  # log amounts as exact int64 (error < 4e-9)
# The access values of an event, and the prepared column each is read from.
ACCESS = {"ip": "ip_address", "country": "country", "device": "device_id"}
# The feature kernels run where the targets are at most this share of the context's events.
COMPILED_MAX_SHARE = 0.1
FINITE_BLOCK = 16  # columns zeroed of NaN/inf per call: the mask stays 16 bytes per target

_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log a warning the first time this process sees it (streaming scores many batches)."""
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


@dataclass(frozen=True)
class Columns:
    """Which optional columns and files the input has; decided by the files' columns, never
    by which rows happen to be loaded, so batch and streaming fill the same way."""

    counterparty: bool
    country: bool
    device: bool
    logins: bool
    wallets: bool
    home: bool
    login_columns: frozenset[str]

    @classmethod
    def of(cls, tx_columns, login_columns, wallets) -> Columns:
        return cls(
            counterparty="counterparty_wallet_id" in tx_columns,
            # Without a country column, the features locate each ip_address (features.geoip).
            country="country" in tx_columns or "ip_address" in tx_columns,
            device="device_id" in tx_columns,
            logins=login_columns is not None,
            wallets=wallets is not None,
            home=wallets is not None and "home_country" in wallets.columns,
            login_columns=frozenset(login_columns or ()),
        )

    def log_missing(self) -> None:
        gaps = []
        if not self.counterparty:
            gaps.append(
                "no counterparty_wallet_id: incoming transfers, counterparty_new, "
                "new_counterparties_24h_log, new_counterparties_1h_vs_rate set to 0 "
                "(inflow counts deposits only)"
            )
        if not self.country:
            gaps.append(
                "no transaction country or ip_address: country_new, country_changed, travel_speed_log, "
                "country_not_home, country_known_days_log set to 0"
            )
        if not self.device:
            gaps.append(
                "no device_id: device_new, device_known_days_log, amount_out_new_device_log set "
                "to 0; new_place_new_device counts a new IP or country on any device"
            )
        if not self.logins:
            gaps.append("no logins: login features (failed/success logins, login_unseen) set to 0")
        if not self.wallets:
            gaps.append("no wallets table: wallet_age_days_log 0, kyc_verified 0.5 (unknown)")
        elif not self.home:
            gaps.append("no home_country: country_not_home set to 0")
        for gap in gaps:
            warn_once(f"features not computable, filled neutrally: {gap}")


@dataclass
class Context:
    """Events of the context in (wallet, time, order) and the targets' positions among them.

    `P` are the targets' event positions in event order (sorted queries keep searchsorted
    cache friendly); `perm` puts rows back in the targets' order. Per-event arrays have
    `ev.n` entries, per-target arrays `len(P)`.
    """

    ev: Events
    cols: Columns
    P: np.ndarray
    perm: np.ndarray
    t: np.ndarray  # target timestamps (ns)
    w: np.ndarray  # target wallet codes
    kind: np.ndarray  # per event: KIND_OWN, KIND_IN or KIND_LOGIN
    own: np.ndarray  # per event: the wallet's own transaction
    type_e: np.ndarray  # per event: index into TX_TYPES, -1 for incoming and logins
    is_type: dict[str, np.ndarray]
    amount: np.ndarray | None  # per event, USD (0 for logins); freed before the access family
    amt_fx: np.ndarray | None  # per event, fixed point
    s1: np.ndarray  # first event position of each target's 1 h window
    s24: np.ndarray
    sL: np.ndarray | None  # ... of its LOOKBACK
    age_ns: np.ndarray  # per target: wallet age at the transaction
    span_h: np.ndarray  # per target: hours over which the wallet's usual rates are measured
    kyc_w: np.ndarray  # per target: 1 verified, 0 not, 0.5 unknown
    home_w: np.ndarray  # per target: home country code, -1 unknown
    values: EventValues | RowValues  # per event: the other wallet, access codes, login success
    country_vocab: np.ndarray

    @property
    def n_out(self) -> int:
        return len(self.P)

    def other(self) -> np.ndarray:
        """Per event: the other wallet (an own transfer's counterparty, an incoming transfer's
        sender; -1 none or a login)."""
        return self.values.other()

    def access(self, name: str) -> np.ndarray:
        """Per event: the code of its IP, country or device (ACCESS; -1 missing, incoming)."""
        return self.values.access(name)

    def success(self) -> np.ndarray | None:
        """Per event: a successful login; None without a logins input."""
        return self.values.success()

    def wsum(self, values: np.ndarray, start: np.ndarray, inclusive: bool,
             where: np.ndarray | None = None) -> np.ndarray:
        """Sum of per-event `values` (int64 or bool; with `where`, only where it is True) from
        `start` up to the target (with it if `inclusive`)."""
        return self.wsums(values, [(start, inclusive)], where)[0]

    def wsums(self, values: np.ndarray, windows: list[tuple[np.ndarray, bool]],
              where: np.ndarray | None = None) -> list[np.ndarray]:
        """`wsum` over several (start, inclusive) windows of the same values: the numpy path
        makes one cumulative sum for all of them."""
        ends = [self.P + 1 if inclusive else self.P for _, inclusive in windows]
        compiled = self.ev.compiled
        if compiled is not None:
            return [compiled.window_sums(values, values if where is None else where, start, end)
                    for (start, _), end in zip(windows, ends, strict=True)]
        if where is not None:
            values = np.where(where, values, 0)
        cs = csum(values.astype(np.int64) if values.dtype == bool else values)
        return [cs[end] - cs[start] for (start, _), end in zip(windows, ends, strict=True)]

    def type_sums(self, values: np.ndarray, windows: list[tuple[np.ndarray, bool]],
                  counts: bool = True) -> list[tuple[np.ndarray | None, np.ndarray]]:
        """Per (start, inclusive) window: the wallet's own transactions in it counted and their
        int64 `values` summed, per row (`[row]`) an array of the targets': row 0 all of them, row 1 + i those of
        type TX_TYPES[i] (`wsum` with `own` and with each type's mask as `where`; counts None
        without `counts`). Compiled, one scan per window for every row."""
        compiled = self.ev.compiled
        if compiled is not None:
            out = []
            for start, inclusive in windows:
                c, s = compiled.type_sums(self.own, self.type_e, len(TX_TYPES), values, start,
                                          self.P + 1 if inclusive else self.P)
                out.append((c if counts else None, s))
            return out
        # Lists of rows (a batch's targets are its events: no stacked copies).
        masks = [self.own, *(self.is_type[name] for name in TX_TYPES)]
        c = [self.wsums(m, windows) for m in masks] if counts else None
        s = [self.wsums(values, windows, m) for m in masks]
        return [(None if c is None else [ci[w] for ci in c], [si[w] for si in s])
                for w in range(len(windows))]

    def wmax(self, values: np.ndarray, where: np.ndarray, start: np.ndarray,
             end: np.ndarray | None = None) -> np.ndarray:
        """Largest per-event `values` where `where`, from `start` up to the target (without
        it; with `end`, up to that event position, without it); -inf when none."""
        end = self.P if end is None else end
        compiled = self.ev.compiled
        if compiled is not None and (end - start).sum() <= SCAN_LIMIT * self.ev.n:
            return compiled.window_max(values, where, start, end)
        pos = np.flatnonzero(where)
        return window_max(values[pos], np.searchsorted(pos, start), np.searchsorted(pos, end))

    def last_before(self, mask: np.ndarray) -> np.ndarray:
        """Per target: its wallet's last event before it with `mask`; -1 if none."""
        compiled = self.ev.compiled
        if compiled is not None:
            return compiled.last_before(mask, self.ev.wallet, self.P)
        return last_before(mask, self.ev.wallet, self.P)

    def in_windows(self, start: np.ndarray) -> np.ndarray:
        """Per event: whether it lies from `start` up to a target (inclusive) for some target."""
        n = self.ev.n + 1
        edges = np.bincount(start, minlength=n) - np.bincount(self.P + 1, minlength=n)
        return np.cumsum(edges[:-1]) > 0

    def window_start(self, span: pd.Timedelta) -> np.ndarray:
        return self.ev.start(self.P, span)

    def release_amounts(self) -> None:
        """Free what only the amount families read before the (wallet, value) pair sorts of the
        access family, which set the peak memory."""
        self.amount = self.amt_fx = self.sL = None


def make_context(tx: pd.DataFrame, tgt_rows: np.ndarray, lg: pd.DataFrame | None, wallets,
                 cols: Columns, vocab: Vocabulary | None = None) -> Context:
    """Sort the context's events once and locate the targets among them. With `vocab`, the
    frames' wallet, country, IP and device columns are its codes (`Vocabulary.code`)."""
    n_tx = len(tx)
    n_lg = 0 if lg is None else len(lg)
    if vocab is None:
        w_own, w_cp, w_lg, access_codes, country_vocab, facts = _code_strings(tx, lg, wallets,
                                                                              cols)
    else:
        def coded(frame, col):
            return (np.zeros(0, np.int64) if frame is None
                    else frame[col].to_numpy(dtype=np.int64))
        w_own, w_cp, w_lg = coded(tx, "wallet_id"), coded(tx, "counterparty_wallet_id"), \
            coded(lg, "wallet_id")
        access_codes = {name: (coded(tx, col), coded(lg, col)) for name, col in ACCESS.items()}
        country_vocab, facts = vocab.names("country"), vocab.wallet_facts()

    # Incoming transfers: a transfer's receiving wallet sees it as an inflow event.
    tcode = tx["tcode"].to_numpy()
    incoming = np.flatnonzero((tcode == 1) & (w_cp >= 0) & (w_cp != w_own))
    n_in = len(incoming)
    tid_rank = rank_strings(tx["transaction_id"])
    lid_rank = rank_strings(lg["login_id"]) if lg is not None else np.zeros(0, np.int64)
    kind = np.concatenate([np.zeros(n_tx, np.int8), np.ones(n_in, np.int8),
                           np.full(n_lg, 2, np.int8)])
    # Logins at the same timestamp come first ("logins with timestamp <= t" are known at t).
    sub = np.concatenate([n_lg + tid_rank, n_lg + tid_rank[incoming], lid_rank])
    tx_ts = tx["ts"].to_numpy()
    lts = lg["ts"].to_numpy() if lg is not None else np.zeros(0, np.int64)
    ev = Events(np.concatenate([w_own, w_cp[incoming], w_lg]),
                np.concatenate([tx_ts, tx_ts[incoming], lts]), sub, kind)
    del sub, kind
    src = ev.take(np.concatenate([np.arange(n_tx), incoming, np.arange(n_lg)]))
    k = ev.kind
    own = k == KIND_OWN
    pos_of_tx = np.empty(n_tx, np.int64)
    pos_of_tx[src[own]] = np.flatnonzero(own)
    amount_tx = tx["amount"].to_numpy()
    amount = np.where(k == KIND_LOGIN, 0.0, amount_tx[np.where(k == KIND_LOGIN, 0, src)])
    type_e = np.full(ev.n, -1, np.int8)
    type_e[own] = tcode[src[own]]
    values = RowValues(ev, src, w_own, w_cp, incoming, n_lg, access_codes,
                       None if lg is None else lg["success"].to_numpy())
    return assemble(ev, pos_of_tx[tgt_rows], type_e, amount, values, facts, cols, country_vocab)


def assemble(ev: Events, P_target: np.ndarray, type_e: np.ndarray, amount: np.ndarray,
             values: EventValues | RowValues, facts: WalletFacts, cols: Columns,
             country_vocab: np.ndarray) -> Context:
    """The context of events `ev` (sorted) and the targets at positions `P_target` (in the
    targets' order), from per-event transaction types (-1: not an own transaction) and amounts
    (0 for logins): what `make_context` and a follower's `WalletLedger` both end with."""
    # The compiled kernels where the targets are few among the events (a follower's batch):
    # there they read the targets' windows instead of every event. Where most events are targets
    # (a batch) the numpy passes do the same work, without numba's import and memory.
    if len(P_target) <= COMPILED_MAX_SHARE * ev.n:
        ev.compiled = kernels()
    k = ev.kind
    own = k == KIND_OWN
    perm = np.argsort(P_target, kind="stable")
    P = P_target[perm]
    t = ev.ts[P]
    w = ev.wallet[P]
    amount = np.minimum(amount, AMOUNT_MAX)
    sL = ev.start(P, LOOKBACK)
    age_ns, span_h = _target_facts(facts, t, w)
    return Context(
        ev=ev, cols=cols, P=P, perm=perm, t=t, w=w, kind=k, own=own, type_e=type_e,
        # type_e is -1 but for own transactions: a type's events are own ones.
        is_type={name: type_e == i for i, name in enumerate(TX_TYPES)},
        amount=amount, amt_fx=np.round(amount * AMOUNT_SCALE).astype(np.int64),
        s1=ev.start(P, WINDOWS["1h"]), s24=ev.start(P, WINDOWS["24h"]), sL=sL,
        age_ns=age_ns, span_h=span_h, kyc_w=facts.kyc[w], home_w=facts.home[w],
        values=values, country_vocab=country_vocab,
    )


class RowValues:
    """`Context.values` of a context built from transaction and login rows: each per-event
    array is taken into event order when a family asks for it (one at a time at peak memory)."""

    def __init__(self, ev: Events, src, w_own, w_cp, incoming, n_lg, access_codes, success):
        self.ev, self.src, self.w_own, self.w_cp = ev, src, w_own, w_cp
        self.incoming, self.n_lg, self.access_codes, self.login_success = (
            incoming, n_lg, access_codes, success)

    def _cat(self, own, inc, login) -> np.ndarray:
        return self.ev.take(np.concatenate([own, inc, login]))

    def other(self) -> np.ndarray:
        return self._cat(self.w_cp, self.w_own[self.incoming], np.full(self.n_lg, -1, np.int64))

    def access(self, name: str) -> np.ndarray:
        v_tx, v_lg = self.access_codes[name]
        return self._cat(v_tx, np.full(len(self.incoming), -1, np.int64), v_lg)

    def access_block(self) -> None:
        return None  # the access values are taken into event order one at a time

    def success(self) -> np.ndarray | None:
        if self.login_success is None:
            return None
        is_login = self.ev.kind == KIND_LOGIN
        out = np.zeros(self.ev.n, bool)
        out[is_login] = self.login_success[self.src[is_login]] > 0
        return out


@dataclass
class EventValues:
    """`Context.values` held per event already (a follower's `WalletLedger`)."""

    other_e: np.ndarray
    access_e: dict[str, np.ndarray]
    success_e: np.ndarray | None
    block: np.ndarray | None = None  # the ACCESS values as the rows of one array, if they are

    def access_block(self) -> np.ndarray | None:
        return self.block

    def other(self) -> np.ndarray:
        return self.other_e

    def access(self, name: str) -> np.ndarray:
        return self.access_e[name]

    def success(self) -> np.ndarray | None:
        return self.success_e


def _code_strings(tx: pd.DataFrame, lg: pd.DataFrame | None, wallets, cols: Columns):
    """The context's strings as codes over vocabularies of this context alone: wallet codes
    (own, counterparty, login), the access codes, the country names and the wallet facts."""
    empty = pd.Series([], dtype="string[pyarrow]")
    w_own, w_cp, w_lg, w_tab, wallet_vocab = codes(
        tx["wallet_id"],
        tx["counterparty_wallet_id"],
        lg["wallet_id"] if lg is not None else empty,
        wallets["wallet_id"] if wallets is not None else empty,
    )
    c_tx, c_lg, c_home, country_vocab = codes(
        tx["country"],
        lg["country"] if lg is not None else empty,
        text(wallets, "home_country", 0, upper=True) if cols.home else empty,
    )
    ip_tx, ip_lg, _ = codes(tx["ip_address"], lg["ip_address"] if lg is not None else empty)
    dv_tx, dv_lg, _ = codes(tx["device_id"], lg["device_id"] if lg is not None else empty)
    access = {"ip": (ip_tx, ip_lg), "country": (c_tx, c_lg), "device": (dv_tx, dv_lg)}
    facts = table_facts(wallets, w_tab, len(wallet_vocab), c_home)
    return w_own, w_cp, w_lg, access, country_vocab, facts


def _target_facts(facts: WalletFacts, t, w):
    """Per target: wallet age, and the span its usual rates are measured over."""
    reg_w = facts.reg[w]
    listed = reg_w != NAT
    if listed.all():
        age_ns = t - reg_w
    else:
        fill = t if facts.fill is None else np.int64(facts.fill)
        age_ns = np.where(listed, t - reg_w, t - fill)
    span_ns = np.where(listed, age_ns, LOOKBACK.value)
    span_h = np.clip(span_ns, MIN_RATE_SPAN.value, LOOKBACK.value) / NS_PER_H
    return age_ns, span_h


class FeatureMatrix:
    """Feature columns written straight into the output matrix, in the targets' order (keeping
    every feature as a separate column as well would add a full copy to peak memory)."""

    def __init__(self, perm: np.ndarray, names: list[str]):
        self.perm = perm
        self.names = names
        self.mat = np.empty((len(perm), len(names)), dtype=np.float64, order="F")
        self.col = {name: j for j, name in enumerate(names)}
        self.filled: set[str] = set()

    def __setitem__(self, name: str, values) -> None:
        column = self.mat[:, self.col[name]]
        column[self.perm] = values  # NaN and inf are zeroed in `done`
        self.filled.add(name)

    def get(self, name: str) -> np.ndarray:
        """A filled column, in the order it was written, NaN and inf as 0."""
        column = self.mat[:, self.col[name]][self.perm]
        column[~np.isfinite(column)] = 0.0
        return column

    def done(self) -> np.ndarray:
        missing = set(self.names) - self.filled
        if missing:
            raise RuntimeError(f"features not computed: {sorted(missing)}")
        # A few columns at a time: one call for a small batch's matrix, a bounded mask for a
        # large one.
        for j in range(0, len(self.names), FINITE_BLOCK):
            block = self.mat[:, j:j + FINITE_BLOCK]
            block[~np.isfinite(block)] = 0.0
        return self.mat
