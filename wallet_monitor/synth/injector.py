"""The tools fraud scenarios are built with: a ledger of what was injected and an injector.

The `Ledger` records each fraudulent transaction, login and episode as it is injected; that
record is where ``labels.csv`` comes from. The `Injector` knows the world and its legitimate
traffic and answers the questions every scenario asks: which wallet, when, from which IP and
device, to which never-seen counterparty, for how much.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wallet_monitor.synth.geo import UTC_OFFSET_S, random_ips
from wallet_monitor.synth.world import RHYTHM, TYPE_AMOUNT_SHIFT, World

_TX_FIELDS = ("w", "t", "type", "cents", "ip", "dev", "cp")
_LOGIN_FIELDS = ("w", "t", "ip", "dev", "success")


class Ledger:
    """Fraudulent transactions and logins, recorded as they are injected."""

    def __init__(self) -> None:
        self.tx: dict[str, list] = {k: [] for k in _TX_FIELDS}
        self.logins: dict[str, list] = {k: [] for k in _LOGIN_FIELDS}
        self.episodes: list[dict] = []

    @property
    def n_tx(self) -> int:
        return len(self.tx["w"])

    def add_tx(self, w, t, typ, usd, ip, dev, cp=-1) -> int:
        """Record one transaction of `usd` (at least one dollar); returns its ledger index."""
        for k, v in zip(_TX_FIELDS, (w, t, typ, max(int(round(usd * 100)), 100), ip, dev, cp),
                        strict=True):
            self.tx[k].append(int(v))
        return self.n_tx - 1

    def add_login(self, w, t, ip, dev, success=1) -> None:
        for k, v in zip(_LOGIN_FIELDS, (w, t, ip, dev, success), strict=True):
            self.logins[k].append(int(v))

    def add_episode(self, scenario: str, variant: str, w: int, txs: list[int]) -> dict:
        """Record one episode: its wallet and the ledger indices of its transactions."""
        ep = {"scenario": scenario, "variant": variant, "wallet": w, "tx": txs}
        self.episodes.append(ep)
        return ep


class Injector:
    """Builds fraud episodes on top of the legitimate traffic of a world."""

    def __init__(self, rng: np.random.Generator, world: World, tx: dict, logins: dict) -> None:
        self.rng, self.world, self.ledger = rng, world, Ledger()
        self.tx = tx
        self.tx_off = np.searchsorted(tx["w"], np.arange(world.n + 1))
        order = np.lexsort((logins["t"], logins["w"]))
        self.login_w, self.login_t = logins["w"][order], logins["t"][order]
        self.login_ip = logins["ip"][order]
        self.login_off = np.searchsorted(self.login_w, np.arange(world.n + 1))
        med = pd.Series(tx["cents"] / 100.0).groupby(tx["w"]).median()
        self.median = np.exp(world.mu) * np.exp(TYPE_AMOUNT_SHIFT.mean())
        self.median[med.index.to_numpy()] = med.to_numpy()
        self.n_tx = np.diff(self.tx_off)
        self.extra_cp: dict[int, set[int]] = {}

    def pick_time(self, lo: int, hi: int, dur: int, w: int | None = None) -> int | None:
        """A start in [lo, hi) leaving room for `dur` seconds, or None if there is none."""
        lo, hi = lo + 900, hi - dur - 900
        if w is not None:
            lo = max(lo, int(self.world.active_from[w]) + 900)
        if hi <= lo:
            return None
        t = int(self.rng.integers(lo, hi))
        if w is not None and self.rng.random() < 0.6:
            # Fraudsters often act in the owner's usual hours.
            off = int(UTC_OFFSET_S[self.world.home[w]])
            tod = int(self.rng.choice(24, p=RHYTHM)) * 3600 + int(self.rng.integers(0, 3600))
            t2 = (t + off) // 86400 * 86400 + tod - off
            t = t2 if lo <= t2 < hi else t
        return t

    def pick_wallet(self, lo: int, hi: int, mask=None, min_tx: int = 0,
                    exclude=()) -> int | None:
        """A random wallet active well before `hi` with `min_tx` legitimate transactions."""
        ok = (self.world.active_from + 2 * 3600 < hi - 1800) & (self.n_tx >= min_tx)
        if mask is not None:
            ok &= mask
        if exclude:
            ok[list(exclude)] = False
        cand = np.flatnonzero(ok)
        return int(self.rng.choice(cand)) if cand.size else None

    def usual(self, w: int, t: int) -> tuple[int, int]:
        """The IP and device the owner of `w` would plausibly use at `t`."""
        wd = self.world
        ip = int(wd.ips[w, self.rng.integers(0, wd.n_ip[w])])
        if wd.trip_dest[w] >= 0 and wd.trip_t[w, 1] <= t < wd.trip_t[w, 2]:
            ip = int(wd.trip_ips[w, 0])
        dev = int(wd.switch_dev[w] if t >= wd.switch_s[w] else wd.devices[w, 0])
        return ip, dev

    def _seen_cp(self, w: int) -> set[int]:
        cps = self.tx["cp"][self.tx_off[w]:self.tx_off[w + 1]]
        return set(cps[cps >= 0].tolist()) | self.extra_cp.get(w, set())

    def fresh_cp(self, w: int, k: int, hi: int) -> list[int]:
        """Up to `k` counterparties `w` never sent to; they count as seen from now on."""
        banned = self._seen_cp(w) | {w}
        ok = self.world.active_from < hi
        ok[list(banned)] = False
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            return []
        out = self.rng.choice(cand, min(k, cand.size), replace=False).tolist()
        self.extra_cp.setdefault(w, set()).update(out)
        return out

    def amount(self, w: int, scale: float = 1.0) -> float:
        """A USD amount typical of `w`, times `scale`."""
        return float(np.exp(self.world.mu[w] + self.world.sigma[w] * self.rng.standard_normal())
                     * scale)

    def new_ip(self, w: int, country: int) -> int:
        """An IP in `country` that `w` has never used."""
        known = set(self.world.ips[w].tolist()) | set(self.world.trip_ips[w].tolist())
        while True:
            ip = int(random_ips(self.rng, np.array([country]))[0])
            if ip not in known:
                return ip

    def login(self, w: int, t: int, ip: int, dev: int) -> None:
        """A successful login shortly before `t`."""
        self.ledger.add_login(w, t - int(self.rng.integers(20, 120)), ip, dev)
