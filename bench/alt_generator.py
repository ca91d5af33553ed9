"""An independent second wallet-activity generator, used only to check that the detector
generalises to data it has never seen.

    .venv/bin/python bench/alt_generator.py --data-dir bench/out/alt/data \
        [--wallets 1500] [--days 45] [--holdout-days 10] [--seed 1] [--fraud-rate 0.015]

Writes the five contract files of SPEC.md (wallets, transactions, new_transactions, logins,
labels) with every optional column. Written without looking at ``data_generator.py`` and
with deliberately different modelling choices:

- wallet segments (retail, merchant, exchange hot wallet, dormant, young) with their own
  weekly rhythm, hour-of-day profile in local time and type mix;
- activity as self-exciting sessions (Poisson session starts, geometric cluster sizes,
  exponential in-session gaps), amounts from a per-wallet Pareto with round-number habits;
- timestamps mix ``Z``, ``+00:00``, the event country's local offset and no offset at all;
- ``--days`` is the whole span, the last ``--holdout-days`` of it go to new_transactions.csv;
- wallets.csv holds the ``--wallets`` population plus the wallets fraudsters create.

Fraud is injected episode by episode and labelled as it is injected (labels.csv carries an
extra ``variant`` column, which readers ignore). Each scenario has three variants and every
variant appears in both periods:

- ``rapid_transfers``: ``peel_chain`` (hops 20-90 min apart peeling 5-15 % off each time),
  ``fan_in`` (many wallets feed a collector that forwards), ``fan_out`` (split over an hour
  or two to never-seen wallets);
- ``redemption_burst``: ``split_day`` (medium redemptions spread over a day), ``dormant_wake``
  (a dormant wallet logs in and redeems far above anything it did), ``quick_burst``;
- ``account_takeover``: ``credential_stuffing`` (failed logins spread over hours from a VPN
  country, success, then a new device pays a brand-new counterparty), ``session_hijack`` (no
  login at all, just a new country/IP/device), ``botnet`` (failed logins from many countries);
- ``suspicious_deposit``: ``smurfing`` (several wallets deposit just under 3,000 or 10,000
  and forward to one collector), ``layering`` (many small deposits, one large transfer out),
  ``pass_through`` (large deposit into a new unverified wallet leaving in two parts).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_WALLETS = 1500
DEFAULT_DAYS = 45
DEFAULT_HOLDOUT_DAYS = 10
DEFAULT_SEED = 1
DEFAULT_FRAUD_RATE = 0.015
# A Monday, so day index modulo 7 is the weekday.
START = np.datetime64("2025-03-03T00:00:00", "s")
DAY = 86_400
MIN = 60
HOUR = 3_600

TYPES = np.array(["deposit", "transfer", "redeem"], dtype=object)
DEPOSIT, TRANSFER, REDEEM = 0, 1, 2

SCENARIOS = ("rapid_transfers", "redemption_burst", "account_takeover", "suspicious_deposit")
VARIANTS = {
    "rapid_transfers": ("peel_chain", "fan_in", "fan_out"),
    "redemption_burst": ("split_day", "dormant_wake", "quick_burst"),
    "account_takeover": ("credential_stuffing", "session_hijack", "botnet"),
    "suspicious_deposit": ("smurfing", "layering", "pass_through"),
}
# Longest time an episode can take, so it is placed wholly inside one period.
MAX_EPISODE_SPAN = 2 * DAY
REPORTING_THRESHOLDS = (3_000.0, 10_000.0)

# code, UTC offset in minutes (no DST), weight as a home country. Deliberately not the usual
# top-50 list: it has half-hour zones and small countries (BT, LS, FJ, MN, SN, MU, ...).
COUNTRIES = [
    ("US", -300, 9), ("GB", 0, 5), ("DE", 60, 5), ("FR", 60, 3), ("NL", 60, 2), ("ES", 60, 3),
    ("IT", 60, 2), ("PL", 60, 3), ("SE", 60, 1), ("CH", 60, 1), ("TR", 180, 4), ("NG", 60, 6),
    ("KE", 180, 3), ("ZA", 120, 2), ("GH", 0, 2), ("EG", 120, 2), ("MA", 60, 1), ("IN", 330, 7),
    ("PK", 300, 3), ("BD", 360, 2), ("ID", 420, 4), ("PH", 480, 4), ("VN", 420, 4),
    ("TH", 420, 2), ("MY", 480, 1), ("SG", 480, 1), ("JP", 540, 2), ("KR", 540, 2),
    ("AU", 600, 2), ("NZ", 720, 1), ("CA", -300, 2), ("MX", -360, 3), ("BR", -180, 5),
    ("AR", -180, 3), ("CO", -300, 2), ("CL", -240, 1), ("UY", -180, 1), ("PE", -300, 1),
    ("AE", 240, 2), ("SA", 180, 1), ("KZ", 300, 1), ("MN", 480, 1), ("UA", 120, 2),
    ("GE", 240, 1), ("AM", 240, 1), ("RS", 60, 1), ("EE", 120, 1), ("LT", 120, 1),
    ("IS", 0, 1), ("FJ", 720, 1), ("BT", 360, 1), ("LS", 120, 1), ("SN", 0, 1), ("MU", 240, 1),
    ("NP", 345, 1), ("IR", 210, 1), ("VE", -240, 1), ("PA", -300, 0), ("SC", 240, 0),
    ("MD", 120, 0), ("LU", 60, 0), ("VG", -240, 0), ("RO", 120, 0),
]
CODES = np.array([c[0] for c in COUNTRIES], dtype=object)
OFFSETS_MIN = np.array([c[1] for c in COUNTRIES])
HOME_WEIGHTS = np.array([c[2] for c in COUNTRIES], dtype=float)
# Where stuffing attacks come from: VPN / hosting heavy jurisdictions.
VPN_COUNTRIES = ["NL", "SE", "CH", "RO", "PA", "SC", "MD", "LU", "VG", "LT"]

TOKENS = np.array(["USDT", "USDC", "ETH", "BTC", "SOL", "TRX", "DAI", "BNB"], dtype=object)
TOKEN_WEIGHTS = np.array([0.38, 0.2, 0.15, 0.12, 0.06, 0.05, 0.02, 0.02])
PLATFORMS = np.array(["ios", "and", "web", "desk"], dtype=object)

# Timestamp spellings, all ISO 8601: Z, +00:00, local offset of the event country, no offset.
TIMESTAMP_STYLE_P = np.array([0.62, 0.2, 0.12, 0.06])

SEGMENT_NAMES = ("retail", "merchant", "exchange", "dormant", "young")
RETAIL, MERCHANT, EXCHANGE, DORMANT, YOUNG = range(5)
SEGMENT_SHARE = np.array([0.665, 0.08, 0.015, 0.12, 0.12])
# Per segment: P(KYC), sessions/day ~ Gamma(shape, scale), mean extra tx per session,
# mean in-session gap (min), Dirichlet concentration over (deposit, transfer, redeem),
# log-median amount scale and its spread, Pareto alpha range, P(login before a session),
# P(session uses one type for all its transactions), P(mobile IP), P(trip), P(IPv6 home).
SEG = {
    "kyc": np.array([0.72, 0.95, 1.0, 0.6, 0.35]),
    "rate_shape": np.array([0.8, 3.0, 20.0, 1.0, 0.7]),
    "rate_scale": np.array([0.9, 1.2, 2.0, 0.01, 1.2]),
    "extra": np.array([0.6, 1.5, 2.0, 0.8, 0.8]),
    "gap_min": np.array([6.0, 10.0, 1.5, 8.0, 5.0]),
    "mix": np.array([[3.5, 4.5, 2.0], [1.5, 3.5, 5.0], [4.0, 4.5, 1.5], [3, 3, 4], [5.0, 3.5, 1.5]]),
    "log_scale": np.log(np.array([40.0, 300.0, 2000.0, 150.0, 60.0])),
    "log_scale_sd": np.array([1.0, 0.8, 0.7, 1.1, 1.1]),
    "alpha_lo": np.array([1.4, 1.6, 1.2, 1.4, 1.4]),
    "alpha_hi": np.array([2.6, 3.0, 1.8, 2.6, 2.6]),
    "login": np.array([0.6, 0.3, 0.02, 0.85, 0.7]),
    "coherent": np.array([0.5, 0.3, 0.1, 0.5, 0.5]),
    "mobile": np.array([0.25, 0.05, 0.0, 0.25, 0.3]),
    "trip": np.array([0.09, 0.06, 0.0, 0.02, 0.05]),
    "ipv6": np.array([0.04, 0.08, 0.2, 0.03, 0.04]),
    "browse": np.array([0.15, 0.05, 0.0, 0.02, 0.2]),
}
# Monday..Sunday activity multipliers.
WEEKLY = np.array([
    [0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 1.2],
    [1.1, 1.1, 1.1, 1.1, 1.2, 0.8, 0.5],
    [1.0, 1.0, 1.0, 1.0, 1.05, 0.9, 0.85],
    [0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 1.2],
    [0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 1.2],
])
TYPE_AMOUNT_MULT = np.array([1.3, 1.0, 1.6])
AMOUNT_CAP = np.array([60_000.0, 120_000.0, 750_000.0, 60_000.0, 40_000.0])
DORMANT_WAKE_P = 0.5
DEVICE_SWITCH_P = 0.06
TYPO_P = 0.05
PAYROLL_P = {MERCHANT: 0.6, EXCHANGE: 0.5}
# Fraud rings reuse the wallets they control across episodes.
RING_REUSE_P = 0.7


def _hour_profiles() -> np.ndarray:
    """Cumulative local hour-of-day distributions per segment, shape (segments, 24)."""
    h = np.arange(24) + 0.5
    evening = 0.15 + np.exp(-((h - 12.5) ** 2) / 8) + 1.4 * np.exp(-((h - 20.5) ** 2) / 12)
    business = 0.05 + np.exp(-((h - 13.5) ** 2) / 18)
    flat = 1.0 + 0.3 * np.sin((h - 9) / 24 * 2 * np.pi)
    prof = np.stack([evening, business, flat, evening, evening])
    return np.cumsum(prof / prof.sum(1, keepdims=True), axis=1)


def _hex(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """``n`` random lowercase hex strings of ``width`` characters."""
    nbytes = (width + 1) // 2
    s = rng.bytes(n * nbytes).hex()
    step = 2 * nbytes
    return np.array([s[i * step : i * step + width] for i in range(n)], dtype=object)


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = _hex(rng, n, 32)
    return np.array(
        [f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{x[16:20]}-{x[20:]}" for x in raw], dtype=object
    )


def _join(*parts) -> np.ndarray:
    """Elementwise string concatenation of object arrays and scalars."""
    def conv(p):
        return p if isinstance(p, str) else np.asarray(p).astype(str).astype(object)

    out = conv(parts[0])
    for p in parts[1:]:
        out = out + conv(p)
    return out


class _World:
    """Per-wallet attributes and the address/device schemes of one generated dataset."""

    def __init__(self, rng: np.random.Generator, n: int, days: int):
        self.rng = rng
        self.n = n
        self.days = days
        self.end = days * DAY
        nc = len(COUNTRIES)
        # Each country gets a broadband /16 and a mobile-carrier /16, from public ranges.
        firsts = np.setdiff1d(np.arange(24, 224), [100, 127, 169, 172, 192, 198, 203])
        self.bb = _join(rng.choice(firsts, nc), ".", rng.integers(0, 256, nc), ".")
        self.mob = _join(rng.choice(firsts, nc), ".", rng.integers(0, 256, nc), ".")
        self.v6 = _join("2a0", rng.integers(1, 10, nc), ":", _hex(rng, nc, 4), ":")
        # Hosting /24 blocks used by attackers.
        self.dc = _join(rng.choice(firsts, nc), ".", rng.integers(0, 256, nc), ".",
                        rng.integers(0, 256, nc), ".")

        # Exact segment sizes, with a few hot wallets and merchants even in tiny worlds.
        sizes = np.floor(SEGMENT_SHARE * n).astype(int)
        sizes[EXCHANGE] = max(sizes[EXCHANGE], 3)
        sizes[MERCHANT] = max(sizes[MERCHANT], 4)
        sizes[RETAIL] += n - sizes.sum()
        seg = rng.permutation(np.repeat(np.arange(5), sizes))
        self.seg = seg
        self.home = rng.choice(nc, size=n, p=HOME_WEIGHTS / HOME_WEIGHTS.sum())
        self.kyc = rng.random(n) < SEG["kyc"][seg]
        reg = -rng.integers(3 * DAY, 900 * DAY, n)
        young = seg == YOUNG
        reg[young] = rng.integers(-3 * DAY, self.end - 2 * DAY, young.sum())
        self.reg = reg
        self.active_from = np.maximum(reg, 0)
        self.rate = rng.gamma(SEG["rate_shape"][seg], SEG["rate_scale"][seg])
        mix = np.stack([rng.dirichlet(SEG["mix"][s]) for s in seg])
        self.type_cum = np.cumsum(mix, axis=1)
        self.scale = np.exp(rng.normal(SEG["log_scale"][seg], SEG["log_scale_sd"][seg]))
        self.alpha = rng.uniform(SEG["alpha_lo"][seg], SEG["alpha_hi"][seg])
        self.token = rng.choice(len(TOKENS), size=n, p=TOKEN_WEIGHTS)

        v6 = rng.random(n) < SEG["ipv6"][seg]
        self.home_ip = np.where(
            v6,
            _join(self.v6[self.home], _hex(rng, n, 4), "::", _hex(rng, n, 3)),
            _join(self.bb[self.home], rng.integers(0, 256, n), ".", rng.integers(1, 255, n)),
        )
        self.device = self.new_devices(n)
        self.device[seg == EXCHANGE] = _join("srv-", _hex(rng, int((seg == EXCHANGE).sum()), 12))
        self.switch_t = np.full(n, np.inf)
        sw = rng.random(n) < DEVICE_SWITCH_P
        self.switch_t[sw] = rng.uniform(0, self.end, sw.sum())
        self.new_device = self.new_devices(n)

        trip = rng.random(n) < SEG["trip"][seg]
        self.trip_start = np.full(n, np.inf)
        self.trip_end = np.full(n, -np.inf)
        self.trip_start[trip] = rng.uniform(0, self.end, trip.sum())
        self.trip_end[trip] = self.trip_start[trip] + rng.uniform(2, 8, trip.sum()) * DAY
        self.trip_country = (self.home + rng.integers(1, nc, n)) % nc
        self.trip_ip = _join(self.mob[self.trip_country], rng.integers(0, 256, n), ".",
                             rng.integers(1, 255, n))
        self.trip_new_device = rng.random(n) < 0.3
        self.trip_device = self.new_devices(n)

        # Dormant wallets sleep, and half of them wake up legitimately for a few days.
        self.wake_start = np.full(n, np.inf)
        self.wake_end = np.full(n, -np.inf)
        wake = (seg == DORMANT) & (rng.random(n) < DORMANT_WAKE_P)
        self.wake_start[wake] = rng.uniform(0, self.end, wake.sum())
        self.wake_end[wake] = self.wake_start[wake] + rng.uniform(1, 4, wake.sum()) * DAY

        # Favourite counterparties, never the wallet itself.
        self.friends = (np.arange(n)[:, None] + rng.integers(1, n, (n, 6))) % n
        self.merchants = np.flatnonzero(seg == MERCHANT)
        pop = rng.pareto(1.2, self.merchants.size) + 1
        self.merchant_p = pop / pop.sum()
        self.exchanges = np.flatnonzero(seg == EXCHANGE)

    def new_devices(self, n: int) -> np.ndarray:
        return _join(self.rng.choice(PLATFORMS, n), "-", _hex(self.rng, n, 10))

    def context(self, w: np.ndarray, t: np.ndarray):
        """IP, country index and device of wallet ``w`` acting at time ``t`` (arrays)."""
        rng = self.rng
        n = w.size
        country = self.home[w].copy()
        ip = self.home_ip[w].copy()
        device = self.device[w].copy()
        sw = t >= self.switch_t[w]
        device[sw] = self.new_device[w[sw]]
        mob = rng.random(n) < SEG["mobile"][self.seg[w]]
        ip[mob] = _join(self.mob[country[mob]], rng.integers(0, 256, mob.sum()), ".",
                        rng.integers(1, 255, mob.sum()))
        tr = (t >= self.trip_start[w]) & (t < self.trip_end[w])
        country[tr] = self.trip_country[w[tr]]
        ip[tr] = self.trip_ip[w[tr]]
        trd = tr & self.trip_new_device[w]
        device[trd] = self.trip_device[w[trd]]
        return ip, country, device


def _empty_rows() -> dict[str, list]:
    return {k: [] for k in ("w", "t", "amount", "type", "cp", "ip", "country", "device", "token",
                            "scenario", "variant")}


def _normal_traffic(world: _World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Legitimate transactions and logins, vectorized; times are seconds from START."""
    rng, n, days = world.rng, world.n, world.days
    seg = world.seg
    dow = np.arange(days) % 7
    day_start = np.arange(days) * DAY
    lam = world.rate[:, None] * WEEKLY[seg][:, dow]
    awake = (day_start[None, :] + DAY > world.wake_start[:, None]) & (
        day_start[None, :] < world.wake_end[:, None])
    lam = np.where(awake, rng.uniform(0.8, 2.5, n)[:, None], lam)
    lam = np.where(day_start[None, :] + DAY <= world.active_from[:, None], 0.0, lam)
    counts = rng.poisson(lam)

    w_s = np.repeat(np.repeat(np.arange(n), days), counts.ravel())
    d_s = np.repeat(np.tile(np.arange(days), n), counts.ravel())
    ns = w_s.size
    cum = _hour_profiles()[seg[w_s]]
    hour = (rng.random(ns)[:, None] > cum).sum(1)
    local = hour * HOUR + rng.integers(0, HOUR, ns)
    start = d_s * DAY + local - OFFSETS_MIN[world.home[w_s]] * MIN
    # Geometric cluster sizes: each transaction triggers another with a fixed probability.
    size = rng.geometric(1 / (1 + SEG["extra"][seg[w_s]]))
    s_ip, s_country, s_dev = world.context(w_s, start)
    s_u = rng.random(ns)

    # Expand sessions into transactions with exponential gaps inside each session.
    sess = np.repeat(np.arange(ns), size)
    w = w_s[sess]
    gap = rng.exponential(SEG["gap_min"][seg[w]] * MIN)
    first = np.r_[0, np.cumsum(size)[:-1]]
    gap[first] = 0
    csum = np.cumsum(gap)
    t = start[sess] + (csum - csum[first][sess])
    t = np.floor(t).astype(np.int64)
    nt = t.size

    u = np.where(rng.random(nt) < SEG["coherent"][seg[w]], s_u[sess], rng.random(nt))
    ttype = (u[:, None] > world.type_cum[w][:, :2]).sum(1)
    amount = world.scale[w] * TYPE_AMOUNT_MULT[ttype] * (1 + rng.pareto(world.alpha[w]))
    big_dep = (ttype == DEPOSIT) & (rng.random(nt) < 0.005)
    amount[big_dep] *= rng.uniform(8, 40, big_dep.sum())
    big_red = (ttype == REDEEM) & (rng.random(nt) < 0.003)
    amount[big_red] *= rng.uniform(5, 20, big_red.sum())
    under = (ttype == DEPOSIT) & (rng.random(nt) < 0.002)
    amount[under] = rng.choice(REPORTING_THRESHOLDS, under.sum()) * rng.uniform(0.9, 0.999,
                                                                                under.sum())
    amount = np.minimum(amount, AMOUNT_CAP[seg[w]])
    nice = (rng.random(nt) < 0.2) & (seg[w] != EXCHANGE) & (amount > 20)
    amount[nice] = np.round(amount[nice] / np.where(amount[nice] > 200, 50, 5)) * np.where(
        amount[nice] > 200, 50, 5)
    amount = np.maximum(np.round(amount, 2), 0.5)

    cp = np.full(nt, -1)
    tr = ttype == TRANSFER
    kind = rng.choice(4, size=nt, p=[0.45, 0.38, 0.1, 0.07])
    friend = world.friends[w, rng.integers(0, 6, nt)]
    merch = rng.choice(world.merchants, nt, p=world.merchant_p)
    exch = rng.choice(world.exchanges, nt)
    anyone = rng.integers(0, n, nt)
    # Hot wallets pay out to anyone; everyone else mostly to friends and merchants.
    kind[seg[w] == EXCHANGE] = 3
    cp_all = np.choose(kind, [friend, merch, exch, anyone])
    cp_all = np.where(cp_all == w, world.friends[w, 0], cp_all)
    cp[tr] = cp_all[tr]
    token = np.where(rng.random(nt) < 0.8, world.token[w],
                     rng.choice(len(TOKENS), nt, p=TOKEN_WEIGHTS))

    tx = pd.DataFrame({"w": w, "t": t, "amount": amount, "type": ttype, "cp": cp,
                       "ip": s_ip[sess], "country": s_country[sess], "device": s_dev[sess],
                       "token": token})
    tx = pd.concat([tx, _payroll(world)], ignore_index=True)

    # Logins: before some sessions (a few typos first) and while browsing.
    has = rng.random(ns) < SEG["login"][seg[w_s]]
    lt = start[has] - rng.integers(30, 15 * MIN, has.sum())
    li = np.flatnonzero(has)
    typo = rng.random(li.size) < TYPO_P
    nf = rng.integers(1, 4, typo.sum())
    f_idx = np.repeat(li[typo], nf)
    f_t = np.repeat(lt[typo], nf) - rng.integers(15, 120, f_idx.size)
    b_counts = rng.poisson(np.where(lam > 0, SEG["browse"][seg][:, None], 0.0))
    b_w = np.repeat(np.repeat(np.arange(n), days), b_counts.ravel())
    b_d = np.repeat(np.tile(np.arange(days), n), b_counts.ravel())
    b_t = b_d * DAY + (rng.random(b_w.size)[:, None] > _hour_profiles()[seg[b_w]]).sum(1) * HOUR \
        + rng.integers(0, HOUR, b_w.size) - OFFSETS_MIN[world.home[b_w]] * MIN
    b_ip, b_country, b_dev = world.context(b_w, b_t)
    logins = pd.DataFrame({
        "w": np.r_[w_s[li], w_s[f_idx], b_w],
        "t": np.r_[lt, f_t, b_t].astype(np.int64),
        "ip": np.r_[s_ip[li], s_ip[f_idx], b_ip],
        "country": np.r_[s_country[li], s_country[f_idx], b_country],
        "device": np.r_[s_dev[li], s_dev[f_idx], b_dev],
        "success": np.r_[np.ones(li.size, int), np.zeros(f_idx.size, int), np.ones(b_w.size, int)],
    })
    keep_tx = (tx["t"] >= world.active_from[tx["w"]]) & (tx["t"] < world.end) & (tx["t"] >= 0)
    keep_lg = (logins["t"] >= world.active_from[logins["w"]]) & (logins["t"] < world.end) & (
        logins["t"] >= 0)
    return tx[keep_tx.to_numpy()], logins[keep_lg.to_numpy()]


def _payroll(world: _World) -> pd.DataFrame:
    """Legit fan-out: businesses pay the same payees every (other) Friday within minutes."""
    rng = world.rng
    payers = [i for i in np.flatnonzero(np.isin(world.seg, list(PAYROLL_P)))
              if rng.random() < PAYROLL_P[int(world.seg[i])]]
    frames = []
    for p in payers:
        pool = np.setdiff1d(np.arange(world.n), np.r_[world.exchanges, p])
        k = min(int(rng.integers(8, 36)), pool.size)
        payees = rng.choice(pool, size=k, replace=False)
        salary = np.exp(rng.normal(np.log(900), 0.5, k))
        every = 1 if rng.random() < 0.3 else 2
        fridays = np.arange(4 + 7 * int(rng.integers(0, every)), world.days, 7 * every)
        if fridays.size == 0:
            continue
        base = fridays * DAY + rng.integers(9 * HOUR, 11 * HOUR, fridays.size) \
            - OFFSETS_MIN[world.home[p]] * MIN
        t = (base[:, None] + np.cumsum(rng.integers(3, 40, (fridays.size, k)), axis=1)).ravel()
        m = t.size
        ip, country, device = world.context(np.full(m, p), t)
        frames.append(pd.DataFrame({
            "w": p, "t": t.astype(np.int64),
            "amount": np.round(np.tile(salary, fridays.size) * rng.uniform(0.97, 1.03, m), 2),
            "type": TRANSFER, "cp": np.tile(payees, fridays.size), "ip": ip, "country": country,
            "device": device, "token": world.token[p]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class _Injector:
    """Builds fraud episodes row by row (a few thousand rows), labelling as it goes."""

    def __init__(self, world: _World):
        self.world = world
        self.rng = world.rng
        self.tx = _empty_rows()
        self.logins: dict[str, list] = {k: [] for k in ("w", "t", "ip", "country", "device",
                                                         "success")}
        # Wallets fraudsters create: index n + k, with these attributes.
        self.new = {"reg": [], "kyc": [], "home": [], "ip": [], "device": []}
        self.scenario = self.variant = ""
        self.in_episode: set[int] = set()

    # -- wallets ---------------------------------------------------------------
    def fresh_wallet(self, first_use: float, kyc_p: float = 0.15) -> int:
        """A wallet the fraud ring controls, new or (usually) reused from earlier episodes."""
        rng = self.rng
        reg = np.asarray(self.new["reg"])
        ready = np.flatnonzero(reg < first_use - HOUR) + self.world.n if reg.size else reg
        ready = np.setdiff1d(ready, list(self.in_episode))
        if ready.size >= 5 and rng.random() < RING_REUSE_P:
            return self.claim(int(rng.choice(ready)))
        return self.brand_new_wallet(first_use, kyc_p)

    def claim(self, wallet: int) -> int:
        """Mark ``wallet`` as used by the current episode, so a chain never loops back."""
        self.in_episode.add(wallet)
        return wallet

    def brand_new_wallet(self, first_use: float, kyc_p: float = 0.15) -> int:
        rng = self.rng
        home = int(rng.choice(len(COUNTRIES), p=HOME_WEIGHTS / HOME_WEIGHTS.sum()))
        self.new["reg"].append(int(first_use - rng.uniform(0.5 * HOUR, 20 * DAY)))
        self.new["kyc"].append(bool(rng.random() < kyc_p))
        self.new["home"].append(home)
        self.new["ip"].append(f"{self.world.mob[home]}{rng.integers(0, 256)}.{rng.integers(1, 255)}")
        self.new["device"].append(str(self.world.new_devices(1)[0]))
        return self.claim(self.world.n + len(self.new["reg"]) - 1)

    def mule(self, t: float) -> int:
        """A young unverified population wallet now and then, else a freshly made one."""
        w = self.world
        cand = np.flatnonzero((w.seg == YOUNG) & ~w.kyc & (w.reg < t - DAY))
        cand = np.setdiff1d(cand, list(self.in_episode))
        if cand.size and self.rng.random() < 0.3:
            return self.claim(int(self.rng.choice(cand)))
        return self.fresh_wallet(t)

    def established(self, t: float, segs=(RETAIL, MERCHANT)) -> int | None:
        w = self.world
        cand = np.flatnonzero(np.isin(w.seg, segs) & (w.reg < t - 3 * DAY))
        cand = np.setdiff1d(cand, list(self.in_episode))
        return self.claim(int(self.rng.choice(cand))) if cand.size else None

    def victim_or_mule(self, t: float) -> int:
        w = self.established(t)
        return self.mule(t) if w is None else w

    def own_context(self, wallet: int, t: float):
        n = self.world.n
        if wallet >= n:
            k = wallet - n
            return self.new["ip"][k], self.new["home"][k], self.new["device"][k]
        ip, c, d = self.world.context(np.array([wallet]), np.array([t]))
        return ip[0], int(c[0]), d[0]

    def token_of(self, wallet: int) -> int:
        if wallet < self.world.n:
            return int(self.world.token[wallet])
        return int(self.rng.choice(len(TOKENS), p=TOKEN_WEIGHTS))

    def scale_of(self, wallet: int) -> float:
        return float(self.world.scale[wallet]) if wallet < self.world.n else 100.0

    # -- rows ------------------------------------------------------------------
    def add(self, wallet, t, amount, ttype, cp=-1, ctx=None):
        ip, country, device = ctx if ctx is not None else self.own_context(wallet, t)
        r = self.tx
        r["w"].append(int(wallet))
        r["t"].append(int(t))
        r["amount"].append(round(max(float(amount), 1.0), 2))
        r["type"].append(ttype)
        r["cp"].append(int(cp))
        r["ip"].append(ip)
        r["country"].append(int(country))
        r["device"].append(device)
        r["token"].append(self.token_of(wallet))
        r["scenario"].append(self.scenario)
        r["variant"].append(self.variant)

    def login(self, wallet, t, ip, country, device, success):
        for k, v in zip(("w", "t", "ip", "country", "device", "success"),
                        (int(wallet), int(t), ip, int(country), device, int(success)),
                        strict=True):
            self.logins[k].append(v)

    # -- rapid_transfers -------------------------------------------------------
    def peel_chain(self, t0):
        rng = self.rng
        amount = float(np.exp(rng.normal(np.log(15_000), 0.6)))
        cur = self.mule(t0)
        self.add(cur, t0, amount, DEPOSIT)
        t = t0 + rng.uniform(5, 40) * MIN
        for _ in range(int(rng.integers(4, 9))):
            peel = amount * rng.uniform(0.05, 0.15)
            self.add(cur, t, peel, TRANSFER, self.fresh_wallet(t))
            nxt = self.mule(t)
            self.add(cur, t + rng.uniform(0.5, 5) * MIN, amount - peel, TRANSFER, nxt)
            amount -= peel
            cur = nxt
            t += rng.uniform(20, 90) * MIN
        self.add(cur, t, amount, REDEEM)

    def fan_in(self, t0):
        rng = self.rng
        collector = self.mule(t0)
        total, last = 0.0, t0
        for _ in range(int(rng.integers(5, 13))):
            src = self.mule(t0)
            d = rng.uniform(300, 2_500)
            td = t0 + rng.uniform(0, 90) * MIN
            self.add(src, td, d, DEPOSIT)
            tf = td + rng.uniform(2, 20) * MIN
            self.add(src, tf, d * rng.uniform(0.97, 1.0), TRANSFER, collector)
            total += d
            last = max(last, tf)
        onward = self.mule(last)
        t = last + rng.uniform(5, 30) * MIN
        self.add(collector, t, total * 0.98, TRANSFER, onward)
        self.add(onward, t + rng.uniform(10, 60) * MIN, total * 0.97, REDEEM)

    def fan_out(self, t0):
        rng = self.rng
        src = self.mule(t0)
        amount = float(np.exp(rng.normal(np.log(8_000), 0.5)))
        self.add(src, t0, amount, DEPOSIT)
        k = int(rng.integers(8, 16))
        t = t0 + rng.uniform(3, 20) * MIN
        for _ in range(k):
            self.add(src, t, amount / k * rng.uniform(0.8, 1.2), TRANSFER, self.fresh_wallet(t))
            t += rng.uniform(2, 12) * MIN

    # -- redemption_burst ------------------------------------------------------
    def split_day(self, t0):
        rng = self.rng
        w = self.victim_or_mule(t0)
        t = t0
        for _ in range(int(rng.integers(6, 13))):
            self.add(w, t, self.scale_of(w) * rng.uniform(3, 8), REDEEM)
            t += rng.uniform(40, 150) * MIN

    def dormant_wake(self, t0):
        rng = self.rng
        w = self.established(t0, segs=(DORMANT,))
        if w is None:
            self.variant = "quick_burst"
            return self.quick_burst(t0)
        ip, country, device = self.own_context(w, t0)
        if rng.random() < 0.5:
            device = str(self.world.new_devices(1)[0])
        self.login(w, t0, ip, country, device, 1)
        t = t0 + rng.uniform(10, 40) * MIN
        total = self.scale_of(w) * rng.uniform(40, 120)
        parts = int(rng.integers(1, 4))
        for share in rng.dirichlet(np.full(parts, 3.0)):
            self.add(w, t, total * share, REDEEM, ctx=(ip, country, device))
            t += rng.uniform(2, 25) * MIN

    def quick_burst(self, t0):
        rng = self.rng
        w = self.victim_or_mule(t0)
        t = t0
        for _ in range(int(rng.integers(4, 9))):
            self.add(w, t, self.scale_of(w) * rng.uniform(6, 20), REDEEM)
            t += rng.uniform(2, 12) * MIN

    # -- account_takeover ------------------------------------------------------
    def _drain(self, victim, t, ctx, n_tx):
        rng = self.rng
        payee = self.fresh_wallet(t)
        for _ in range(n_tx):
            amount = self.scale_of(victim) * rng.uniform(10, 40)
            if rng.random() < 0.25:
                self.add(victim, t, amount, REDEEM, ctx=ctx)
            else:
                self.add(victim, t, amount, TRANSFER, payee, ctx=ctx)
            t += rng.uniform(1, 10) * MIN

    def _attacker_ip(self, country: int) -> str:
        return f"{self.world.dc[country]}{self.rng.integers(2, 254)}"

    def credential_stuffing(self, t0):
        rng = self.rng
        victim = self.established(t0)
        if victim is None:
            self.variant = "session_hijack"
            return self.session_hijack(t0)
        home = int(self.world.home[victim])
        vpn = [c for c in VPN_COUNTRIES if c != CODES[home]]
        country = int(np.flatnonzero(CODES == rng.choice(vpn))[0])
        dev1 = str(self.world.new_devices(1)[0])
        spread = rng.uniform(2, 8) * HOUR
        for tf in np.sort(rng.uniform(0, spread, int(rng.integers(3, 9)))):
            self.login(victim, t0 + tf, self._attacker_ip(country), country, dev1, 0)
        ts = t0 + spread + rng.uniform(1, 20) * MIN
        ip = self._attacker_ip(country)
        self.login(victim, ts, ip, country, dev1, 1)
        dev2 = str(self.world.new_devices(1)[0])
        self._drain(victim, ts + rng.uniform(5, 60) * MIN, (ip, country, dev2),
                    int(rng.integers(2, 6)))

    def session_hijack(self, t0):
        rng = self.rng
        victim = self.victim_or_mule(t0)
        home = self.own_context(victim, t0)[1]
        country = int((home + rng.integers(1, len(COUNTRIES))) % len(COUNTRIES))
        ip = f"{self.world.mob[country]}{rng.integers(0, 256)}.{rng.integers(1, 255)}"
        ctx = (ip, country, str(self.world.new_devices(1)[0]))
        self._drain(victim, t0, ctx, int(rng.integers(2, 5)))

    def botnet(self, t0):
        rng = self.rng
        victim = self.established(t0)
        if victim is None:
            self.variant = "session_hijack"
            return self.session_hijack(t0)
        nc = len(COUNTRIES)
        t = t0
        for _ in range(int(rng.integers(5, 13))):
            c = int(rng.integers(0, nc))
            self.login(victim, t, self._attacker_ip(c), c, str(self.world.new_devices(1)[0]), 0)
            t += rng.uniform(0.5, 4) * MIN
        c = int(rng.integers(0, nc))
        ip = (f"{self.world.v6[c]}{rng.bytes(2).hex()}::{rng.integers(1, 4096):x}"
              if rng.random() < 0.3 else self._attacker_ip(c))
        dev = str(self.world.new_devices(1)[0])
        self.login(victim, t, ip, c, dev, 1)
        self._drain(victim, t + rng.uniform(1, 15) * MIN, (ip, c, dev), int(rng.integers(1, 4)))

    # -- suspicious_deposit ----------------------------------------------------
    def smurfing(self, t0):
        rng = self.rng
        threshold = float(rng.choice(REPORTING_THRESHOLDS))
        collector = self.mule(t0)
        window = rng.uniform(6, 36) * HOUR
        for _ in range(int(rng.integers(3, 6))):
            src = self.mule(t0)
            times = np.sort(t0 + rng.uniform(0, window, int(rng.integers(2, 5))))
            amounts = threshold * rng.uniform(0.9, 0.995, times.size)
            for td, a in zip(times, amounts, strict=True):
                self.add(src, td, a, DEPOSIT)
            self.add(src, times[-1] + rng.uniform(1, 6) * HOUR, amounts.sum() * 0.99, TRANSFER,
                     collector)

    def layering(self, t0):
        rng = self.rng
        w = self.mule(t0)
        times = np.sort(t0 + rng.uniform(0, rng.uniform(12, 30) * HOUR, int(rng.integers(8, 21))))
        amounts = rng.uniform(40, 400, times.size)
        for td, a in zip(times, amounts, strict=True):
            self.add(w, td, a, DEPOSIT)
        out = times[-1] + rng.uniform(10, 90) * MIN
        self.add(w, out, amounts.sum() * 0.97, TRANSFER, self.fresh_wallet(out))

    def pass_through(self, t0):
        rng = self.rng
        w = self.brand_new_wallet(t0, kyc_p=0.0)
        self.new["reg"][-1] = int(t0 - rng.uniform(1, 72) * HOUR)
        amount = rng.uniform(12_000, 90_000)
        self.add(w, t0, amount, DEPOSIT)
        share = rng.uniform(0.4, 0.6)
        t1 = t0 + rng.uniform(20, 240) * MIN
        t2 = t1 + rng.uniform(10, 120) * MIN
        self.add(w, t1, amount * share, TRANSFER, self.mule(t1))
        self.add(w, t2, amount * (1 - share) * 0.99, TRANSFER, self.mule(t2))

    def run(self, scenario: str, variant: str, t0: float) -> None:
        self.scenario, self.variant = scenario, variant
        self.in_episode = set()
        getattr(self, variant)(t0)


def _inject(world: _World, n_normal: int, fraud_rate: float, split: int) -> _Injector:
    """Add episodes until about ``fraud_rate`` of all transactions are fraud; every variant
    appears at least once in each period."""
    rng = world.rng
    inj = _Injector(world)
    periods = [(0, split), (split, world.end)]
    weights = np.array([split, world.end - split], dtype=float)
    target = fraud_rate * n_normal / (1 - fraud_rate) / len(SCENARIOS)

    def place(period):
        lo, hi = period
        return lo + rng.uniform(0, max(hi - lo - MAX_EPISODE_SPAN, 1))

    for scenario in SCENARIOS:
        before = len(inj.tx["w"])
        for variant in VARIANTS[scenario]:
            for period in periods:
                inj.run(scenario, variant, place(period))
        k = 0
        while len(inj.tx["w"]) - before < target:
            variant = VARIANTS[scenario][k % len(VARIANTS[scenario])]
            inj.run(scenario, variant, place(periods[rng.choice(2, p=weights / weights.sum())]))
            k += 1
    return inj


def _timestamps(rng: np.random.Generator, t: np.ndarray, country: np.ndarray) -> np.ndarray:
    """ISO 8601 strings in mixed spellings that all denote the instant ``t``."""
    n = t.size
    utc = START + t.astype("timedelta64[s]")
    style = rng.choice(4, n, p=TIMESTAMP_STYLE_P)
    base = np.datetime_as_string(utc, unit="s").astype(object)
    out = np.where(style == 0, base + "Z", np.where(style == 1, base + "+00:00", base))
    loc = style == 2
    off = OFFSETS_MIN[country[loc]]
    local = np.datetime_as_string(utc[loc] + off.astype("timedelta64[m]"), unit="s").astype(object)
    sign = np.where(off < 0, "-", "+").astype(object)
    a = np.abs(off)
    out[loc] = _join(local, sign, np.char.zfill((a // 60).astype(str), 2), ":",
                     np.char.zfill((a % 60).astype(str), 2))
    return out


def generate(n_wallets: int = DEFAULT_WALLETS, days: int = DEFAULT_DAYS,
             holdout_days: int = DEFAULT_HOLDOUT_DAYS, seed: int = DEFAULT_SEED,
             fraud_rate: float = DEFAULT_FRAUD_RATE) -> dict[str, pd.DataFrame]:
    """The five contract tables as DataFrames (all columns strings/numbers as written)."""
    if n_wallets < 20:
        raise ValueError(f"wallets must be >= 20, got {n_wallets!r}")
    if holdout_days < 2 or days - holdout_days < 2:
        raise ValueError(f"need holdout_days >= 2 and days - holdout_days >= 2, got "
                         f"days={days!r}, holdout_days={holdout_days!r}")
    if not 0 < fraud_rate <= 0.2:
        raise ValueError(f"fraud_rate must be in (0, 0.2], got {fraud_rate!r}")
    rng = np.random.default_rng(seed)
    world = _World(rng, n_wallets, days)
    split = (days - holdout_days) * DAY
    tx, logins = _normal_traffic(world)
    inj = _inject(world, len(tx), fraud_rate, split)

    fraud = pd.DataFrame(inj.tx)
    tx = pd.concat([tx.assign(scenario="", variant=""), fraud], ignore_index=True)
    lg = pd.concat([logins, pd.DataFrame(inj.logins)], ignore_index=True)

    n_all = n_wallets + len(inj.new["reg"])
    home = np.r_[world.home, np.array(inj.new["home"], dtype=int)]
    reg = np.r_[world.reg, np.array(inj.new["reg"], dtype=np.int64)]
    kyc = np.r_[world.kyc, np.array(inj.new["kyc"], dtype=bool)]
    # Registration must precede every event of the wallet, fraud included.
    first = pd.concat([tx[["w", "t"]], lg[["w", "t"]]]).groupby("w")["t"].min()
    reg[first.index.to_numpy()] = np.minimum(reg[first.index.to_numpy()], first.to_numpy() - 60)
    ids = _hex(rng, n_all, 12)
    while len(set(ids)) < n_all:  # astronomically rare, but ids must be unique
        ids = _hex(rng, n_all, 12)
    wallet_ids = _join("0x", ids)

    tx["transaction_id"] = _uuids(rng, len(tx))
    tx = tx.sort_values(["t", "transaction_id"], kind="stable").reset_index(drop=True)
    w_arr = tx["w"].to_numpy()
    cp = tx["cp"].to_numpy()
    t_arr = tx["t"].to_numpy()
    out = pd.DataFrame({
        "transaction_id": tx["transaction_id"].to_numpy(),
        "timestamp": _timestamps(rng, t_arr, tx["country"].to_numpy()),
        "wallet_id": wallet_ids[w_arr],
        "type": TYPES[tx["type"].to_numpy()],
        "amount": tx["amount"].to_numpy().round(2),
        "token": TOKENS[tx["token"].to_numpy()],
        "counterparty_wallet_id": np.where(cp >= 0, wallet_ids[np.maximum(cp, 0)], ""),
        "ip_address": tx["ip"].to_numpy(),
        "country": CODES[tx["country"].to_numpy()],
        "device_id": tx["device"].to_numpy(),
    })
    labels = pd.DataFrame({"transaction_id": out["transaction_id"], "scenario": tx["scenario"],
                           "variant": tx["variant"]})
    labels = labels[labels["scenario"] != ""].reset_index(drop=True)

    lg = lg.assign(login_id=_join("lg_", _hex(rng, len(lg), 14)))
    lg = lg.sort_values(["t", "login_id"], kind="stable").reset_index(drop=True)
    logins_out = pd.DataFrame({
        "login_id": lg["login_id"].to_numpy(),
        "wallet_id": wallet_ids[lg["w"].to_numpy()],
        "timestamp": _timestamps(rng, lg["t"].to_numpy(), lg["country"].to_numpy()),
        "ip_address": lg["ip"].to_numpy(),
        "success": lg["success"].to_numpy().astype(int),
        "country": CODES[lg["country"].to_numpy()],
        "device_id": lg["device"].to_numpy(),
    })
    wallets = pd.DataFrame({
        "wallet_id": wallet_ids,
        "kyc_verified": np.where(kyc, "true", "false"),
        "registration_date": _join(np.datetime_as_string(
            START + reg.astype("timedelta64[s]"), unit="s").astype(object), "Z"),
        "home_country": CODES[home],
    })
    holdout = t_arr >= split
    return {
        "wallets": wallets,
        "transactions": out[~holdout].reset_index(drop=True),
        "new_transactions": out[holdout].reset_index(drop=True),
        "logins": logins_out,
        "labels": labels,
    }


FILES = {"wallets": "wallets.csv", "transactions": "transactions.csv",
         "new_transactions": "new_transactions.csv", "logins": "logins.csv",
         "labels": "labels.csv"}


def write(frames: dict[str, pd.DataFrame], data_dir: Path) -> None:
    """Write the frames as the contract's CSV files into ``data_dir``."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    for key, name in FILES.items():
        frames[key].to_csv(data_dir / name, index=False, float_format="%.2f", lineterminator="\n")


def _summary(frames: dict[str, pd.DataFrame]) -> None:
    for key, name in FILES.items():
        logger.info("%s: %d rows", name, len(frames[key]))
    labels = frames["labels"]
    split_ids = set(frames["new_transactions"]["transaction_id"])
    n_tx = len(frames["transactions"]) + len(frames["new_transactions"])
    logger.info("fraud: %d of %d transactions (%.2f%%)", len(labels), n_tx,
                100 * len(labels) / max(n_tx, 1))
    in_holdout = labels["transaction_id"].isin(split_ids)
    for (scenario, variant), grp in labels.groupby(["scenario", "variant"], sort=True):
        h = int(in_holdout[grp.index].sum())
        logger.info("  %-18s %-20s %5d (train %d, holdout %d)", scenario, variant, len(grp),
                    len(grp) - h, h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="alt_generator.py", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "out" / "alt" / "data")
    parser.add_argument("--wallets", type=int, default=DEFAULT_WALLETS)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--holdout-days", type=int, default=DEFAULT_HOLDOUT_DAYS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--fraud-rate", type=float, default=DEFAULT_FRAUD_RATE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    try:
        frames = generate(args.wallets, args.days, args.holdout_days, args.seed, args.fraud_rate)
    except ValueError as exc:
        parser.error(str(exc))
    write(frames, args.data_dir)
    _summary(frames)
    logger.info("wrote %s in %.1f s", args.data_dir, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
