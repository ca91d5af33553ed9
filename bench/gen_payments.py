"""Synthetic card-like payment network: customers paying merchants, with injected fraud.

The world
---------
About 1,500 customers (``--wallets``) and 300 merchants (one per five customers, at least 60)
over 90 days (``--days``) starting Monday 2024-09-02 (UTC); the last 20 days
(``--holdout-days``) are written to ``new_transactions.csv``, the rest to ``transactions.csv``.
Customers and merchants are both accounts in ``wallets.csv`` with ids of one random format;
merchants are verified and registered years ago, customers are a mix of old and new, verified
and unverified accounts. Merchants originate no rows.

Almost every row is a ``transfer`` from a customer (``wallet_id``) to a merchant
(``counterparty_wallet_id``). A few percent of rows are ``deposit`` (top-ups of prepaid users,
often on paydays), ``redeem`` (ATM-like cash withdrawals in multiples of 20, refund payouts equal
to an earlier purchase, now and then a large cash-out to a bank) and peer-to-peer ``transfer``
rows between customers (bill splits, settle-up bursts to several friends, monthly rent shares).

Merchants belong to categories with their own price ranges: coffee 2-8 USD, transit fares,
vending/parking, fast food, convenience, groceries 20-150, fuel 30-90, pharmacy, restaurants,
retail, online marketplace, digital games (price points 0.99, 1.99, ...), rideshare,
electronics 100-2,500, travel 150-3,000, charity, online subscriptions (the same amount on the
same day every month) and utility bills (monthly). Each merchant prices a little above or below
its category. Each customer has an activity rate (heavy-tailed: from a handful of payments over
the period to ten a day), a spending scale, preferred categories, one to three favourite
merchants per category and a small taste for trying new ones. Traffic follows daily (coffee in
the morning, lunch, dinner, online shopping late) and weekly rhythms (groceries and restaurants
at weekends, commuting on weekdays), pay days (1st, 15th, last business day) and holiday-like
busy days (Black Friday, Cyber Monday, the day before Thanksgiving, local events). About 40% of
rows are under 10 USD.

Each customer has a home IP (shared by households, changed for a few customers mid-period),
uses mobile IPs of one carrier otherwise, public Wi-Fi now and then, and a few use a VPN
most of the time. Customers have one to three devices; some change phone mid-period.
Legitimate irregularities: new accounts, churned and dormant accounts, trips (new IPs, hotel
Wi-Fi, roaming, unfamiliar merchants, hotel bills, cash withdrawals, bookings in advance),
in-app purchase bursts of tiny payments, shopping sprees (more on Black Friday), large one-off
electronics or travel purchases, large cash withdrawals, refunds.

Fraud typologies (``labels.csv``: scenario, variant), every row of an episode labelled
-----------------------------------------------------------------------------------------
account_takeover
  spending_spree   a stolen card/account used from a new device and IP: 4-10 payments within
                   one to three hours at merchants the customer never used (retail, online,
                   electronics, travel), each 8-30x the customer's own median payment (at most
                   1,800 USD); sometimes a small first check payment.
  slow_drain       the same over 2-6 days: 1-3 payments a day at unfamiliar merchants at normal
                   hours, 3-12x the customer's own median; sometimes ends with a transfer to a
                   mule customer.
redemption_burst
  atm_burst        cloned card: 3-8 ATM-like cash withdrawals (100-500, multiples of 20) within
                   a few hours from a new device and IP.
  single_outsized  one cash-out 15-40x the customer's own median payment (250-2,000 USD),
                   from the customer's own device/IP (insider) or a new one, sometimes followed
                   by a smaller second one.
  refund_payout_burst  3-7 refund-like payouts (odd amounts, no matching purchase) within hours.
rapid_transfers
  mule_chain       money deposited into (or taken over from a victim and sent to) a mule
                   account hops through 2-5 mule customer accounts minutes apart, each keeping a
                   small cut, and the last one cashes out.
  fan_out          one account (a funded mule or a taken-over customer; 400-2,000 USD in all)
                   sends similar amounts to 4-10 customer accounts within minutes; most
                   recipients cash out soon after.
  fan_in           4-9 accounts send money (60-600 each, at most 2,000 in all) to one collector
                   within an hour; the collector cashes out or forwards it to another mule.
other_card_testing
  probe_then_spend 5-15 payments under a few USD at as many different merchants (charity,
                   vending, games, convenience) seconds apart, from a new device and IP, then
                   1-3 large payments.
  probe_only       4-12 tiny probes at different merchants and nothing more.
  bin_attack       one device/IP tests 4-10 different customers' cards at one merchant, one or
                   two tiny payments each, seconds apart.
other_merchant_collusion
  refund_cycling   a merchant and 2-5 customers cycle money: payments of 120-900 USD, refunded
                   (redeem of the same or nearly the same amount) hours later, repeated over days.
  funded_ring_payments  ring customers top up their accounts and pay the whole amount to the
                   colluding merchant minutes later, one to three times each.
  split_sale       one customer pays one merchant 3-7 times within minutes, each just under a
                   limit (300, 500 or 1,000 USD).

Fraud uses the same id formats, IP pools, device id format, timestamp grid and amount rules as
normal traffic; victims keep their normal traffic during an episode.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

LOG = logging.getLogger("gen_payments")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT / "bench" / "out" / "gen_payments" / "data"
START = np.datetime64("2024-09-02T00:00:00", "s")  # a Monday
DAY = 86400
DEPOSIT, TRANSFER, REDEEM = 0, 1, 2
TYPE_NAMES = np.array(["deposit", "transfer", "redeem"])

VARIANTS: dict[str, tuple[str, ...]] = {
    "account_takeover": ("spending_spree", "slow_drain"),
    "redemption_burst": ("atm_burst", "single_outsized", "refund_payout_burst"),
    "rapid_transfers": ("mule_chain", "fan_out", "fan_in"),
    "other_card_testing": ("probe_then_spend", "probe_only", "bin_attack"),
    "other_merchant_collusion": ("refund_cycling", "funded_ring_payments", "split_sale"),
}
VARIANT_LIST = [(s, v) for s, vs in VARIANTS.items() for v in vs]
# rough rows per episode, to turn a fraud rate into a number of episodes
EPISODE_ROWS = {
    "spending_spree": 7.8, "slow_drain": 8.4, "atm_burst": 5.5, "single_outsized": 1.3,
    "refund_payout_burst": 5.0, "mule_chain": 5.5, "fan_out": 11.7, "fan_in": 8.0,
    "probe_then_spend": 12.0, "probe_only": 8.0, "bin_attack": 10.5, "refund_cycling": 21.0,
    "funded_ring_payments": 14.0, "split_sale": 5.0,
}

# name: lo, hi, median, scale exponent, hour profile, weekend multiplier, event weight,
# merchant weight
CATEGORY_SPECS = {
    "coffee": (2.0, 8.0, 4.2, 0.3, "morning", 0.7, 0.14, 30),
    "transit": (1.5, 6.0, 2.75, 0.0, "commute", 0.5, 0.07, 6),
    "vending_parking": (0.5, 6.0, 1.8, 0.2, "day", 0.8, 0.05, 12),
    "fast_food": (4.0, 25.0, 9.5, 0.5, "lunch", 1.0, 0.12, 30),
    "convenience": (2.0, 35.0, 8.0, 0.5, "evening", 1.1, 0.08, 20),
    "groceries": (20.0, 150.0, 52.0, 0.8, "evening", 1.4, 0.12, 20),
    "fuel": (30.0, 90.0, 52.0, 0.4, "commute", 1.0, 0.06, 15),
    "pharmacy": (5.0, 80.0, 18.0, 0.6, "day", 0.9, 0.03, 10),
    "restaurants": (15.0, 150.0, 38.0, 0.9, "dinner", 1.4, 0.08, 40),
    "retail": (15.0, 300.0, 55.0, 1.0, "day", 1.5, 0.07, 35),
    "online_marketplace": (5.0, 400.0, 35.0, 1.0, "online", 1.1, 0.08, 15),
    "digital_games": (0.99, 49.99, 2.99, 0.0, "online", 1.3, 0.03, 10),
    "rideshare": (7.0, 60.0, 18.0, 0.6, "night", 1.3, 0.04, 4),
    "electronics": (100.0, 2500.0, 260.0, 1.0, "day", 1.3, 0.01, 12),
    "travel": (150.0, 3000.0, 420.0, 1.0, "online", 0.9, 0.005, 15),
    "charity": (1.0, 100.0, 8.0, 0.7, "online", 1.0, 0.006, 8),
    "subscriptions": (0.99, 49.99, 9.99, 0.0, "online", 1.0, 0.0, 12),
    "utilities": (40.0, 250.0, 95.0, 0.6, "day", 1.0, 0.0, 6),
}
CATS = list(CATEGORY_SPECS)
C = len(CATS)
K = {name: i for i, name in enumerate(CATS)}
_SPEC = np.array([s[:4] for s in CATEGORY_SPECS.values()], dtype=float)
LO, HI, MED, SEXP = _SPEC.T
WEEKEND = np.array([s[5] for s in CATEGORY_SPECS.values()])
EVENT_W = np.array([s[6] for s in CATEGORY_SPECS.values()])
MERCH_W = np.array([s[7] for s in CATEGORY_SPECS.values()])
EVENT_CATS = np.flatnonzero(EVENT_W > 0)

FARES = np.array([1.75, 2.0, 2.25, 2.5, 2.75, 2.9, 3.0, 3.25, 3.5])
GAME_PRICES = np.array([0.99, 1.99, 2.99, 4.99, 9.99, 19.99, 49.99])
GAME_P = np.array([0.3, 0.22, 0.18, 0.14, 0.1, 0.05, 0.01])
PLANS = np.array([1.99, 2.99, 4.99, 6.99, 7.99, 9.99, 10.99, 11.99, 12.99, 14.99, 15.49,
                  17.99, 19.99, 22.99, 29.99, 49.99])
ATM = np.array([20, 40, 60, 80, 100, 120, 140, 160, 200, 240, 300, 400, 500, 600, 800, 1000.0])
ATM_P = np.array([.08, .14, .08, .12, .16, .06, .04, .05, .11, .04, .05, .03, .02, .01, .005,
                  .005])
ATM_P = ATM_P / ATM_P.sum()
ROUND_TOPUPS = np.array([20, 25, 50, 100, 150, 200, 250, 300, 500.0])

HOLIDAYS = {  # date -> category multipliers ("*" multiplies the whole day's volume)
    "2024-09-02": {"coffee": 0.6, "transit": 0.4, "restaurants": 1.5, "retail": 1.6},
    "2024-10-31": {"convenience": 1.8, "retail": 1.4, "restaurants": 1.2},
    "2024-11-11": {"retail": 1.4, "restaurants": 1.2},
    "2024-11-27": {"groceries": 2.3, "fuel": 1.5, "travel": 1.5, "*": 1.1},
    "2024-11-28": {"groceries": 0.5, "coffee": 0.5, "transit": 0.3, "fast_food": 0.6, "*": 0.85},
    "2024-11-29": {"retail": 3.0, "electronics": 4.0, "online_marketplace": 2.5, "*": 1.3},
    "2024-12-02": {"online_marketplace": 3.0, "electronics": 3.0, "retail": 1.3},
    "2024-12-21": {"retail": 2.0, "electronics": 1.8, "online_marketplace": 1.5},
    "2024-12-24": {"groceries": 1.8, "retail": 1.5, "transit": 0.5},
}


def _profile(peaks, floor):
    h = np.arange(24)
    p = np.full(24, floor)
    for mu, sd, wt in peaks:
        d = np.minimum(np.abs(h - mu), 24 - np.abs(h - mu))
        p = p + wt * np.exp(-0.5 * (d / sd) ** 2)
    return p / p.sum()


PROFILES = {
    "morning": _profile([(8, 1.3, 3), (13, 2, 0.8), (16, 2, 0.5)], 0.04),
    "commute": _profile([(8, 1.2, 2.5), (18, 1.5, 2)], 0.05),
    "lunch": _profile([(12.5, 1.2, 3), (19, 1.5, 1.5)], 0.05),
    "evening": _profile([(18, 2, 2.5), (11, 2.5, 1)], 0.06),
    "day": _profile([(14, 3.5, 2)], 0.06),
    "dinner": _profile([(12.5, 1, 1.2), (19.5, 1.5, 2.5)], 0.04),
    "online": _profile([(21, 2.5, 2), (13, 3, 0.8)], 0.25),
    "night": _profile([(22, 3, 2), (9, 2, 1)], 0.2),
}
PROF_NAMES = list(PROFILES)
PROF_MAT = np.array([PROFILES[p] for p in PROF_NAMES])
CAT_PROF = np.array([PROF_NAMES.index(s[4]) for s in CATEGORY_SPECS.values()])
ALL_PROFILE = (EVENT_W[:, None] * PROF_MAT[CAT_PROF]).sum(0)
ALL_PROFILE = ALL_PROFILE / ALL_PROFILE.sum()


# ---------------------------------------------------------------------------------------------
# small helpers


def _alloc(total: int, weights, minimum: int = 1) -> np.ndarray:
    """``total`` split in proportion to ``weights``, each part at least ``minimum``."""
    w = np.asarray(weights, dtype=float)
    base = np.full(len(w), minimum)
    rest = total - base.sum()
    if rest < 0:
        raise ValueError("total too small")
    share = w / w.sum() * rest
    add = np.floor(share).astype(int)
    order = np.argsort(-(share - add), kind="stable")
    add[order[: rest - add.sum()]] += 1
    return base + add


def _prefixes(rng, k: int) -> np.ndarray:
    """``k`` distinct public-looking /16 prefixes as uint32 (a.b.0.0)."""
    out: set[tuple[int, int]] = set()
    while len(out) < k:
        a, b = int(rng.integers(1, 224)), int(rng.integers(0, 256))
        if a in (10, 127, 0) or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168) \
                or (a == 169 and b == 254) or (a == 100 and 64 <= b <= 127) \
                or (a == 198 and b in (18, 19)):
            continue
        out.add((a, b))
    arr = np.array(sorted(out), dtype=np.int64)
    arr = arr[rng.permutation(len(arr))]
    return (arr[:, 0] << 24) | (arr[:, 1] << 16)


def _host(rng, prefix) -> np.ndarray:
    prefix = np.asarray(prefix, dtype=np.int64)
    return prefix | (rng.integers(0, 256, prefix.shape) << 8) | rng.integers(1, 255, prefix.shape)


def _soft(rng, x: float, lo: float, hi: float) -> float:
    """``x`` pulled into [lo, hi] without piling values up on the bounds."""
    if x < lo:
        return lo * float(rng.uniform(1.0, 1.25))
    if x > hi:
        return hi * float(rng.uniform(0.8, 1.0))
    return float(x)


def _hours(rng, prof_idx: np.ndarray) -> np.ndarray:
    out = np.zeros(len(prof_idx), dtype=np.int64)
    for p in np.unique(prof_idx):
        sel = prof_idx == p
        out[sel] = rng.choice(24, size=int(sel.sum()), p=PROF_MAT[p])
    return out


def _amounts(rng, w, cat: np.ndarray, mer: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Payment amounts for merchant-category rows (``mer`` = local merchant index)."""
    lo, hi = LO[cat], HI[cat]
    mu = np.log(MED[cat]) + SEXP[cat] * np.log(scale) + w.m_off[mer]
    sig = (np.log(hi) - np.log(lo)) / 4.2
    a = np.exp(rng.normal(mu, sig))
    for _ in range(3):
        bad = (a < lo) | (a > hi)
        if not bad.any():
            break
        a[bad] = np.exp(rng.normal(mu[bad], sig[bad]))
    bad = (a < lo) | (a > hi)
    a[bad] = np.exp(rng.uniform(np.log(lo[bad]), np.log(hi[bad])))
    sel = cat == K["transit"]
    if sel.any():
        a[sel] = w.m_fare[mer[sel], rng.integers(0, 2, int(sel.sum()))]
        top = sel & (rng.random(len(a)) < 0.06)
        a[top] = rng.choice([10.0, 20.0, 25.0, 40.0, 50.0], int(top.sum()))
    sel = cat == K["digital_games"]
    a[sel] = rng.choice(GAME_PRICES, int(sel.sum()), p=GAME_P)
    sel = (cat == K["vending_parking"]) & (rng.random(len(a)) < 0.4)
    a[sel] = np.maximum(0.25, np.round(a[sel] * 4) / 4)
    sel = (cat == K["charity"]) & (rng.random(len(a)) < 0.5)
    a[sel] = rng.choice([1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0], int(sel.sum()),
                        p=[.12, .12, .22, .22, .14, .08, .06, .04])
    return np.round(a, 2)


def _p2p_amounts(rng, k: int) -> np.ndarray:
    a = np.exp(rng.normal(np.log(32), 0.95, k))
    rnd = rng.random(k) < 0.4
    a[rnd] = np.maximum(5, np.round(a[rnd] / 5) * 5)
    return np.round(np.clip(a, 1, 2000), 2)


def _deposit_amounts(rng, k: int, scale) -> np.ndarray:
    a = np.exp(rng.normal(np.log(110) + 0.6 * np.log(scale), 0.8, k))
    rnd = rng.random(k) < 0.55
    a[rnd] = rng.choice(ROUND_TOPUPS, int(rnd.sum()))
    return np.round(np.clip(a, 5, 5000), 2)


def _rows(c, ts, amt, typ, cp, cat=None, sched=False) -> dict:
    c = np.asarray(c, dtype=np.int64)
    k = len(c)

    def full(x, dtype):
        return np.full(k, x, dtype=dtype) if np.isscalar(x) or x is None else np.asarray(x, dtype)

    return {"c": c, "ts": np.asarray(ts, dtype=np.int64), "amt": np.asarray(amt, float),
            "typ": full(typ, np.int8), "cp": full(cp, np.int64),
            "cat": full(-1 if cat is None else cat, np.int64), "sched": full(sched, bool)}


def _concat(parts: list[dict]) -> dict:
    parts = [p for p in parts if len(p["c"])]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _take(d: dict, idx) -> dict:
    return {k: v[idx] for k, v in d.items()}


# ---------------------------------------------------------------------------------------------
# the world


def _build_world(rng, n: int, m: int, days: int) -> SimpleNamespace:
    w = SimpleNamespace(n=n, m=m, days=days, end=days * DAY)
    # merchants
    counts = _alloc(m, MERCH_W, minimum=2)
    w.m_cat = np.repeat(np.arange(C), counts)
    w.cat_members = [np.flatnonzero(w.m_cat == k) for k in range(C)]
    w.m_pop = np.empty(m)
    for mem in w.cat_members:
        p = (rng.permutation(len(mem)) + 1.0) ** -0.9 * np.exp(rng.normal(0, 0.3, len(mem)))
        w.m_pop[mem] = p / p.sum()
    w.m_off = rng.normal(0, 0.18, m)
    w.m_fare = rng.choice(FARES, size=(m, 2))
    w.m_plans = rng.choice(PLANS, size=(m, 3))
    w.m_bill_hour = rng.integers(0, 9, m)
    w.m_reg = -rng.uniform(365, 12 * 365, m) * DAY

    # customers: life cycle
    new = rng.random(n) < 0.10
    reg_days = np.where(new, rng.uniform(0, max(days - 3, 1), n), -rng.uniform(20, 6 * 365, n))
    w.reg_ts = np.round(reg_days * DAY).astype(np.int64)
    w.is_new = new
    w.kyc = np.where(new, rng.random(n) < 0.55, rng.random(n) < 0.88)
    w.rate = np.clip(np.exp(rng.normal(np.log(0.8), 1.15, n)), 0.02, 14.0)
    w.act_start = np.maximum(w.reg_ts, 0) + np.where(new, rng.exponential(0.7 * DAY, n), 0)
    w.act_end = np.full(n, float(w.end))
    churn = rng.random(n) < 0.05
    w.act_end[churn] = rng.uniform(0.2, 0.95, int(churn.sum())) * w.end
    dorm = rng.random(n) < 0.10
    w.gap0 = np.where(dorm, rng.uniform(0, w.end, n), -1.0)
    w.gap1 = np.where(dorm, w.gap0 + rng.uniform(15, 60, n) * DAY, -1.0)
    # habits
    w.shift = np.clip(np.round(rng.normal(0, 1.1, n)), -3, 3).astype(np.int64)
    w.wpref = np.exp(rng.normal(0, 0.25, n))
    w.scale = np.exp(rng.normal(0, 0.5, n))
    alpha = EVENT_W * 6
    g = rng.gamma(np.where(alpha > 0, alpha, 1.0), 1.0, (n, C)) * (alpha > 0)
    w.pref_cum = np.cumsum(g / g.sum(1, keepdims=True), axis=1)
    w.fav = np.zeros((n, C, 3), dtype=np.int64)
    for k, mem in enumerate(w.cat_members):
        w.fav[:, k, :] = rng.choice(mem, size=(n, 3), p=w.m_pop[mem])
    w.fav_cum = np.cumsum(rng.dirichlet([3.0, 1.2, 0.5], size=(n, C)), axis=-1)
    w.explore = rng.beta(1.5, 14, n)
    # row kinds
    w.prepaid = rng.random(n) < 0.35
    w.p_dep = np.where(w.prepaid, rng.uniform(0.015, 0.05, n), 0.002)
    atm = rng.random(n) < 0.45
    w.p_atm = np.where(atm, rng.uniform(0.015, 0.06, n), 0.003)
    n_ct = rng.choice(5, size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    w.contacts = np.full((n, 4), -1, dtype=np.int64)
    for c in range(n):
        if n_ct[c]:
            others = rng.choice(n - 1, size=n_ct[c], replace=False)
            w.contacts[c, : n_ct[c]] = others + (others >= c)
    # network
    pre = _prefixes(rng, 64)
    w.isp, w.mobile, w.hosting = pre[:38], pre[38:48], pre[48:]
    w.home1 = _host(rng, w.isp[rng.integers(0, len(w.isp), n)])
    w.home2 = _host(rng, w.isp[rng.integers(0, len(w.isp), n)])
    w.ipchg = np.where(rng.random(n) < 0.08, rng.uniform(0, w.end, n), np.inf)
    hh_pairs = []
    for c in np.flatnonzero(rng.random(n) < 0.12):  # households: shared home IP, contacts
        p = int(rng.integers(0, n))
        if p == c:
            continue
        hh_pairs.append((int(c), p))
        w.home1[p] = w.home1[c]
        w.contacts[c, 0], w.contacts[p, 0] = p, c
    w.n_ct = (w.contacts >= 0).sum(1)
    w.p_p2p = np.where(w.n_ct > 0, rng.uniform(0.008, 0.035, n), 0.0)
    w.carrier = w.mobile[rng.integers(0, len(w.mobile), n)]
    w.p_home = rng.beta(4, 1.6, n)
    w.vpn = rng.random(n) < 0.06
    w.vpn_ips = _host(rng, w.hosting[rng.integers(0, len(w.hosting), (n, 3))])
    # devices (a household may share its tablet)
    w.dev_a = np.arange(n)
    has_b = rng.random(n) < 0.4
    w.dev_b = np.full(n, -1)
    w.dev_b[has_b] = n + np.arange(int(has_b.sum()))
    nd = n + int(has_b.sum())
    for c, p in hh_pairs:
        if w.dev_b[c] >= 0 and rng.random() < 0.4:
            w.dev_b[p] = w.dev_b[c]
    pc = rng.random(n) < 0.12
    w.dev_new = np.full(n, -1)
    w.dev_new[pc] = nd + np.arange(int(pc.sum()))
    w.pc_ts = np.where(pc, rng.uniform(0, w.end, n), np.inf)
    w.n_dev = nd + int(pc.sum())
    # calendar
    dates = pd.date_range(str(START)[:10], periods=days, freq="D")
    dow = dates.day_of_week.to_numpy()
    dom = dates.day.to_numpy()
    bme = np.array([d == d + pd.offsets.BMonthEnd(0) for d in dates])
    payday = (dom == 1) | (dom == 15) | bme
    after = np.r_[False, payday[:-1]]
    w.weekend = dow >= 5
    mult = np.where(w.weekend[None, :], WEEKEND[:, None], 1.0) * np.ones((C, days))
    f = (1 + 0.25 * payday + 0.15 * after) * np.where(dow == 4, 1.1, 1) * np.where(dow == 6, 0.85, 1)
    keys = [str(d)[:10] for d in dates]
    for d, key in enumerate(keys):
        for cat, x in HOLIDAYS.get(key, {}).items():
            if cat == "*":
                f[d] *= x
            else:
                mult[K[cat], d] *= x
    for d in rng.choice(days, size=max(1, days // 45), replace=False):  # local events
        for cat, x in (("restaurants", 1.8), ("rideshare", 2.2), ("fast_food", 1.4)):
            mult[K[cat], d] *= x
    w.day_factor, w.mult = f, mult
    w.bf_day = keys.index("2024-11-29") if "2024-11-29" in keys else -1
    w.month_starts = [(ms - pd.Timestamp(str(START)[:10])).days for ms in
                      pd.date_range(pd.Timestamp(str(START)[:10]) - pd.offsets.MonthBegin(1),
                                    periods=days // 28 + 3, freq="MS")]
    return w


def _pick_merchants_pop(rng, w, cat: np.ndarray) -> np.ndarray:
    out = np.zeros(len(cat), dtype=np.int64)
    for k in np.unique(cat):
        sel = cat == k
        mem = w.cat_members[k]
        out[sel] = rng.choice(mem, size=int(sel.sum()), p=w.m_pop[mem])
    return out


def _rand_time(rng, w, c: int, prof: str):
    lo, hi = w.act_start[c], w.act_end[c]
    if hi - lo < DAY:
        return None
    day = int(rng.uniform(lo, hi - 1) // DAY)
    h = int(rng.choice(24, p=PROFILES[prof]))
    return int(day * DAY + (h + w.shift[c]) * 3600 + rng.integers(0, 3600))


# ---------------------------------------------------------------------------------------------
# legitimate traffic


def _base_events(rng, w) -> dict:
    n, days = w.n, w.days
    md = w.mult[EVENT_CATS].max(0)
    lam = (w.rate[:, None] * w.day_factor[None, :] * md[None, :]
           * np.where(w.weekend[None, :], w.wpref[:, None], 1.0))
    mid = (np.arange(days) + 0.5) * DAY
    active = ((mid[None, :] >= w.act_start[:, None] - DAY / 2) & (mid[None, :] < w.act_end[:, None])
              & ~((mid[None, :] >= w.gap0[:, None]) & (mid[None, :] < w.gap1[:, None])))
    counts = rng.poisson(lam * active)
    idx = np.repeat(np.arange(n * days), counts.ravel())
    c, d = idx // days, idx % days
    k = len(c)
    u = rng.random(k)
    dep = u < w.p_dep[c]
    atm = ~dep & (u < w.p_dep[c] + w.p_atm[c])
    p2p = ~dep & ~atm & (u < w.p_dep[c] + w.p_atm[c] + w.p_p2p[c])
    pay = ~(dep | atm | p2p)
    cat = (w.pref_cum[c] < rng.random(k)[:, None]).sum(1)
    cat = np.minimum(cat, C - 1)
    cat = np.where(pay, cat, -1)
    acc = np.where(pay, w.mult[np.maximum(cat, 0), d] / md[d], 1.0 / md[d])
    keep = rng.random(k) < acc
    c, d, cat, dep, atm, p2p, pay = c[keep], d[keep], cat[keep], dep[keep], atm[keep], \
        p2p[keep], pay[keep]
    k = len(c)
    # merchants
    mer = np.full(k, -1, dtype=np.int64)
    pc_ = cat[pay]
    cp_c = c[pay]
    j = np.minimum((w.fav_cum[cp_c, pc_] < rng.random(len(cp_c))[:, None]).sum(1), 2)
    chosen = w.fav[cp_c, pc_, j]
    ex = rng.random(len(cp_c)) < w.explore[cp_c]
    chosen[ex] = _pick_merchants_pop(rng, w, pc_[ex])
    mer[pay] = chosen
    # amounts
    amt = np.zeros(k)
    amt[pay] = _amounts(rng, w, pc_, chosen, w.scale[cp_c])
    amt[dep] = _deposit_amounts(rng, int(dep.sum()), w.scale[c[dep]])
    a = rng.choice(ATM, int(atm.sum()), p=ATM_P)
    big = (w.scale[c[atm]] > 1.5) & (rng.random(len(a)) < 0.3)
    a[big] = np.minimum(a[big] * 2, 1000)
    amt[atm] = a
    amt[p2p] = _p2p_amounts(rng, int(p2p.sum()))
    # counterparties, types
    cp = np.where(pay, w.n + mer, -1)
    nct = np.maximum(w.n_ct[c[p2p]], 1)
    cp[p2p] = w.contacts[c[p2p], (rng.random(int(p2p.sum())) * nct).astype(int)]
    typ = np.where(dep, DEPOSIT, np.where(atm, REDEEM, TRANSFER))
    # times
    prof = np.where(pay, CAT_PROF[np.maximum(cat, 0)],
                    np.where(dep, PROF_NAMES.index("day"), PROF_NAMES.index("evening")))
    ts = d * DAY + (_hours(rng, prof) + w.shift[c]) * 3600 + rng.integers(0, 3600, k)
    return _rows(c, ts, amt, typ, cp, cat)


def _scheduled(rng, w) -> list[dict]:
    """Monthly subscriptions (exact same amount), utility bills and rent shares."""
    n = w.n
    parts = []
    ms = np.array(w.month_starts)

    def monthly(c, dom, sec):
        cc = np.repeat(c, len(ms))
        off = np.tile(ms, len(c)) + np.repeat(dom, len(ms)) - 1
        tt = off * DAY + np.repeat(sec, len(ms)) + rng.integers(0, 300, len(cc))
        ok = (off >= 0) & (off < w.days)
        return cc, tt, ok, np.repeat(np.arange(len(c)), len(ms))

    # subscriptions
    nsub = np.clip(rng.poisson(1.2, n), 0, 5)
    c = np.repeat(np.arange(n), nsub)
    mer = _pick_merchants_pop(rng, w, np.full(len(c), K["subscriptions"]))
    price = w.m_plans[mer, rng.integers(0, 3, len(c))]
    sec = w.m_bill_hour[mer] * 3600 + rng.integers(0, 3600, len(c))
    cc, tt, ok, which = monthly(c, rng.integers(1, 29, len(c)), sec)
    parts.append(_rows(cc[ok], tt[ok], price[which][ok], TRANSFER, w.n + mer[which][ok],
                       K["subscriptions"], True))
    # utilities
    nut = np.where(rng.random(n) < 0.45, 1 + (rng.random(n) < 0.3), 0)
    c = np.repeat(np.arange(n), nut)
    mer = _pick_merchants_pop(rng, w, np.full(len(c), K["utilities"]))
    base = _amounts(rng, w, np.full(len(c), K["utilities"]), mer, w.scale[c])
    sec = rng.integers(8, 20, len(c)) * 3600 + rng.integers(0, 3600, len(c))
    cc, tt, ok, which = monthly(c, rng.integers(1, 29, len(c)), sec)
    amt = np.round(np.clip(base[which] * rng.uniform(0.85, 1.2, len(cc)), 40, 250), 2)
    parts.append(_rows(cc[ok], tt[ok], amt[ok], TRANSFER, w.n + mer[which][ok],
                       K["utilities"], True))
    # rent share to a contact
    has = (w.n_ct > 0) & (rng.random(n) < 0.07)
    c = np.flatnonzero(has)
    rent = np.round(rng.uniform(350, 1500, len(c)) / 50) * 50
    sec = rng.integers(9, 22, len(c)) * 3600 + rng.integers(0, 3600, len(c))
    cc, tt, ok, which = monthly(c, rng.integers(1, 4, len(c)), sec)
    parts.append(_rows(cc[ok], tt[ok], rent[which][ok], TRANSFER, w.contacts[cc[ok], 0],
                       None, True))
    return parts


def _bursts(rng, w) -> tuple[list[dict], list[tuple[int, int, int]]]:
    """Legitimate bursts and one-offs; also the list of trips (customer, start, end)."""
    n, f = w.n, w.days / 90
    L: dict[str, list] = {k: [] for k in ("c", "ts", "amt", "typ", "cp", "cat")}

    def add(c, ts, amt, typ, cp, cat=-1):
        L["c"].append(c)
        L["ts"].append(ts)
        L["amt"].append(amt)
        L["typ"].append(typ)
        L["cp"].append(cp)
        L["cat"].append(cat)

    def amount(c, cat, mer, mul=1.0):
        a = _amounts(rng, w, np.array([cat]), np.array([mer]), np.array([w.scale[c] * mul]))[0]
        return float(a)

    games = K["digital_games"]
    # in-app purchase bursts of tiny payments
    for c in np.flatnonzero(rng.random(n) < 0.12):
        for _ in range(rng.poisson(1.5 * f)):
            t = _rand_time(rng, w, c, "online")
            if t is None:
                continue
            mer = w.fav[c, games, 0] if rng.random() < 0.7 else _pick_merchants_pop(
                rng, w, np.array([games]))[0]
            for _ in range(rng.integers(3, 11)):
                p = float(rng.choice(GAME_PRICES[:4], p=[0.4, 0.3, 0.18, 0.12]))
                add(c, t, p, TRANSFER, w.n + mer, games)
                t += 10 + int(rng.exponential(90))
    # settle-up bursts: several friends paid within minutes
    for c in np.flatnonzero(w.n_ct >= 2):
        for _ in range(rng.poisson(0.25 * f)):
            t = _rand_time(rng, w, c, "evening")
            if t is None:
                continue
            base = float(_p2p_amounts(rng, 1)[0])
            k = int(rng.integers(2, w.n_ct[c] + 1))
            for j in rng.permutation(w.n_ct[c])[:k]:
                add(c, t, round(base * rng.uniform(0.9, 1.1), 2), TRANSFER, w.contacts[c, j])
                t += int(rng.integers(20, 150))
    # shopping sprees (extra on Black Friday)
    spree_cats = np.array([K[x] for x in ("retail", "electronics", "online_marketplace",
                                          "restaurants", "fast_food", "coffee")])
    spree_p = np.array([0.4, 0.08, 0.2, 0.12, 0.1, 0.1])
    for c in np.flatnonzero(w.rate >= 0.2):
        times = [_rand_time(rng, w, c, "day") for _ in range(rng.poisson(0.35 * f))]
        if w.bf_day >= 0 and rng.random() < 0.25 and \
                w.act_start[c] <= w.bf_day * DAY < w.act_end[c]:
            times.append(int(w.bf_day * DAY + rng.integers(8, 20) * 3600))
        for t in times:
            if t is None:
                continue
            for _ in range(rng.integers(3, 8)):
                cat = int(rng.choice(spree_cats, p=spree_p))
                if rng.random() < 0.5:
                    mer = int(_pick_merchants_pop(rng, w, np.array([cat]))[0])
                else:
                    mer = int(w.fav[c, cat, 0])
                add(c, t, amount(c, cat, mer, rng.uniform(1, 1.6)), TRANSFER, w.n + mer, cat)
                t += int(rng.integers(300, 2400))
    # large one-off purchases, large cash-outs
    for c in np.flatnonzero(rng.random(n) < 0.22 * f):
        t = _rand_time(rng, w, c, "day")
        if t is None:
            continue
        cat = K["electronics"] if rng.random() < 0.6 else K["travel"]
        mer = int(_pick_merchants_pop(rng, w, np.array([cat]))[0])
        add(c, t, amount(c, cat, mer, 2.0), TRANSFER, w.n + mer, cat)
    for c in np.flatnonzero(rng.random(n) < 0.08 * f):
        t = _rand_time(rng, w, c, "day")
        if t is None:
            continue
        if rng.random() < 0.5:
            a = float(rng.choice([400, 500, 600, 700, 800, 1000.0]))
        else:
            a = round(float(np.exp(rng.normal(np.log(700), 0.6))), 2)
            a = _soft(rng, a, 150.0, 2800.0)
        add(c, t, a, REDEEM, -1)
    # trips: booking ahead, hotel bill, rideshares, cash
    trips = []
    for c in np.flatnonzero(rng.random(n) < 0.22 * f):
        t = _rand_time(rng, w, c, "morning")
        if t is None:
            continue
        dur = int(rng.integers(2, 9)) * DAY + int(rng.integers(-6, 6)) * 3600
        trips.append((int(c), t, t + dur))
        for _ in range(rng.integers(1, 3)):
            tb = t - int(rng.uniform(2, 45) * DAY) + int(rng.integers(-3, 10)) * 3600
            mer = int(_pick_merchants_pop(rng, w, np.array([K["travel"]]))[0])
            add(c, tb, amount(c, K["travel"], mer), TRANSFER, w.n + mer, K["travel"])
        mer = int(_pick_merchants_pop(rng, w, np.array([K["travel"]]))[0])
        hotel = _soft(rng, amount(c, K["travel"], mer, 0.8), 150.0, 1500.0)
        add(c, t + dur - int(rng.integers(1, 4)) * 3600, hotel, TRANSFER, w.n + mer, K["travel"])
        for _ in range(rng.integers(1, 5)):
            mer = int(_pick_merchants_pop(rng, w, np.array([K["rideshare"]]))[0])
            tr = t + int(rng.uniform(0, dur))
            add(c, tr, amount(c, K["rideshare"], mer), TRANSFER, w.n + mer, K["rideshare"])
        for _ in range(rng.integers(0, 3)):
            add(c, t + int(rng.uniform(0, dur)), float(rng.choice(ATM[1:12])), REDEEM, -1)
    parts = [_rows(L["c"], L["ts"], L["amt"], L["typ"], L["cp"], L["cat"])] if L["c"] else []
    return parts, trips


def _refunds(rng, w, R: dict) -> dict:
    """Returned purchases paid back as redeems of the same (or part of the) amount."""
    p = np.where(np.isin(R["cat"], [K["retail"], K["electronics"], K["online_marketplace"],
                                    K["travel"]]), 0.025, 0.0)
    p = np.where(np.isin(R["cat"], [K["restaurants"], K["groceries"], K["pharmacy"]]), 0.002, p)
    sel = np.flatnonzero(rng.random(len(p)) < p)
    amt = R["amt"][sel].copy()
    part = rng.random(len(sel)) < 0.15
    amt[part] = np.round(amt[part] * rng.uniform(0.3, 0.9, int(part.sum())), 2)
    ts = R["ts"][sel] + (rng.uniform(0.5, 21, len(sel)) * DAY).astype(np.int64)
    return _rows(R["c"][sel], ts, np.maximum(amt, 0.01), REDEEM, -1)


def _legit(rng, w) -> dict:
    sched = _scheduled(rng, w)
    bursts, trips = _bursts(rng, w)
    R = _concat([_base_events(rng, w), *sched, *bursts])
    R = _concat([R, _refunds(rng, w, R)])
    c, ts = R["c"], R["ts"]
    ok = (ts >= w.act_start[c]) & (ts < w.act_end[c]) & (ts >= 0) & (ts < w.end)
    ingap = (ts >= w.gap0[c]) & (ts < w.gap1[c])
    R = _take(R, ok & (~ingap | R["sched"]))
    order = np.lexsort((R["ts"], R["c"]))
    R = _take(R, order)
    c, ts, k = R["c"], R["ts"], len(R["c"])
    # network and devices
    home = np.where(ts >= w.ipchg[c], w.home2[c], w.home1[c])
    mob = _host(rng, w.carrier[c])
    wifi = _host(rng, w.hosting[rng.integers(0, len(w.hosting), k)])
    ip = np.where(rng.random(k) < w.p_home[c], home, np.where(rng.random(k) < 0.92, mob, wifi))
    vm = w.vpn[c] & (rng.random(k) < 0.5)
    ip[vm] = w.vpn_ips[c[vm], rng.integers(0, 3, int(vm.sum()))]
    ip = np.where(R["sched"], home, ip)
    prim = np.where(ts >= w.pc_ts[c], w.dev_new[c], w.dev_a[c])
    sec = w.dev_b[c]
    dev = np.where((sec >= 0) & (rng.random(k) < 0.2) & ~R["sched"], sec, prim)
    # trips: other IPs, unfamiliar merchants
    off = np.searchsorted(c, np.arange(w.n + 1))
    for cust, a, b in trips:
        lo, hi = off[cust], off[cust + 1]
        i0 = lo + np.searchsorted(ts[lo:hi], a)
        i1 = lo + np.searchsorted(ts[lo:hi], b)
        if i1 <= i0:
            continue
        sl = np.arange(i0, i1)
        sl = sl[~R["sched"][sl]]
        hotel = _host(rng, w.hosting[rng.integers(0, len(w.hosting))])
        roam = _host(rng, w.mobile[rng.integers(0, len(w.mobile), len(sl))])
        ip[sl] = np.where(rng.random(len(sl)) < 0.5, hotel, roam)
        pay = sl[(R["cat"][sl] >= 0) & (rng.random(len(sl)) < 0.85)]
        R["cp"][pay] = w.n + _pick_merchants_pop(rng, w, R["cat"][pay])
        if rng.random() < 0.15 and w.dev_b[cust] >= 0:
            dev[sl] = w.dev_b[cust]
    R["ip"], R["dev"] = ip, dev
    return R


# ---------------------------------------------------------------------------------------------
# fraud


class _Fraud:
    def __init__(self, rng, w, R: dict):
        self.rng, self.w = rng, w
        n, m = w.n, w.m
        c, ts = R["c"], R["ts"]
        off = np.searchsorted(c, np.arange(n + 1))
        cnt = np.diff(off)
        self.kth = {}
        for k in (1, 3, 5, 10, 15, 20):
            self.kth[k] = np.where(cnt >= k, ts[np.minimum(off[:-1] + k - 1, len(ts) - 1)],
                                   np.inf)
        pay = (R["typ"] == TRANSFER) & (R["cp"] >= n)
        med = pd.Series(R["amt"][pay]).groupby(c[pay]).median()
        self.med = np.full(n, np.nan)
        self.med[med.index.to_numpy()] = med.to_numpy()
        self.used_codes = np.unique(c[pay] * m + (R["cp"][pay] - n))
        self.victim = np.zeros(n, dtype=bool)
        self.mule_uses = np.zeros(n, dtype=int)
        self.rows: list[tuple] = []
        self.vid, self.hi = 0, w.end

    # -- people, places, times
    def start_time(self, lo: int, hi: int, dur: int) -> int:
        rng = self.rng
        latest = max(lo + 1, hi - dur - 60)
        for _ in range(20):
            day = int(rng.uniform(lo, latest) // DAY)
            h = int(rng.integers(0, 24)) if rng.random() < 0.5 else int(
                rng.choice(24, p=ALL_PROFILE))
            s = day * DAY + h * 3600 + int(rng.integers(0, 3600))
            if lo <= s <= latest:
                return s
        return int(rng.uniform(lo, latest))

    def pick(self, t: int, hist: int, max_med: float | None = None) -> int:
        ok = (self.kth[hist] < t - DAY / 4) & ~self.victim & (self.mule_uses == 0)
        if max_med is not None:
            strict = ok & (self.med <= max_med)
            if strict.any():
                ok = strict
        ok &= ~np.isnan(self.med) if hist >= 5 else True
        cand = np.flatnonzero(ok)
        if len(cand) == 0:
            return -1
        c = int(self.rng.choice(cand))
        self.victim[c] = True
        return c

    def mules(self, t: int, k: int) -> np.ndarray:
        w = self.w
        ok = (w.reg_ts < t - DAY) & ~self.victim & (self.mule_uses < 3)
        cand = np.flatnonzero(ok)
        if len(cand) < k:
            return np.array([], dtype=np.int64)
        wt = np.where(w.is_new[cand] | ~w.kyc[cand], 3.0, 1.0) * np.where(
            w.rate[cand] < 0.3, 2.0, 1.0)
        out = self.rng.choice(cand, size=k, replace=False, p=wt / wt.sum())
        self.mule_uses[out] += 1
        return out

    def new_merchants(self, c: int, cats, k: int, exclude=()) -> np.ndarray:
        w, rng = self.w, self.rng
        allc = np.concatenate([w.cat_members[x] for x in cats])
        codes = c * w.m + allc
        pos = np.minimum(np.searchsorted(self.used_codes, codes), len(self.used_codes) - 1)
        cand = allc[self.used_codes[pos] != codes]
        cand = cand[~np.isin(cand, np.asarray(exclude, dtype=np.int64) - w.n)]
        if len(cand) == 0:
            cand = allc
        p = w.m_pop[cand] ** 0.5
        pick = rng.choice(cand, size=min(k, len(cand)), replace=False, p=p / p.sum())
        if len(pick) < k:
            pick = np.r_[pick, rng.choice(cand, size=k - len(pick))]
        return w.n + pick

    def merchant_for(self, c: int, amount: float, pref, exclude=()) -> int:
        ok = [k for k in pref if LO[k] <= amount <= HI[k]]
        if not ok:
            ok = [K[x] for x in ("retail", "online_marketplace", "electronics", "travel")
                  if LO[K[x]] <= amount <= HI[K[x]]]
        return int(self.new_merchants(c, [int(self.rng.choice(ok))], 1, exclude)[0])

    def fraud_ip(self) -> int:
        w, r = self.w, self.rng.random()
        pool = w.isp if r < 0.45 else (w.mobile if r < 0.8 else w.hosting)
        return int(_host(self.rng, pool[self.rng.integers(0, len(pool))]))

    def new_dev(self) -> int:
        self.w.n_dev += 1
        return self.w.n_dev - 1

    def own_ip(self, c: int, t: int) -> int:
        w = self.w
        if self.rng.random() < 0.75:
            return int(w.home2[c] if t >= w.ipchg[c] else w.home1[c])
        return int(_host(self.rng, w.carrier[c]))

    def own_dev(self, c: int, t: int) -> int:
        w = self.w
        return int(w.dev_new[c] if t >= w.pc_ts[c] else w.dev_a[c])

    def add(self, c, t, amt, typ, cp=-1, ip=None, dev=None):
        ip = self.own_ip(c, t) if ip is None else ip
        dev = self.own_dev(c, t) if dev is None else dev
        self.rows.append((int(c), int(t), max(0.01, round(float(amt), 2)), typ, int(cp),
                          int(ip), int(dev), self.vid, self.hi))

    def gap(self, lo: float, hi: float) -> int:
        return int(self.rng.uniform(lo, hi))

    # -- account_takeover
    def spending_spree(self, lo, hi):
        rng = self.rng
        t = self.start_time(lo, hi, 4 * 3600)
        v = self.pick(t, 15, float(rng.choice([40, 80, 150])))
        if v < 0:
            return False
        ip, dev, med = self.fraud_ip(), self.new_dev(), self.med[v]
        chosen: list[int] = []
        if rng.random() < 0.3:
            mer = self.merchant_for(v, 2.0, [K["charity"]])
            self.add(v, t, rng.uniform(1, 3), TRANSFER, mer, ip, dev)
            chosen.append(mer)
            t += self.gap(60, 900)
        pref = [K[x] for x in ("electronics", "retail", "online_marketplace", "travel")]
        for i in range(int(rng.integers(4, 11))):
            amt = _soft(rng, med * rng.uniform(8, 30), 40.0, 1800.0)
            mer = self.merchant_for(v, amt, pref, chosen)
            chosen.append(mer)
            if i and rng.random() < 0.1:
                ip = self.fraud_ip()
            self.add(v, t, amt, TRANSFER, mer, ip, dev)
            t += 30 + int(rng.exponential(400))
        return True

    def slow_drain(self, lo, hi):
        rng = self.rng
        ndays = int(min(rng.integers(2, 7), max(1, (hi - lo) // DAY - 1)))
        t = self.start_time(lo, hi, (ndays + 1) * DAY)
        v = self.pick(t, 15, float(rng.choice([30, 60, 120])))
        if v < 0:
            return False
        ip, dev, med = self.fraud_ip(), self.new_dev(), self.med[v]
        rotate = rng.random() < 0.5
        pref = [K[x] for x in ("online_marketplace", "retail", "electronics", "restaurants",
                               "rideshare", "groceries")]
        chosen: list[int] = []
        last = t
        for day in range(ndays):
            if rotate and day:
                ip = self.fraud_ip()
            d0 = (t // DAY + day) * DAY
            for h in np.sort(rng.choice(24, size=int(rng.integers(1, 4)), p=ALL_PROFILE)):
                ts = max(t, int(d0 + h * 3600 + rng.integers(0, 3600)))
                amt = _soft(rng, med * rng.uniform(3, 12), 12.0, 900.0)
                mer = self.merchant_for(v, amt, pref, chosen)
                chosen.append(mer)
                self.add(v, ts, amt, TRANSFER, mer, ip, dev)
                last = max(last, ts)
        if rng.random() < 0.35:
            mule = self.mules(last, 1)
            if len(mule):
                self.add(v, last + self.gap(300, 7200), rng.uniform(100, 600), TRANSFER,
                         mule[0], ip, dev)
        return True

    # -- redemption_burst
    def atm_burst(self, lo, hi):
        rng = self.rng
        t = self.start_time(lo, hi, 6 * 3600)
        v = self.pick(t, 10)
        if v < 0:
            return False
        ip, dev = self.fraud_ip(), self.new_dev()
        for _ in range(int(rng.integers(3, 9))):
            amt = rng.choice([100, 160, 200, 240, 300, 400, 500],
                             p=[.1, .1, .25, .1, .2, .15, .1])
            self.add(v, t, amt, REDEEM, -1, ip, dev)
            t += self.gap(120, 2400)
        return True

    def single_outsized(self, lo, hi):
        rng = self.rng
        t = self.start_time(lo, hi, 8 * 3600)
        v = self.pick(t, 20, 60.0)
        if v < 0:
            return False
        amt = _soft(rng, self.med[v] * rng.uniform(15, 40), 250.0, 2000.0)
        if amt <= 1000 and rng.random() < 0.5:
            amt = round(amt / 20) * 20
        own = rng.random() < 0.4
        ip = None if own else self.fraud_ip()
        dev = None if own else self.new_dev()
        self.add(v, t, amt, REDEEM, -1, ip, dev)
        if rng.random() < 0.3:
            self.add(v, t + self.gap(3600, 6 * 3600), amt * rng.uniform(0.2, 0.5), REDEEM, -1,
                     ip, dev)
        return True

    def refund_payout_burst(self, lo, hi):
        rng = self.rng
        t = self.start_time(lo, hi, 8 * 3600)
        v = self.pick(t, 10)
        if v < 0:
            return False
        new = rng.random() < 0.7
        ip = self.fraud_ip() if new else None
        dev = self.new_dev() if new else None
        for _ in range(int(rng.integers(3, 8))):
            amt = _soft(rng, np.exp(rng.normal(np.log(120), 0.7)), 25.0, 600.0)
            self.add(v, t, amt, REDEEM, -1, ip, dev)
            t += self.gap(300, 3600)
        return True

    # -- rapid_transfers
    def _herder(self):
        if self.rng.random() < 0.4:
            return self.fraud_ip(), self.new_dev()
        return None, None

    def _cash_out(self, c, t, amt, ip, dev):
        rng = self.rng
        if rng.random() < 0.5 or amt < 60:
            self.add(c, t, amt * rng.uniform(0.95, 1.0), REDEEM, -1, ip, dev)
            return
        left = amt
        for _ in range(int(rng.integers(1, 4))):
            a = min(500.0, np.floor(left * rng.uniform(0.4, 1.0) / 20) * 20)
            if a < 20:
                break
            self.add(c, t, a, REDEEM, -1, ip, dev)
            left -= a
            t += self.gap(60, 900)

    def mule_chain(self, lo, hi):
        rng = self.rng
        t = self.start_time(lo, hi, 6 * 3600)
        hops = int(rng.integers(2, 6))
        mules = self.mules(t, hops)
        if len(mules) < hops:
            return False
        hip, hdev = self._herder()
        amt = _soft(rng, np.exp(rng.normal(np.log(700), 0.55)), 250.0, 1800.0)
        if rng.random() < 0.6:
            self.add(mules[0], t, amt, DEPOSIT, -1, hip, hdev)
        else:
            v = self.pick(t, 10)
            if v < 0:
                self.add(mules[0], t, amt, DEPOSIT, -1, hip, hdev)
            else:
                self.add(v, t, amt, TRANSFER, mules[0], self.fraud_ip(), self.new_dev())
        for i in range(hops - 1):
            t += self.gap(120, 1500)
            amt *= rng.uniform(0.9, 0.99)
            self.add(mules[i], t, amt, TRANSFER, mules[i + 1], hip, hdev)
        self._cash_out(mules[-1], t + self.gap(300, 3600), amt * rng.uniform(0.9, 1.0), hip,
                       hdev)
        return True

    def fan_out(self, lo, hi):
        rng = self.rng
        t = self.start_time(lo, hi, 6 * 3600)
        r = int(rng.integers(4, 11))
        rec = self.mules(t, r)
        if len(rec) < r:
            return False
        hip, hdev = self._herder()
        total = _soft(rng, np.exp(rng.normal(np.log(1100), 0.45)), 400.0, 2000.0)
        if rng.random() < 0.5:
            hubs = self.mules(t, 1)
            if len(hubs) == 0:
                return False
            hub = int(hubs[0])
            self.add(hub, t, total, DEPOSIT, -1, hip, hdev)
            hub_ip, hub_dev = hip, hdev
            t += self.gap(120, 1800)
        else:
            hub = self.pick(t, 10)
            if hub < 0:
                return False
            hub_ip, hub_dev = self.fraud_ip(), self.new_dev()
        share = total / r
        for c in rec:
            a = _soft(rng, share * rng.uniform(0.85, 1.1), 40.0, 2000.0)
            self.add(hub, t, a, TRANSFER, c, hub_ip, hub_dev)
            if rng.random() < 0.6:
                self._cash_out(c, t + self.gap(600, 3 * 3600), a * rng.uniform(0.8, 1.0), hip,
                               hdev)
            t += self.gap(20, 360)
        return True

    def fan_in(self, lo, hi):
        rng = self.rng
        t = self.start_time(lo, hi, 6 * 3600)
        s = int(rng.integers(4, 10))
        people = self.mules(t, s + 2)
        if len(people) < s + 2:
            return False
        hip, hdev = self._herder()
        coll, onward, senders = people[0], people[1], people[2:]
        window = self.gap(1800, 5400)
        total, last = 0.0, t
        for c in senders:
            a = _soft(rng, np.exp(rng.normal(np.log(200), 0.6)), 60.0, min(600.0, 2000.0 / s))
            ts = t + self.gap(0, window)
            self.add(c, ts, a, TRANSFER, coll, hip, hdev)
            total += a
            last = max(last, ts)
        t2 = last + self.gap(900, 7200)
        if rng.random() < 0.6:
            self._cash_out(coll, t2, total * rng.uniform(0.9, 1.0), hip, hdev)
        else:
            self.add(coll, t2, total * rng.uniform(0.9, 0.99), TRANSFER, onward, hip, hdev)
        return True

    # -- other_card_testing
    def _probe(self, c, t, ip, dev, chosen):
        rng = self.rng
        cat = int(rng.choice([K[x] for x in ("charity", "vending_parking", "digital_games",
                                              "convenience", "coffee")],
                             p=[0.35, 0.25, 0.2, 0.1, 0.1]))
        if cat == K["digital_games"]:
            amt = float(rng.choice([0.99, 1.99]))
        elif cat == K["charity"]:
            amt = float(rng.choice([1.0, 2.0])) if rng.random() < 0.5 else rng.uniform(1, 3)
        elif cat == K["vending_parking"]:
            amt = rng.uniform(0.5, 3)
            if rng.random() < 0.4:
                amt = max(0.25, round(amt * 4) / 4)
        else:
            amt = rng.uniform(2, 3.5)
        mer = int(self.new_merchants(c, [cat], 1, chosen)[0])
        chosen.append(mer)
        self.add(c, t, amt, TRANSFER, mer, ip, dev)

    def _card_test(self, lo, hi, spend: bool):
        rng = self.rng
        t = self.start_time(lo, hi, 3 * 3600)
        v = self.pick(t, 5)
        if v < 0:
            return False
        ip, dev = self.fraud_ip(), self.new_dev()
        chosen: list[int] = []
        for _ in range(int(rng.integers(5, 16) if spend else rng.integers(4, 13))):
            self._probe(v, t, ip, dev, chosen)
            t += self.gap(5, 120)
        if spend:
            t += self.gap(120, 2400)
            pref = [K[x] for x in ("electronics", "online_marketplace", "travel", "retail")]
            for _ in range(int(rng.integers(1, 4))):
                amt = _soft(rng, np.exp(rng.normal(np.log(450), 0.7)), 120.0, 1500.0)
                self.add(v, t, amt, TRANSFER, self.merchant_for(v, amt, pref, chosen), ip, dev)
                t += self.gap(60, 600)
        return True

    def probe_then_spend(self, lo, hi):
        return self._card_test(lo, hi, True)

    def probe_only(self, lo, hi):
        return self._card_test(lo, hi, False)

    def bin_attack(self, lo, hi):
        rng, w = self.rng, self.w
        t = self.start_time(lo, hi, 2 * 3600)
        cat = K["charity"] if rng.random() < 0.6 else K["digital_games"]
        mem = w.cat_members[cat]
        mer = w.n + int(rng.choice(mem))
        ip, dev = self.fraud_ip(), self.new_dev()
        n_v = int(rng.integers(4, 11))
        victims = [self.pick(t, 1) for _ in range(n_v)]
        victims = [v for v in victims if v >= 0]
        if len(victims) < 3:
            return False
        for v in victims:
            for _ in range(int(rng.integers(1, 3))):
                if cat == K["charity"]:
                    amt = rng.uniform(1, 2.5)
                else:
                    amt = float(rng.choice([0.99, 1.99], p=[0.8, 0.2]))
                self.add(v, t, amt, TRANSFER, mer, ip, dev)
                t += self.gap(10, 90)
        return True

    # -- other_merchant_collusion
    def _ring(self, t, k):
        ring = [self.pick(t, 3) for _ in range(k)]
        ring = [c for c in ring if c >= 0]
        shared = (self.fraud_ip(), self.new_dev()) if self.rng.random() < 0.3 else (None, None)
        return ring, shared

    def _colluder(self):
        cat = K[str(self.rng.choice(["retail", "electronics", "online_marketplace"]))]
        return cat, self.w.n + int(self.rng.choice(self.w.cat_members[cat]))

    def refund_cycling(self, lo, hi):
        rng = self.rng
        span = int(min(rng.integers(1, 5), max(1, (hi - lo) // DAY - 2))) * DAY
        t = self.start_time(lo, hi, span + 2 * DAY)
        ring, (ip, dev) = self._ring(t, int(rng.integers(2, 6)))
        if len(ring) < 2:
            return False
        cat, mer = self._colluder()
        lo_a, hi_a = max(LO[cat], 120.0), min(HI[cat], 900.0)
        for c in ring:
            for _ in range(int(rng.integers(2, 5))):
                tp = t + self.gap(0, span)
                amt = round(float(np.exp(rng.uniform(np.log(lo_a), np.log(hi_a)))), 2)
                self.add(c, tp, amt, TRANSFER, mer, ip, dev)
                back = amt if rng.random() < 0.7 else amt * rng.uniform(0.95, 0.99)
                self.add(c, tp + self.gap(3600, 36 * 3600), back, REDEEM, -1, ip, dev)
        return True

    def funded_ring_payments(self, lo, hi):
        rng = self.rng
        span = int(min(rng.integers(1, 4), max(1, (hi - lo) // DAY - 1))) * DAY
        t = self.start_time(lo, hi, span + 3600)
        ring, (ip, dev) = self._ring(t, int(rng.integers(2, 6)))
        if len(ring) < 2:
            return False
        cat, mer = self._colluder()
        for c in ring:
            for _ in range(int(rng.integers(1, 4))):
                td = t + self.gap(0, span)
                dep = _soft(rng, np.exp(rng.normal(np.log(400), 0.5)), 150.0, 1200.0)
                if rng.random() < 0.3:
                    dep = float(rng.choice([200, 250, 300, 400, 500, 1000]))
                dep = _soft(rng, dep, LO[cat], HI[cat])
                self.add(c, td, dep, DEPOSIT, -1, ip, dev)
                amt = _soft(rng, dep * rng.uniform(0.95, 1.0), LO[cat], HI[cat])
                self.add(c, td + self.gap(180, 2700), amt, TRANSFER, mer, ip, dev)
        return True

    def split_sale(self, lo, hi):
        rng, w = self.rng, self.w
        t = self.start_time(lo, hi, 2 * 3600)
        c = self.pick(t, 5)
        if c < 0:
            return False
        if rng.random() < 0.7:
            cat, limit = K["electronics"], float(rng.choice([500, 1000]))
        else:
            cat, limit = K["retail"], 300.0
        mer = w.n + int(rng.choice(w.cat_members[cat]))
        for _ in range(int(rng.integers(3, 8))):
            self.add(c, t, limit - rng.uniform(0.5, limit * 0.08), TRANSFER, mer)
            t += self.gap(30, 240)
        return True


def _inject(rng, w, R: dict, holdout_days: int, fraud_rate: float) -> dict:
    fr = _Fraud(rng, w, R)
    target = fraud_rate / max(1e-9, 1 - fraud_rate) * len(R["c"])
    per_variant = max(2, int(round(target / sum(EPISODE_ROWS.values()))))
    split = (w.days - holdout_days) * DAY
    periods = [(0, split), (split, w.end)]
    n_hold = max(1, int(round(per_variant * holdout_days / w.days)))
    n_train = max(1, per_variant - n_hold)
    jobs = [(vid, p) for vid in range(len(VARIANT_LIST))
            for p, k in ((0, n_train), (1, n_hold)) for _ in range(k)]
    jobs = [jobs[i] for i in rng.permutation(len(jobs))]
    done = np.zeros((len(VARIANT_LIST), 2), dtype=int)
    for vid, p in jobs:
        fn = getattr(fr, VARIANT_LIST[vid][1])
        lo, hi = periods[p]
        fr.vid, fr.hi = vid, hi
        for _ in range(5):
            if fn(lo, hi):
                done[vid, p] += 1
                break
    missing = [VARIANT_LIST[v][1] for v, p in zip(*np.nonzero(done == 0), strict=True)]
    if missing:
        LOG.warning("variants missing in a period: %s", missing)
    rows = np.array(fr.rows, dtype=object) if fr.rows else np.empty((0, 9), dtype=object)
    F = _rows(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2].astype(float),
              rows[:, 3].astype(np.int8), rows[:, 4].astype(np.int64))
    F["ip"] = rows[:, 5].astype(np.int64)
    F["dev"] = rows[:, 6].astype(np.int64)
    F["vid"] = rows[:, 7].astype(np.int64)
    F["ts"] = np.minimum(F["ts"], rows[:, 8].astype(np.int64) - 1)  # never leaves its period
    return F


# ---------------------------------------------------------------------------------------------
# assembly


def _hex_ids(rng, k: int, prefix: str, digits: int) -> np.ndarray:
    vals = np.unique(rng.integers(0, 16 ** digits, size=k + k // 10 + 16))
    while len(vals) < k:
        vals = np.unique(np.r_[vals, rng.integers(0, 16 ** digits, size=k)])
    vals = rng.permutation(vals)[:k]
    return np.array([f"{prefix}{v:0{digits}x}" for v in vals], dtype=object)


def _ip_str(ip: np.ndarray) -> np.ndarray:
    parts = [pd.Series((ip >> s) & 255).astype(str) for s in (24, 16, 8, 0)]
    return (parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3]).to_numpy()


def _iso(sec: np.ndarray) -> np.ndarray:
    s = np.datetime_as_string(START + np.asarray(sec, dtype=np.int64).astype("timedelta64[s]"),
                              unit="s")
    return np.char.add(s.astype(str), "Z").astype(object)


def generate(n_wallets: int = 1500, days: int = 90, holdout_days: int = 20, seed: int = 42,
             fraud_rate: float = 0.015, n_merchants: int | None = None) -> dict[str, pd.DataFrame]:
    """The frames ``wallets``, ``transactions``, ``new_transactions`` and ``labels``."""
    if not 0 < holdout_days < days:
        raise ValueError("need 0 < holdout_days < days")
    if n_wallets < 20:
        raise ValueError("need at least 20 customers")
    rng = np.random.default_rng(seed)
    n_merch = n_merchants or max(60, n_wallets // 5)
    w = _build_world(rng, n_wallets, n_merch, days)
    R = _legit(rng, w)
    R["vid"] = np.full(len(R["c"]), -1, dtype=np.int64)
    F = _inject(rng, w, R, holdout_days, fraud_rate)
    A = _concat([R, {k: F[k] for k in R}])
    A = _take(A, np.lexsort((rng.random(len(A["c"])), A["ts"])))

    wallet_ids = _hex_ids(rng, w.n + w.m, "acct_", 10)
    dev_ids = _hex_ids(rng, w.n_dev, "dev_", 12)
    tx_ids = _hex_ids(rng, len(A["c"]), "tx_", 12)
    cp = np.where(A["cp"] >= 0, wallet_ids[np.maximum(A["cp"], 0)], None)
    tx = pd.DataFrame({
        "transaction_id": tx_ids,
        "wallet_id": wallet_ids[A["c"]],
        "timestamp": _iso(A["ts"]),
        "amount": np.round(A["amt"], 2),
        "type": TYPE_NAMES[A["typ"]],
        "counterparty_wallet_id": cp,
        "ip_address": _ip_str(A["ip"]),
        "device_id": dev_ids[A["dev"]],
    })
    split = (days - holdout_days) * DAY
    train = A["ts"] < split
    fraud = A["vid"] >= 0
    labels = pd.DataFrame({
        "transaction_id": tx_ids[fraud],
        "scenario": [VARIANT_LIST[v][0] for v in A["vid"][fraud]],
        "variant": [VARIANT_LIST[v][1] for v in A["vid"][fraud]],
    })
    reg = np.r_[w.reg_ts, w.m_reg.astype(np.int64)]
    wallets = pd.DataFrame({
        "wallet_id": wallet_ids,
        "kyc_verified": np.r_[w.kyc.astype(int), np.ones(w.m, dtype=int)],
        "registration_date": _iso(reg),
    }).sort_values("wallet_id", kind="stable").reset_index(drop=True)
    return {
        "wallets": wallets,
        "transactions": tx[train].reset_index(drop=True),
        "new_transactions": tx[~train].reset_index(drop=True),
        "labels": labels.reset_index(drop=True),
    }


def write(frames: dict[str, pd.DataFrame], data_dir) -> None:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        df.to_csv(data_dir / f"{name}.csv", index=False, float_format="%.2f", lineterminator="\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--wallets", type=int, default=1500, help="number of customers")
    ap.add_argument("--merchants", type=int, default=None, help="default: wallets / 5, >= 60")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--holdout-days", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fraud-rate", type=float, default=0.015)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    frames = generate(args.wallets, args.days, args.holdout_days, args.seed, args.fraud_rate,
                      args.merchants)
    write(frames, args.data_dir)
    n_tx = len(frames["transactions"]) + len(frames["new_transactions"])
    LOG.info("wrote %s: %d wallets, %d + %d transactions, %d fraud rows (%.2f%%) in %.1f s",
             args.data_dir, len(frames["wallets"]), len(frames["transactions"]),
             len(frames["new_transactions"]), len(frames["labels"]),
             100 * len(frames["labels"]) / max(1, n_tx), time.perf_counter() - t0)
    for (s, v), k in frames["labels"].groupby(["scenario", "variant"]).size().items():
        LOG.info("  %-26s %-22s %5d", s, v, k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
