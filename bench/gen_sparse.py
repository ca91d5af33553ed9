"""gen_sparse: a payment-app export with sparse columns, where accounts rarely repeat.

The world
---------
A remittance / on-ramp payment app. The export is sparse: transactions carry only
``transaction_id, wallet_id, timestamp, amount, type, ip_address`` plus
``counterparty_wallet_id`` on transfers (no country, no device, no token), there is no
logins.csv, and wallets.csv has only ``wallet_id, kyc_verified, registration_date``.

Accounts rarely repeat. About two thirds of the active accounts appear once or twice in
the whole period (a one-off sender who tops up and sends money home, a recipient who
cashes out what was sent to them, a single top-up or cash-out); a quarter are occasional
users (3-8 rows, either spread out or clustered in a couple of weeks and dormant
otherwise); a small core are regulars. Accounts have a hidden type that shapes their
amounts and rhythm:

* retail: small, variable amounts (median around 140 USD, typical 50-800);
* payroll-like: workers who top up a stable salary-sized amount on a payday cycle
  (weekly, bi-weekly, monthly) and forward most of it to one or two family recipients;
* small business: larger and more variable amounts, recurring suppliers, and for some a
  bi-weekly staff payroll run (one deposit fanned out to 4-20 staff within the hour).

Registrations spread over six years before the period and through the period, so many
accounts are brand new at their first transaction. KYC verification is a mix (unverified
accounts tend to move smaller amounts). Amounts are heavy-tailed with a share of human
round numbers; rare legitimate large one-offs (car, tuition, property deposit) of 8-40x
the account's usual amount exist, and legitimate look-alikes of fraud shapes are part of
normal traffic: deposit-then-send within minutes, recipients cashing out soon after a
receipt, several cash-outs within an hour, a few quick transfers to different people,
business payroll fan-outs. Time stamps follow local time-of-day and day-of-week cycles
(users sit in several time zones). IP addresses: most mobile users sit behind shared
carrier-grade-NAT addresses (an IP is not an identity), others use a home line (a few
households share one), and a small share of everyone uses VPN / hosting addresses.

Fraud typologies (``labels.csv``; every row of an injected episode is listed). Most fraud
accounts are fresh (opened 0-5 days before), dormant aged accounts with no history, or
recruited one-off users, so they have little or no history.

``rapid_transfers``
    * ``mule_pass_through``: a deposit lands in a fresh mule account and is forwarded
      within minutes through a chain of 2-4 mule accounts (a few percent skimmed at each
      hop); the last mule cashes it out.
    * ``fan_out``: one large deposit (2-30k) into a fresh hub account is split within
      minutes into 5-14 transfers to one-off recipient accounts, most of which cash out
      within minutes to hours.
    * ``fan_in``: a funnel: 4-10 one-off accounts each top up a few hundred dollars and
      send it to one collector account within a couple of hours; the collector cashes
      the total out.

``redemption_burst``
    * ``rapid_cashouts``: an account (often just funded by one deposit) makes 4-9
      cash-outs within one to three hours, draining the deposit.
    * ``outsized_cashout``: a single cash-out of 6-45k from a retail-like account whose
      habit is tens to hundreds of dollars, or from a fresh account funded minutes
      before by a transfer or deposit.

``suspicious_deposit``
    * ``structuring_split``: one to three deposits each of 8,600-9,990 USD (under the
      10,000 reporting threshold) into each of 3-6 fresh accounts over a day or two; each
      account then forwards its total to one collector (who often cashes out) or cashes
      out itself.
    * ``under_3k_repeat``: one account deposits 2,600-2,995 USD (under 3,000) three to
      seven times over several days, then moves the total out.
    * ``unverified_in_out``: a large deposit (3-45k) into an unverified account that
      leaves again within the same hour, by cash-out or by a transfer to a fresh
      account that cashes out.

``account_takeover`` (expressed through transactions only; no logins here)
    * ``drain_to_new_payee``: an established account suddenly sends 3-20x its usual
      amount to one to three never-seen accounts within half an hour, at any hour and
      from an address that is not its home line; the payees cash out.
    * ``new_ip_cashout``: the same kind of account is drained by 2-5 cash-outs within an
      hour from a carrier or VPN address.

``other_bust_out``
    * ``trust_then_dump``: a fresh account makes 3-6 small deposits/transfers over days
      to two weeks, then one large deposit (2.5-20k) leaves within the hour.
    * ``limit_ramp``: an account deposits and cashes out escalating amounts
      (each step 1.8-3x the last, starting at 40-150 USD) over days until a final
      step of several thousand dollars.

Fraud amounts come from the same rounding and second-resolution clocks as normal ones,
fraud accounts get ids from the same random id space, and fraud uses the same IP pools.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("gen_sparse")

NAME = "gen_sparse"
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "out" / NAME / "data"
START = pd.Timestamp("2024-03-04T00:00:00Z")  # a Monday
DAY = 86400.0

VARIANTS: dict[str, tuple[str, ...]] = {
    "rapid_transfers": ("mule_pass_through", "fan_out", "fan_in"),
    "redemption_burst": ("rapid_cashouts", "outsized_cashout"),
    "suspicious_deposit": ("structuring_split", "under_3k_repeat", "unverified_in_out"),
    "account_takeover": ("drain_to_new_payee", "new_ip_cashout"),
    "other_bust_out": ("trust_then_dump", "limit_ramp"),
}
_FLAT = [(s, v) for s, vs in VARIANTS.items() for v in vs]
# Episode draw weights (an episode's row count differs by variant).
_EPISODE_W = {
    "mule_pass_through": 0.12, "fan_out": 0.04, "fan_in": 0.04,
    "rapid_cashouts": 0.09, "outsized_cashout": 0.12,
    "structuring_split": 0.04, "under_3k_repeat": 0.06, "unverified_in_out": 0.12,
    "drain_to_new_payee": 0.06, "new_ip_cashout": 0.06,
    "trust_then_dump": 0.07, "limit_ramp": 0.04,
}

DEP, XFER, RED = 0, 1, 2
TYPE_NAMES = np.array(["deposit", "transfer", "redeem"])
RETAIL, PAYROLL, BUSINESS = 0, 1, 2
SILENT, ONEOFF, OCCASIONAL, REGULAR = 0, 1, 2, 3
# IP codes in a row: >= 0 an explicit index into the IP table, else resolved at the end.
IP_LEGIT, IP_HOME, IP_CARRIER, IP_VPN = -1, -2, -3, -4

# local time-of-day and day-of-week activity (Mon..Sun)
HOUR_W = np.array([0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.95, 1.05, 1.15,
                   1.2, 1.1, 1.0, 0.95, 1.0, 1.15, 1.3, 1.35, 1.3, 1.1, 0.8, 0.5])
DOW_W = np.array([0.92, 0.9, 0.95, 1.0, 1.22, 1.18, 0.83])
TZ_CHOICES = np.array([-8, -6, -5, -4, 0, 1, 2, 3, 4, 5, 8])
TZ_P = np.array([0.08, 0.08, 0.14, 0.05, 0.14, 0.14, 0.06, 0.1, 0.09, 0.06, 0.06])

# legit episode templates
T_SEND, T_TOPUP, T_P2P, T_CASHOUT, T_DEPRED, T_MULTIRED, T_MULTIP2P = range(7)
TPL_P = {
    RETAIL: [0.30, 0.17, 0.22, 0.17, 0.09, 0.03, 0.02],
    PAYROLL: [0.55, 0.14, 0.15, 0.08, 0.05, 0.02, 0.01],
    BUSINESS: [0.20, 0.30, 0.24, 0.16, 0.05, 0.03, 0.02],
}


# --------------------------------------------------------------------------------------
# helpers


def _human_round(rng, a, p):
    """Round a share ``p`` of amounts to a human granularity (5/10/50/100/500)."""
    a = np.atleast_1d(np.asarray(a, dtype=float))
    g = np.select([a < 100, a < 1000, a < 5000, a < 20000], [5.0, 10.0, 50.0, 100.0], 500.0)
    r = rng.random(a.shape) < p
    out = np.where(r, np.maximum(g, np.round(a / g) * g), a)
    return np.maximum(np.round(out, 2), 1.0)


def _lognormal_s(rng, median_s, sigma, size=None):
    return rng.lognormal(np.log(median_s), sigma, size)


def _sample_times(rng, lo, hi, tz, flat=0.0):
    """Times (s since START) in [lo, hi) following local hour and weekday cycles."""
    lo = np.atleast_1d(np.asarray(lo, dtype=float))
    hi = np.atleast_1d(np.asarray(hi, dtype=float))
    tz = np.broadcast_to(np.asarray(tz, dtype=float), lo.shape)
    hi = np.maximum(hi, lo + 1.0)
    out = lo + rng.random(lo.shape) * (hi - lo)
    todo = np.arange(lo.size)
    wmax = HOUR_W.max() * DOW_W.max()
    for _ in range(40):
        if todo.size == 0:
            break
        cand = lo[todo] + rng.random(todo.size) * (hi[todo] - lo[todo])
        loc = cand + tz[todo] * 3600.0
        h = (np.floor(loc / 3600.0) % 24).astype(int)
        d = (np.floor(loc / DAY) % 7).astype(int)
        acc = (1 - flat) * HOUR_W[h] * DOW_W[d] / wmax + flat
        ok = rng.random(todo.size) < acc
        out[todo] = cand
        todo = todo[~ok]
    return out


def _make_ips(rng, n, first_octets, taken):
    """``n`` distinct dotted IPv4 strings not in ``taken`` (a dict used as ordered set)."""
    res: list[str] = []
    while len(res) < n:
        m = (n - len(res)) * 2 + 8
        a = rng.choice(first_octets, m)
        b, c = rng.integers(0, 256, m), rng.integers(0, 256, m)
        d = rng.integers(1, 255, m)
        for ip in (f"{w}.{x}.{y}.{z}" for w, x, y, z in zip(a, b, c, d, strict=True)):
            if ip not in taken:
                taken[ip] = None
                res.append(ip)
                if len(res) == n:
                    break
    return res


def _unique_hex(rng, n, prefix, nbits):
    vals = rng.integers(0, 2**nbits, n, dtype=np.int64)
    while True:
        u, idx, cnt = np.unique(vals, return_index=True, return_counts=True)
        if u.size == n:
            break
        dup = np.ones(n, bool)
        dup[idx] = False
        vals[dup] = rng.integers(0, 2**nbits, int(dup.sum()), dtype=np.int64)
    width = (nbits + 3) // 4
    return np.array([f"{prefix}{v:0{width}x}" for v in vals.tolist()], dtype=object)


def _group_offsets(k, step):
    """Cumulative offsets of consecutive groups of sizes ``k``, 0 at each group's start."""
    cs = np.cumsum(step)
    start = np.r_[0, np.cumsum(k)[:-1]].astype(np.int64)
    return cs - np.repeat(cs[start], k) if k.size else cs


class _Rows:
    """Column buffers of generated rows."""

    def __init__(self):
        self.cols: dict[str, list] = {k: [] for k in ("w", "t", "a", "ty", "cp", "ip", "lab")}

    def add(self, w, t, a, ty, cp=-1, ip=IP_LEGIT, lab=-1):
        n = np.size(w)
        for k, v, dt in (("w", w, np.int64), ("t", t, float), ("a", a, float),
                         ("ty", ty, np.int64), ("cp", cp, np.int64), ("ip", ip, np.int64),
                         ("lab", lab, np.int64)):
            self.cols[k].append(np.broadcast_to(np.asarray(v, dtype=dt), (n,)).copy())

    def arrays(self) -> dict[str, np.ndarray]:
        dts = {"w": np.int64, "t": float, "a": float, "ty": np.int64, "cp": np.int64,
               "ip": np.int64, "lab": np.int64}
        return {k: (np.concatenate(v) if v else np.zeros(0, dts[k])) for k, v in
                self.cols.items()}


# --------------------------------------------------------------------------------------
# wallets and normal traffic


class _World:
    def __init__(self, rng, n_wallets, days):
        self.rng = rng
        self.days = days
        self.end = days * DAY
        n = n_wallets
        self.n_legit = n
        kind = rng.choice(3, n, p=[0.72, 0.20, 0.08])
        tier = np.empty(n, np.int64)
        tier_p = {RETAIL: [0.10, 0.68, 0.18, 0.04], PAYROLL: [0.10, 0.40, 0.32, 0.18],
                  BUSINESS: [0.04, 0.28, 0.34, 0.34]}
        for k, p in tier_p.items():
            m = kind == k
            tier[m] = rng.choice(4, int(m.sum()), p=p)
        kyc_p = np.array([0.58, 0.74, 0.9])[kind] - np.where(tier == ONEOFF, 0.08, 0.0)
        new_p = np.array([0.0, 0.6, 0.3, 0.08])[tier]
        self.is_new = rng.random(n) < new_p
        kyc_p = kyc_p - np.where(self.is_new, 0.12, 0.0)
        self.kyc = (rng.random(n) < kyc_p).astype(np.int64)
        med = np.exp(rng.normal(np.log([140.0, 450.0, 1400.0])[kind],
                                np.array([0.75, 0.45, 0.8])[kind]))
        med = np.where(self.kyc == 0, med * 0.6, med)
        self.med = med
        self.sig = rng.uniform(*np.array([[0.35, 0.8], [0.15, 0.4], [0.5, 1.0]])[kind].T)
        self.kind, self.tier = kind, tier
        self.tz = rng.choice(TZ_CHOICES, n, p=TZ_P)
        self.carrier_prop = rng.beta(2.0, 1.6, n)
        self.carrier_prop[kind == BUSINESS] *= 0.4
        # registration: absolute (aged) or relative to first activity (new)
        age_days = 30 + rng.gamma(1.3, 420.0, n).clip(0, 2200)
        self.reg_abs = -age_days * DAY
        self.reg_delay = np.where(rng.random(n) < 0.5, rng.uniform(60, 6 * 3600, n),
                                  rng.exponential(4 * DAY, n))
        self.rows = _Rows()

    # ---- amounts ----
    def amounts(self, w, scale=1.0):
        rng = self.rng
        a = self.med[w] * np.exp(self.sig[w] * rng.standard_normal(w.size)) * scale
        big_p = np.where(self.kind[w] == BUSINESS, 0.008, 0.003)
        big = rng.random(w.size) < big_p
        mult = np.where(self.kind[w] == BUSINESS, np.exp(rng.uniform(np.log(4), np.log(15),
                        w.size)), np.exp(rng.uniform(np.log(8), np.log(40), w.size)))
        a = np.where(big, a * mult, a)
        return a / (1.0 + a / 200000.0)  # taper the extreme tail

    # ---- counterparties ----
    def _setup_parties(self):
        rng, n = self.rng, self.n_legit
        silent = np.flatnonzero(self.tier == SILENT)
        occ = np.flatnonzero(self.tier == OCCASIONAL)
        self.family = rng.choice(silent, (n, 2))
        self.n_family = rng.choice([1, 2], n, p=[0.7, 0.3])
        staff_pool = np.concatenate([silent, occ])
        self.staff_pool = staff_pool
        biz_pool = np.flatnonzero((self.kind == BUSINESS) | (self.tier >= OCCASIONAL))
        self.suppliers = rng.choice(biz_pool, (n, 8))
        self.n_suppliers = rng.integers(3, 9, n)
        w = np.array([3.0, 1.5, 1.0, 0.6])[self.tier]
        self.rand_w = w / w.sum()

    def counterparties(self, w):
        rng = self.rng
        k = w.size
        out = rng.choice(self.n_legit, k, p=self.rand_w)
        u = rng.random(k)
        kind = self.kind[w]
        fam = (kind == PAYROLL) & (u < 0.8)
        j = rng.integers(0, self.n_family[w])
        out[fam] = self.family[w[fam], j[fam]]
        sup = (kind == BUSINESS) & (u < 0.7)
        j = (rng.random(k) * self.n_suppliers[w]).astype(int)
        out[sup] = self.suppliers[w[sup], j[sup]]
        fam_r = (kind == RETAIL) & (u < 0.25)
        out[fam_r] = self.family[w[fam_r], 0]
        clash = out == w
        out[clash] = (out[clash] + 1) % self.n_legit
        return out

    # ---- episodes ----
    def build(self):
        rng, n, end = self.rng, self.n_legit, self.end
        self._setup_parties()
        tier = self.tier
        oneoff = np.flatnonzero(tier == ONEOFF)
        recv_mask = rng.random(oneoff.size) < 0.27
        self.recv_pool = oneoff[recv_mask]
        self.rand_w[self.recv_pool] = 0.0
        self.rand_w /= self.rand_w.sum()
        single = oneoff[~recv_mask]
        k_ep = np.zeros(n, np.int64)
        k_ep[single] = 1
        occ = tier == OCCASIONAL
        k_ep[occ] = rng.integers(2, 6, int(occ.sum()))
        reg = tier == REGULAR
        k_ep[reg & (self.kind == RETAIL)] = rng.integers(8, 31, int((reg & (self.kind == RETAIL)
                                                                      ).sum()))
        k_ep[reg & (self.kind == PAYROLL)] = rng.integers(1, 5, int((reg & (self.kind == PAYROLL)
                                                                      ).sum()))
        nb = int((reg & (self.kind == BUSINESS)).sum())
        k_ep[reg & (self.kind == BUSINESS)] = np.minimum(rng.geometric(1 / 35, nb) + 10, 160)
        ew = np.repeat(np.arange(n), k_ep)
        # windows: occasional wallets are clustered half of the time
        lo = np.zeros(n)
        hi = np.full(n, end)
        clus = occ & (rng.random(n) < 0.5)
        L = rng.uniform(2, 20, n) * DAY
        s = rng.random(n) * np.maximum(end - L, 0)
        lo[clus] = s[clus]
        hi[clus] = np.minimum(s[clus] + L[clus], end)
        et = _sample_times(rng, lo[ew], hi[ew], self.tz[ew])
        tpl = np.empty(ew.size, np.int64)
        for k, p in TPL_P.items():
            m = self.kind[ew] == k
            tpl[m] = rng.choice(7, int(m.sum()), p=p)
        # one-off wallets never get the multi-row templates
        multi = (tier[ew] == ONEOFF) & (tpl >= T_MULTIRED)
        tpl[multi] = T_SEND
        self._templates(ew, et, tpl)
        self._payroll_cycles()
        self._business_payroll()
        self._responses()

    def _templates(self, ew, et, tpl):
        rng, R = self.rng, self.rows
        A = self.amounts(ew)
        # SEND: deposit, then transfer of the deposit less a fee
        m = tpl == T_SEND
        w, t, a = ew[m], et[m], A[m]
        dep = _human_round(rng, a, 0.4)
        delay = np.where(rng.random(w.size) < 0.85, _lognormal_s(rng, 300, 1.1, w.size),
                         _lognormal_s(rng, 4 * 3600, 1.0, w.size))
        fee = np.where(rng.random(w.size) < 0.5, 0.0, rng.uniform(0.005, 0.03, w.size))
        R.add(w, t, dep, DEP)
        self._add_transfers(w, t + delay, np.round(dep * (1 - fee), 2), fresh_p=0.3)
        # TOPUP
        m = tpl == T_TOPUP
        R.add(ew[m], et[m], _human_round(rng, A[m], 0.4), DEP)
        # P2P
        m = tpl == T_P2P
        self._add_transfers(ew[m], et[m], _human_round(rng, A[m] * 0.7, 0.35), fresh_p=0.3)
        # CASHOUT
        m = tpl == T_CASHOUT
        R.add(ew[m], et[m], _human_round(rng, A[m], 0.35), RED)
        # DEPOSIT then later REDEEM
        m = tpl == T_DEPRED
        w, t, a = ew[m], et[m], _human_round(rng, A[m], 0.4)
        R.add(w, t, a, DEP)
        R.add(w, t + _lognormal_s(rng, 1.5 * DAY, 1.0, w.size),
              _human_round(rng, a * rng.uniform(0.3, 1.0, w.size), 0.35), RED)
        # several cash-outs within an hour (agent / ATM limits)
        m = np.flatnonzero(tpl == T_MULTIRED)
        k = rng.integers(2, 5, m.size)
        w = np.repeat(ew[m], k)
        base = np.repeat(et[m], k)
        off = _group_offsets(k, rng.uniform(120, 1500, w.size))
        R.add(w, base + off, _human_round(rng, np.repeat(A[m], k) *
                                          rng.uniform(0.3, 0.8, w.size), 0.6), RED)
        # a few quick transfers to different people (splitting a bill, gifts)
        m = np.flatnonzero(tpl == T_MULTIP2P)
        k = rng.integers(2, 6, m.size)
        w = np.repeat(ew[m], k)
        base = np.repeat(et[m], k)
        off = _group_offsets(k, rng.uniform(30, 700, w.size))
        amt = _human_round(rng, np.repeat(A[m], k) * rng.uniform(0.2, 0.7, w.size), 0.4)
        cp = self.rng.choice(self.n_legit, w.size, p=self.rand_w)
        cp[cp == w] = (cp[cp == w] + 1) % self.n_legit
        R.add(w, base + off, amt, XFER, cp)

    def _add_transfers(self, w, t, a, fresh_p):
        cp = self.counterparties(w)
        # a share of one-off recipients who will cash out what they receive
        if not hasattr(self, "_pool_pos"):
            self._pool_pos = 0
            self.rng.shuffle(self.recv_pool)
        cand = np.flatnonzero((self.rng.random(w.size) < fresh_p) & (self.kind[w] != BUSINESS))
        take = min(cand.size, self.recv_pool.size - self._pool_pos)
        cand = cand[:take]
        cp[cand] = self.recv_pool[self._pool_pos:self._pool_pos + take]
        self._pool_pos += take
        clash = cp == w
        cp[clash] = (cp[clash] + 1) % self.n_legit
        self.rows.add(w, t, a, XFER, cp)

    def _payroll_cycles(self):
        rng = self.rng
        ws = np.flatnonzero((self.tier == REGULAR) & (self.kind == PAYROLL))
        for w in ws.tolist():
            period = rng.choice([7, 14, 30], p=[0.25, 0.5, 0.25])
            phase = rng.uniform(0, period)
            days = np.arange(phase, self.days, period)
            days = days[rng.random(days.size) > 0.12]
            if days.size == 0:
                continue
            local = np.floor(days) * DAY + rng.uniform(16.5, 21.5, days.size) * 3600
            t = local - self.tz[w] * 3600
            sal = self.med[w] * 1.6 * np.exp(0.05 * rng.standard_normal(days.size))
            dep = _human_round(rng, sal, 0.5)
            ww = np.full(days.size, w)
            self.rows.add(ww, t, dep, DEP)
            share = rng.uniform(0.4, 0.9, days.size)
            self._add_transfers(ww, t + _lognormal_s(rng, 1200, 1.2, days.size),
                                _human_round(rng, dep * share, 0.5), fresh_p=0.0)

    def _business_payroll(self):
        rng = self.rng
        ws = np.flatnonzero((self.tier == REGULAR) & (self.kind == BUSINESS))
        ws = ws[rng.random(ws.size) < 0.4]
        for w in ws.tolist():
            ns = int(rng.integers(4, 21))
            staff = rng.choice(self.staff_pool, ns, replace=False)
            pay = np.exp(rng.normal(np.log(700), 0.5, ns))
            phase = rng.uniform(0, 14)
            for d in np.arange(phase, self.days, 14.0):
                t0 = np.floor(d) * DAY + rng.uniform(9, 17) * 3600 - self.tz[w] * 3600
                p = np.round(pay * (1 + 0.02 * rng.standard_normal(ns)), 2)
                self.rows.add(w, t0, _human_round(rng, p.sum() * rng.uniform(1, 1.05), 0.5),
                              DEP)
                offs = np.sort(rng.uniform(300, 5400, ns))
                self.rows.add(np.full(ns, w), t0 + offs, p, XFER, staff)

    def _responses(self):
        """Recipients who cash out what was sent to them."""
        rng = self.rng
        arr = self.rows.arrays()
        x = np.flatnonzero(arr["ty"] == XFER)
        cp, t, a = arr["cp"][x], arr["t"][x], arr["a"][x]
        in_pool = np.zeros(self.n_legit, bool)
        in_pool[self.recv_pool] = True
        p = np.where(in_pool[cp], 1.0, np.where(self.tier[cp] == SILENT, 0.35, 0.0))
        p = np.where((self.tier[cp] == OCCASIONAL) & (self.kind[arr["w"][x]] == BUSINESS),
                     0.45, p)
        r = rng.random(x.size) < p
        cp, t, a = cp[r], t[r], a[r]
        delay = _lognormal_s(rng, 3 * 3600, 1.4, cp.size)
        red = _human_round(rng, a * np.where(rng.random(cp.size) < 0.6, 1.0,
                                             rng.uniform(0.5, 1.0, cp.size)), 0.35)
        self.rows.add(cp, t + delay, red, RED)


# --------------------------------------------------------------------------------------
# fraud


class _Fraud:
    def __init__(self, world: _World, legit: dict[str, np.ndarray]):
        self.W = world
        self.rng = world.rng
        self.rows = _Rows()
        self.n_rows = 0
        rng = self.rng
        n = world.n_legit
        w = legit["w"]
        self.cnt = np.bincount(w, minlength=n)
        first = np.full(n, np.inf)
        np.minimum.at(first, w, legit["t"])
        self.first = first
        med = np.zeros(n)
        order = np.lexsort((legit["a"], w))
        ws, a = w[order], legit["a"][order]
        starts = np.searchsorted(ws, np.arange(n))
        mid = starts + self.cnt // 2
        has = self.cnt > 0
        med[has] = a[np.minimum(mid[has], a.size - 1)]
        self.med = med
        self.used = np.zeros(n, bool)
        # new fraud wallets (indices continue after the legit ones)
        self.f_kyc: list[int] = []
        self.f_reg_abs: list[float] = []
        self.f_reg_delay: list[float] = []
        self.f_tz: list[int] = []
        self.ring_ips = 0  # extra home-style IPs shared by a ring (indices resolved later)
        self.recruitable = np.flatnonzero((world.kind == RETAIL) & (self.cnt >= 1)
                                          & (self.cnt <= 3))
        rng.shuffle(self.recruitable)
        self._rec_pos = 0

    # ---- wallets ----
    def fresh(self, aged_p=0.15, kyc_p=0.4):
        rng = self.rng
        idx = self.W.n_legit + len(self.f_kyc)
        self.f_kyc.append(int(rng.random() < kyc_p))
        if rng.random() < aged_p:  # a bought / dormant account with no history
            self.f_reg_abs.append(-float(rng.uniform(60, 1100)) * DAY)
            self.f_reg_delay.append(np.nan)
        else:
            self.f_reg_abs.append(np.nan)
            self.f_reg_delay.append(float(rng.uniform(60, 8 * 3600)) if rng.random() < 0.55
                                    else float(rng.uniform(0.3, 5) * DAY))
        self.f_tz.append(int(rng.choice(TZ_CHOICES, p=TZ_P)))
        return idx

    def mule(self, recruit_p=0.2, aged_p=0.15, kyc_p=0.4):
        if self.rng.random() < recruit_p and self._rec_pos < self.recruitable.size:
            w = int(self.recruitable[self._rec_pos])
            self._rec_pos += 1
            return w
        return self.fresh(aged_p=aged_p, kyc_p=kyc_p)

    def tz_of(self, w):
        return int(self.W.tz[w]) if w < self.W.n_legit else self.f_tz[w - self.W.n_legit]

    def ip(self, ato=False, ring=None):
        u = self.rng.random()
        if ato:
            return IP_VPN if u < 0.45 else IP_CARRIER
        if u < 0.5:
            return IP_CARRIER
        if u < 0.68:
            return IP_VPN
        return ring if ring is not None else IP_HOME

    def ring_ip(self):
        if self.rng.random() < 0.35:
            self.ring_ips += 1
            return 10_000_000 + self.ring_ips - 1  # placeholder, mapped to a real IP later
        return None

    # ---- placing an episode in a window ----
    def commit(self, ep, lab, lo, hi, t0=None, flat=0.35):
        """ep: list of (wallet, offset_s, amount, type, counterparty, ipcode)."""
        w = np.array([r[0] for r in ep], np.int64)
        off = np.array([r[1] for r in ep], float)
        off -= off.min()
        span = off.max()
        avail = hi - lo
        if span > 0.9 * avail:
            off *= 0.9 * avail / span
            span = off.max()
        if t0 is None:
            t0 = float(_sample_times(self.rng, lo, hi - span - 1, self.tz_of(int(w[0])),
                                     flat=flat)[0])
        t0 = min(max(t0, lo), hi - span - 1)
        amt = np.maximum(np.round(np.array([r[2] for r in ep], float), 2), 1.0)
        self.rows.add(w, t0 + off, amt, np.array([r[3] for r in ep]),
                      np.array([r[4] for r in ep]), np.array([r[5] for r in ep]), lab)
        self.n_rows += len(ep)

    def hr(self, a, p=0.35):
        return float(_human_round(self.rng, a, p)[0])

    def lgn(self, med, sig):
        return float(self.rng.lognormal(np.log(med), sig))

    # ---- variants ----
    def mule_pass_through(self, lo, hi, lab):
        rng = self.rng
        k = int(rng.integers(2, 5))
        mules = [self.mule() for _ in range(k)]
        ring = self.ring_ip()
        a = self.hr(np.clip(self.lgn(1200, 0.8), 200, 25000), 0.3)
        t = 0.0
        ep = [(mules[0], t, a, DEP, -1, self.ip(ring=ring))]
        for i in range(k - 1):
            t += self.lgn(300, 0.8)
            a = a if rng.random() < 0.4 else a * rng.uniform(0.96, 0.995)
            ep.append((mules[i], t, a, XFER, mules[i + 1], self.ip(ring=ring)))
        t += self.lgn(900, 0.8)
        if rng.random() < 0.7:
            ep.append((mules[-1], t, a * rng.uniform(0.95, 1.0), RED, -1, self.ip(ring=ring)))
        else:
            s = rng.uniform(0.3, 0.7)
            ep.append((mules[-1], t, self.hr(a * s, 0.5), RED, -1, self.ip(ring=ring)))
            ep.append((mules[-1], t + rng.uniform(60, 900), a * (1 - s) * 0.98, RED, -1,
                       self.ip(ring=ring)))
        self.commit(ep, lab, lo, hi)

    def fan_out(self, lo, hi, lab):
        rng = self.rng
        hub = self.fresh()
        d = self.hr(np.clip(self.lgn(6000, 0.6), 2000, 30000), 0.4)
        k = int(rng.integers(5, 15))
        wts = rng.uniform(0.6, 1.4, k)
        amts = _human_round(rng, d * rng.uniform(0.9, 1.0) * wts / wts.sum(), 0.4)
        ring = self.ring_ip()
        ep = [(hub, 0.0, d, DEP, -1, self.ip(ring=ring))]
        t = self.lgn(300, 0.8)
        for i in range(k):
            r = self.mule(recruit_p=0.2)
            ep.append((hub, t, float(amts[i]), XFER, r, self.ip(ring=ring)))
            if rng.random() < 0.75:
                ep.append((r, t + self.lgn(2400, 1.0), float(amts[i]) * rng.uniform(0.95, 1.0),
                           RED, -1, self.ip()))
            t += rng.uniform(30, 360)
        self.commit(ep, lab, lo, hi)

    def fan_in(self, lo, hi, lab):
        rng = self.rng
        col = self.fresh(aged_p=0.3)
        k = int(rng.integers(4, 11))
        total, last = 0.0, 0.0
        ep = []
        for _ in range(k):
            s = self.mule(recruit_p=0.3)
            t = rng.uniform(0, 7200)
            a = self.hr(np.clip(self.lgn(700, 0.5), 150, 3000), 0.45)
            ep.append((s, t, a, DEP, -1, self.ip()))
            a2 = a if rng.random() < 0.5 else round(a * rng.uniform(0.97, 0.995), 2)
            tt = t + self.lgn(240, 0.9)
            ep.append((s, tt, a2, XFER, col, self.ip()))
            total += a2
            last = max(last, tt)
        t = last + self.lgn(1200, 0.7)
        if rng.random() < 0.6:
            ep.append((col, t, total * rng.uniform(0.95, 1.0), RED, -1, self.ip()))
        else:
            s = rng.uniform(0.4, 0.6)
            ep.append((col, t, self.hr(total * s, 0.5), RED, -1, self.ip()))
            ep.append((col, t + rng.uniform(120, 1800), total * (1 - s) * 0.98, RED, -1,
                       self.ip()))
        self.commit(ep, lab, lo, hi)

    def rapid_cashouts(self, lo, hi, lab):
        rng = self.rng
        w = self.mule(recruit_p=0.4, aged_p=0.2)
        d = self.hr(np.clip(self.lgn(2500, 0.6), 800, 15000), 0.4)
        ep = []
        t = 0.0
        if rng.random() < 0.8:
            ep.append((w, 0.0, d, DEP, -1, self.ip()))
            t = self.lgn(600, 0.8)
        k = int(rng.integers(4, 10))
        wts = rng.uniform(0.6, 1.4, k)
        amts = _human_round(rng, d * rng.uniform(0.9, 1.0) * wts / wts.sum(), 0.6)
        ring = self.ring_ip()
        for i in range(k):
            ep.append((w, t, float(amts[i]), RED, -1, self.ip(ring=ring)))
            t += rng.uniform(120, 1200)
        self.commit(ep, lab, lo, hi)

    def outsized_cashout(self, lo, hi, lab):
        rng = self.rng
        W = self.W
        t0 = float(_sample_times(rng, lo, hi - 4 * 3600, 0, flat=0.35)[0])
        cand = np.flatnonzero((W.kind == RETAIL) & (self.cnt >= 1) & (self.first < t0 - 3600)
                              & (self.med > 0) & (self.med < 300) & ~self.used)
        if cand.size and rng.random() < 0.6:
            w = int(rng.choice(cand))
            self.used[w] = True
            a = float(np.clip(self.med[w] * rng.uniform(30, 120), 6000, 45000))
            ep = [(w, 0.0, self.hr(a, 0.5), RED, -1, self.ip())]
        else:
            w = self.fresh(aged_p=0.25)
            a = self.hr(rng.uniform(6000, 30000), 0.5)
            if rng.random() < 0.5:
                src = self.fresh()
                ep = [(src, 0.0, a, XFER, w, self.ip())]
            else:
                ep = [(w, 0.0, a, DEP, -1, self.ip())]
            ep.append((w, self.lgn(3600, 0.8), a * rng.uniform(0.97, 1.0), RED, -1, self.ip()))
        self.commit(ep, lab, lo, hi, t0=t0)

    def structuring_split(self, lo, hi, lab):
        rng = self.rng
        thr = 10000.0
        n = int(rng.integers(3, 7))
        accts = [self.mule(recruit_p=0.15, kyc_p=0.5) for _ in range(n)]
        col = self.fresh(aged_p=0.3, kyc_p=0.6)
        ring = self.ring_ip()
        ep = []
        for w in accts:
            m = int(rng.integers(1, 4))
            ts = np.sort(rng.uniform(0, 36 * 3600, m))
            amts = _human_round(rng, rng.uniform(0.86 * thr, 0.999 * thr, m), 0.5)
            for t, a in zip(ts, amts, strict=True):
                ep.append((w, float(t), float(a), DEP, -1, self.ip(ring=ring)))
            tot = float(amts.sum())
            t = float(ts[-1]) + self.lgn(4 * 3600, 0.9)
            if rng.random() < 0.7:
                ep.append((w, t, tot * rng.uniform(0.97, 1.0), XFER, col, self.ip(ring=ring)))
            else:
                ep.append((w, t, tot * rng.uniform(0.95, 1.0), RED, -1, self.ip(ring=ring)))
        xin = [r for r in ep if r[3] == XFER]
        if xin and rng.random() < 0.6:
            tot = sum(r[2] for r in xin)
            t = max(r[1] for r in xin) + self.lgn(3 * 3600, 0.9)
            k = int(rng.integers(1, 4))
            for j in range(k):
                ep.append((col, t + j * rng.uniform(600, 7200), tot / k * rng.uniform(0.95, 1.0),
                           RED, -1, self.ip()))
        self.commit(ep, lab, lo, hi)

    def under_3k_repeat(self, lo, hi, lab):
        rng = self.rng
        w = self.mule(recruit_p=0.3, aged_p=0.2, kyc_p=0.5)
        k = int(rng.integers(3, 8))
        span = rng.uniform(0.5, 6) * DAY
        ts = np.sort(rng.uniform(0, span, k))
        amts = _human_round(rng, rng.uniform(2600, 2995, k), 0.4)
        ep = [(w, float(t), float(a), DEP, -1, self.ip()) for t, a in zip(ts, amts, strict=True)]
        tot = float(amts.sum()) * rng.uniform(0.9, 1.0)
        t = float(ts[-1]) + self.lgn(6 * 3600, 0.8)
        u = rng.random()
        if u < 0.4:
            ep.append((w, t, tot, RED, -1, self.ip()))
        elif u < 0.7:
            ep.append((w, t, self.hr(tot * 0.5, 0.5), RED, -1, self.ip()))
            ep.append((w, t + rng.uniform(600, 6 * 3600), tot * 0.5, RED, -1, self.ip()))
        else:
            ep.append((w, t, tot, XFER, self.mule(recruit_p=0.3), self.ip()))
        self.commit(ep, lab, lo, hi)

    def unverified_in_out(self, lo, hi, lab):
        rng = self.rng
        w = self.fresh(aged_p=0.3, kyc_p=0.0)
        d = self.hr(np.clip(self.lgn(9000, 0.6), 3000, 45000), 0.45)
        ep = [(w, 0.0, d, DEP, -1, self.ip())]
        t = rng.uniform(300, 3300)
        u = rng.random()
        if u < 0.5:
            ep.append((w, t, d * rng.uniform(0.97, 1.0), RED, -1, self.ip()))
        elif u < 0.75:
            s = rng.uniform(0.4, 0.6)
            ep.append((w, t * 0.6, self.hr(d * s, 0.5), RED, -1, self.ip()))
            ep.append((w, t, d * (1 - s) * 0.99, RED, -1, self.ip()))
        else:
            r = self.fresh()
            a = d * rng.uniform(0.97, 1.0)
            ep.append((w, t, a, XFER, r, self.ip()))
            ep.append((r, t + self.lgn(3 * 3600, 1.0), a * rng.uniform(0.95, 1.0), RED, -1,
                       self.ip()))
        self.commit(ep, lab, lo, hi)

    def _victim(self, lo, hi):
        rng = self.rng
        t0 = float(_sample_times(rng, lo, hi - 6 * 3600, 0, flat=0.7)[0])
        cand = np.flatnonzero((self.cnt >= 3) & (self.first < t0 - DAY) & ~self.used)
        if cand.size == 0:  # tiny worlds only
            cand = np.flatnonzero((self.cnt >= 1) & ~self.used)
        if cand.size == 0:
            cand = np.arange(self.W.n_legit)
        w = int(rng.choice(cand))
        self.used[w] = True
        return w, t0

    def drain_to_new_payee(self, lo, hi, lab):
        rng = self.rng
        w, t0 = self._victim(lo, hi)
        tot = float(np.clip(max(self.med[w], 50.0) * rng.uniform(3, 20), 800, 20000))
        k = int(rng.integers(1, 4))
        wts = rng.uniform(0.6, 1.4, k)
        amts = _human_round(rng, tot * wts / wts.sum(), 0.5)
        ep, t = [], 0.0
        for i in range(k):
            r = self.fresh(aged_p=0.2)
            ep.append((w, t, float(amts[i]), XFER, r, self.ip(ato=True)))
            if rng.random() < 0.7:
                ep.append((r, t + self.lgn(3600, 1.0), float(amts[i]) * rng.uniform(0.95, 1.0),
                           RED, -1, self.ip()))
            t += rng.uniform(60, 900)
        self.commit(ep, lab, lo, hi, t0=t0)

    def new_ip_cashout(self, lo, hi, lab):
        rng = self.rng
        w, t0 = self._victim(lo, hi)
        tot = float(np.clip(max(self.med[w], 50.0) * rng.uniform(3, 20), 800, 20000))
        k = int(rng.integers(2, 6))
        wts = rng.uniform(0.6, 1.4, k)
        amts = _human_round(rng, tot * wts / wts.sum(), 0.6)
        ip = self.ip(ato=True)
        ep, t = [], 0.0
        for i in range(k):
            ep.append((w, t, float(amts[i]), RED, -1, ip))
            t += rng.uniform(120, 1000)
        self.commit(ep, lab, lo, hi, t0=t0)

    def trust_then_dump(self, lo, hi, lab):
        rng = self.rng
        w = self.fresh(aged_p=0.1, kyc_p=0.55)
        m = int(rng.integers(3, 7))
        span = rng.uniform(4, 18) * DAY
        ts = np.sort(rng.uniform(0, span, m))
        ep = []
        for t in ts:
            a = self.hr(rng.uniform(20, 200), 0.5)
            if rng.random() < 0.6:
                ep.append((w, float(t), a, DEP, -1, self.ip()))
            else:
                ep.append((w, float(t), a, XFER, self.mule(recruit_p=0.5), self.ip()))
        t = span + rng.uniform(0.3, 2) * DAY
        b = self.hr(np.clip(self.lgn(6000, 0.5), 2500, 20000), 0.5)
        ep.append((w, t, b, DEP, -1, self.ip()))
        t += rng.uniform(120, 3000)
        if rng.random() < 0.6:
            r = self.fresh()
            ep.append((w, t, b * rng.uniform(0.95, 1.0), XFER, r, self.ip()))
            ep.append((r, t + self.lgn(2 * 3600, 1.0), b * rng.uniform(0.9, 0.95), RED, -1,
                       self.ip()))
        else:
            ep.append((w, t, b * rng.uniform(0.95, 1.0), RED, -1, self.ip()))
        self.commit(ep, lab, lo, hi)

    def limit_ramp(self, lo, hi, lab):
        rng = self.rng
        w = self.fresh(aged_p=0.15, kyc_p=0.55)
        n = int(rng.integers(4, 8))
        a = rng.uniform(40, 150)
        steps = [a]
        for _ in range(n - 1):
            steps.append(steps[-1] * rng.uniform(1.8, 3.0))
        if steps[-1] < 2500:
            steps[-1] = rng.uniform(2500, 6000)
        steps[-1] = min(steps[-1], 25000)
        ep, t = [], 0.0
        for s in steps:
            d = self.hr(s, 0.5)
            ep.append((w, t, d, DEP, -1, self.ip()))
            ep.append((w, t + self.lgn(2 * 3600, 0.9), d * rng.uniform(0.9, 1.0), RED, -1,
                       self.ip()))
            t += rng.uniform(0.5, 3) * DAY
        self.commit(ep, lab, lo, hi)


# --------------------------------------------------------------------------------------
# assembly


def generate(n_wallets: int = 20000, days: int = 45, holdout_days: int = 10, seed: int = 42,
             fraud_rate: float = 0.015) -> dict[str, pd.DataFrame]:
    """All frames of one dataset: wallets, transactions, new_transactions, labels."""
    if not 0 < holdout_days < days:
        raise ValueError("need 0 < holdout_days < days")
    rng = np.random.default_rng(seed)
    world = _World(rng, n_wallets, days)
    world.build()
    legit = world.rows.arrays()
    keep = (legit["t"] >= 0) & (legit["t"] < world.end)
    legit = {k: v[keep] for k, v in legit.items()}
    n_legit_rows = legit["w"].size

    fr = _Fraud(world, legit)
    split = (days - holdout_days) * DAY
    target = int(round(fraud_rate / max(1e-9, 1 - fraud_rate) * n_legit_rows))
    names = [v for _, v in _FLAT]
    for i, v in enumerate(names):  # every variant in both periods
        getattr(fr, v)(0.0, split, i)
        getattr(fr, v)(split, world.end, i)
    p = np.array([_EPISODE_W[v] for v in names])
    p = p / p.sum()
    while fr.n_rows < target:
        i = int(rng.choice(len(names), p=p))
        getattr(fr, names[i])(0.0, world.end, i)
    fraud = fr.rows.arrays()
    rows = {k: np.concatenate([legit[k], fraud[k]]) for k in legit}

    # wallets table
    n_f = len(fr.f_kyc)
    n_all = world.n_legit + n_f
    kyc = np.concatenate([world.kyc, np.array(fr.f_kyc, np.int64)])
    reg_abs = np.concatenate([np.where(world.is_new, np.nan, world.reg_abs),
                              np.array(fr.f_reg_abs, float)])
    reg_delay = np.concatenate([world.reg_delay, np.array(fr.f_reg_delay, float)])
    t_int = np.floor(rows["t"]).astype(np.int64)
    first = np.full(n_all, np.inf)
    np.minimum.at(first, rows["w"], t_int.astype(float))
    xm = rows["cp"] >= 0
    np.minimum.at(first, rows["cp"][xm], t_int[xm].astype(float))
    first = np.where(np.isfinite(first), first, rng.uniform(0, world.end, n_all))
    reg = np.where(np.isnan(reg_abs), first - np.nan_to_num(reg_delay, nan=DAY), reg_abs)
    reg = np.minimum(reg, first)
    reg_dates = (START + pd.to_timedelta(np.floor(reg), unit="s")).strftime("%Y-%m-%d")
    wallet_ids = _unique_hex(rng, n_all, "w_", 40)

    # IP addresses
    taken: dict[str, None] = {}
    carriers = [_make_ips(rng, 120, [100 + 3 * c, 101 + 3 * c], taken) for c in range(5)]
    carrier_pop = [rng.permutation(1.0 / np.arange(1, 121) ** 0.8) for _ in range(5)]
    carrier_pop = [c / c.sum() for c in carrier_pop]
    vpn = np.array(_make_ips(rng, 200, [45, 104, 138, 185, 192], taken), dtype=object)
    home_octets = [24, 31, 37, 46, 49, 62, 68, 71, 76, 77, 78, 81, 82, 86, 89, 92, 98,
                   109, 112, 116, 122, 151, 176, 178, 182, 188, 190, 201, 203, 212, 217]
    home = np.array(_make_ips(rng, n_all + fr.ring_ips, home_octets, taken), dtype=object)
    ring_ip = home[n_all:]
    home = home[:n_all]
    share = rng.random(n_all) < 0.06  # households sharing a line
    home[share] = home[rng.integers(0, n_all, int(share.sum()))]
    carrier_of = rng.integers(0, 5, n_all)
    cprop = np.concatenate([world.carrier_prop, rng.beta(2.0, 1.6, n_f)])

    n = t_int.size
    code = rows["ip"].copy()
    w = rows["w"]
    u = rng.random(n)
    legit_m = code == IP_LEGIT
    code[legit_m & (u < 0.03)] = IP_VPN
    code[legit_m & (u >= 0.03) & (u < 0.03 + cprop[w] * 0.97)] = IP_CARRIER
    code[code == IP_LEGIT] = IP_HOME
    ips = np.empty(n, dtype=object)
    m = code == IP_HOME
    ips[m] = home[w[m]]
    m = code == IP_VPN
    ips[m] = vpn[rng.integers(0, vpn.size, int(m.sum()))]
    for c in range(5):
        m = (code == IP_CARRIER) & (carrier_of[w] == c)
        pool = np.array(carriers[c], dtype=object)
        ips[m] = pool[rng.choice(pool.size, int(m.sum()), p=carrier_pop[c])]
    m = code >= 10_000_000
    ips[m] = ring_ip[code[m] - 10_000_000]

    tx_ids = _unique_hex(rng, n, "tx_", 48)
    order = np.lexsort((tx_ids.astype(str), t_int))
    ts = (START + pd.to_timedelta(t_int, unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ")
    cp = rows["cp"]
    cp_ids = np.where(cp >= 0, wallet_ids[np.maximum(cp, 0)], "")
    tx = pd.DataFrame({
        "transaction_id": tx_ids,
        "wallet_id": wallet_ids[w],
        "timestamp": np.asarray(ts),
        "amount": np.round(rows["a"], 2),
        "type": TYPE_NAMES[rows["ty"]],
        "ip_address": ips,
        "counterparty_wallet_id": cp_ids,
    }).iloc[order].reset_index(drop=True)
    tx["counterparty_wallet_id"] = tx["counterparty_wallet_id"].replace("", np.nan)
    lab = rows["lab"][order]
    is_new = t_int[order] >= int(split)
    labels = pd.DataFrame({
        "transaction_id": tx["transaction_id"].to_numpy()[lab >= 0],
        "scenario": [_FLAT[i][0] for i in lab[lab >= 0]],
        "variant": [_FLAT[i][1] for i in lab[lab >= 0]],
    })
    wallets = pd.DataFrame({"wallet_id": wallet_ids, "kyc_verified": kyc,
                            "registration_date": np.asarray(reg_dates)})
    wallets = wallets.sort_values("wallet_id", kind="stable").reset_index(drop=True)
    return {
        "wallets": wallets,
        "transactions": tx[~is_new].reset_index(drop=True),
        "new_transactions": tx[is_new].reset_index(drop=True),
        "labels": labels,
    }


def write(frames: dict[str, pd.DataFrame], data_dir) -> None:
    """Write every frame as ``<name>.csv`` into ``data_dir``."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        df.to_csv(data_dir / f"{name}.csv", index=False, float_format="%.2f",
                  lineterminator="\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--wallets", type=int, default=20000)
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument("--holdout-days", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fraud-rate", type=float, default=0.015)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    frames = generate(args.wallets, args.days, args.holdout_days, args.seed, args.fraud_rate)
    write(frames, args.data_dir)
    n_tx = len(frames["transactions"]) + len(frames["new_transactions"])
    log.info("wrote %s: %d wallets, %d + %d transactions, %d fraud rows (%.2f%%)",
             args.data_dir, len(frames["wallets"]), len(frames["transactions"]),
             len(frames["new_transactions"]), len(frames["labels"]),
             100 * len(frames["labels"]) / max(1, n_tx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
