"""Strings coded once: the vocabulary a follower codes its events with as they arrive.

`make_context` factorizes the context's wallet ids, countries, IP addresses and devices, and
reads the wallets table, with every batch. A follower keeps its look-back coded with one
`Vocabulary` instead (`code`: each event's strings once, when it arrives) and hands the codes
to `features_of_prepared`; the wallets table's facts are read once per wallet. Codes only meet
in equality tests and in sorts that group equal values (never in an order a feature shows),
and a country code is read back through `names`, so any numbering gives the same features
(tests/stream/test_state.py holds the follower to `build_features`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from wallet_monitor.features.arrays import (
    NAT,
    arrow_str,
    as_str,
    flag,
    frame,
    small_str,
    text,
    utc_ns,
)

# The prepared columns coded, and the vocabulary each is coded with (a counterparty is a wallet).
CODED = {"wallet_id": "wallet", "counterparty_wallet_id": "wallet", "ip_address": "ip",
         "country": "country", "device_id": "device"}
_KINDS = ("wallet", "country", "ip", "device")


@dataclass
class WalletFacts:
    """Per wallet code: registration (NAT: not in the table), KYC (1, 0, 0.5 unknown), home
    country code (-1 unknown); `fill`: the registration a wallet absent from the table gets."""

    reg: np.ndarray
    kyc: np.ndarray
    home: np.ndarray
    fill: int | None  # None: the table lists no registration


def table_facts(wallets, w_tab, n_wallets, c_home) -> WalletFacts:
    """The wallets table's facts over wallet codes 0..n_wallets-1 (`w_tab`: its rows' codes,
    `c_home`: their home country codes)."""
    reg = np.full(n_wallets, NAT, np.int64)
    kyc = np.full(n_wallets, 0.5)  # unknown KYC sits between verified (1) and not (0)
    home = np.full(n_wallets, -1, np.int64)
    if wallets is not None and len(wallets):
        reg[w_tab] = utc_ns(wallets["registration_date"])
        kyc[w_tab] = flag(wallets["kyc_verified"])
        if len(c_home):
            home[w_tab] = c_home
    known_reg = reg[reg != NAT]
    # A wallet absent from the table gets the table's median registration, not "brand new".
    return WalletFacts(reg, kyc, home, int(np.int64(np.median(known_reg))) if len(known_reg)
                       else None)


class Vocabulary:
    """Codes for wallet ids, countries, IP addresses and devices, shared by every event coded
    with it (-1: missing), and the wallets table's facts per wallet code."""

    def __init__(self, wallets: pd.DataFrame | None, home: bool):
        self._index: dict[str, dict] = {k: {} for k in _KINDS}
        self._names: dict[str, list] = {k: [] for k in _KINDS}
        self._wallets = wallets
        self._home = home
        self._facts: WalletFacts | None = None
        # The table's wallets come first; `compact` keeps codes below _pinned.
        self._w_tab = (self.code_values("wallet", as_str(wallets["wallet_id"]))
                       if wallets is not None else np.zeros(0, np.int64))
        self._pinned = len(self._names["wallet"])

    def code_values(self, kind: str, values: pd.Series) -> np.ndarray:
        """int64 codes of `values` (strings as the prepared frames hold them; NA -> -1)."""
        small = small_str(values)
        if small is not None:
            return self.code_list(kind, small)
        # pyarrow's dictionary encoding: pd.factorize's codes (first appearance, nulls apart)
        # without pandas' cost per call, which a small batch pays for each coded column.
        arr = arrow_str(values)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        enc = pc.dictionary_encode(arr)
        uniques = enc.dictionary.to_pylist()
        if not len(uniques):
            return np.full(len(values), -1, np.int64)
        coded = pc.fill_null(enc.indices, len(uniques)).to_numpy()
        index, names = self._index[kind], self._names[kind]
        lut = np.empty(len(uniques) + 1, np.int64)
        lut[-1] = -1
        for i, u in enumerate(uniques):
            c = index.get(u)
            if c is None:
                c = index[u] = len(names)
                names.append(u)
            lut[i] = c
        return lut[coded]

    def code_list(self, kind: str, values: list) -> np.ndarray:
        """`code_values` of a list of strings and None, in Python: new strings are given codes
        in order of first appearance, as `code_values` gives them."""
        index, names = self._index[kind], self._names[kind]
        out = []
        for v in values:
            if v is None:
                out.append(-1)
                continue
            c = index.get(v)
            if c is None:
                c = index[v] = len(names)
                names.append(v)
            out.append(c)
        return np.array(out, dtype=np.int64)

    def code(self, prepared: pd.DataFrame) -> pd.DataFrame:
        """A prepared frame with its CODED columns as codes."""
        return frame({col: self.code_values(CODED[col], prepared[col]) if col in CODED
                      else prepared[col] for col in prepared.columns}, prepared.index)

    def size(self, kind: str | None = None) -> int:
        """Codes given for `kind` (None: for every kind)."""
        return sum(len(self._names[k]) for k in ([kind] if kind else _KINDS))

    def names(self, kind: str) -> np.ndarray:
        """Each code's string, by code."""
        return np.asarray(self._names[kind], dtype=object)

    def wallet_facts(self) -> WalletFacts:
        """`table_facts` over every wallet coded so far."""
        n = len(self._names["wallet"])
        if self._facts is None:
            w = self._wallets
            home = (self.code_values("country", text(w, "home_country", 0, upper=True))
                    if self._home and w is not None else np.zeros(0, np.int64))
            self._facts = table_facts(w, self._w_tab, n, home)
        f = self._facts
        if len(f.reg) < n:  # wallets coded since: none is in the table
            more = n - len(f.reg)
            self._facts = f = WalletFacts(
                np.concatenate([f.reg, np.full(more, NAT, np.int64)]),
                np.concatenate([f.kyc, np.full(more, 0.5)]),
                np.concatenate([f.home, np.full(more, -1, np.int64)]), f.fill)
        return f

    def compact(self, frames: list) -> tuple[list, dict]:
        """Forget the codes no event of `frames` (coded with this vocabulary: frames, or
        {column: array} dicts) uses, but the
        wallets table's; returns the frames recoded, so the vocabulary stays bounded by the
        retained events, and the code maps (kind -> old code -> new code, [-1] = -1) of the
        kinds renumbered, for codes kept elsewhere (a `WalletLedger`)."""
        remaps = {}
        for kind in _KINDS:
            used = [np.asarray(f[c]) for f in frames for c, k in CODED.items()
                    if k == kind and c in f]
            keep = np.unique(np.concatenate([*used, np.zeros(0, np.int64)]))
            keep = keep[keep >= 0]
            if kind == "wallet":
                keep = np.union1d(np.arange(self._pinned), keep)
            elif kind == "country" and self._home and self._wallets is not None:
                keep = np.union1d(self.wallet_facts().home, keep)
                keep = keep[keep >= 0]
            names = self._names[kind]
            if len(keep) == len(names):
                continue
            lut = np.full(len(names) + 1, -1, np.int64)
            lut[keep] = np.arange(len(keep))
            remaps[kind] = lut
            self._names[kind] = [names[i] for i in keep.tolist()]
            self._index[kind] = {v: i for i, v in enumerate(self._names[kind])}
        if not remaps:
            return frames, remaps
        self._facts = None
        out = []
        for f in frames:
            f = dict(f) if isinstance(f, dict) else f.copy(deep=False)
            for col, kind in CODED.items():
                if kind in remaps and col in f:
                    f[col] = remaps[kind][np.asarray(f[col])]
            out.append(f)
        return out, remaps
