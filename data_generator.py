"""Generate realistic wallet activity with labelled, injected fraud.

Writes ``wallets.csv``, ``transactions.csv`` (training period), ``new_transactions.csv``
(the last ``--holdout-days``), ``logins.csv`` and ``labels.csv`` into ``--data-dir``.

Normal traffic is drawn vectorized, wallet by wallet parameters first and then every
session and transaction at once. Fraud is injected afterwards, episode by episode, and
each injected transaction is recorded in ``labels.csv`` as it is written; labels never
appear in the transaction files. The seed alone decides every byte of the output.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent

# --- tunables --------------------------------------------------------------------------
DEFAULT_WALLETS = 2000
DEFAULT_DAYS = 60
DEFAULT_HOLDOUT_DAYS = 14
DEFAULT_SEED = 42
DEFAULT_FRAUD_RATE = 0.015
MAX_FRAUD_RATE = 0.2
# A fixed start keeps the output a function of the seed alone.
DEFAULT_START = "2026-01-01T00:00:00Z"

YOUNG_WALLET_SHARE = 0.15          # wallets that register during the period
KYC_RATE_OLD, KYC_RATE_YOUNG = 0.72, 0.45   # about two thirds verified overall
TX_RATE_MEDIAN = 1.4               # transactions per active day, per-wallet log-normal
TX_RATE_SIGMA = 1.3
TX_RATE_RANGE = (0.01, 80.0)
DORMANT_SHARE = 0.10               # wallets that barely act
AMOUNT_MEDIAN = 120.0              # USD; per-wallet medians spread log-normally around it
AMOUNT_MEDIAN_SIGMA = 1.2
AMOUNT_MEDIAN_RANGE = (8.0, 6000.0)
TYPE_NAMES = np.array(["deposit", "transfer", "redeem"], dtype=object)
DEPOSIT, TRANSFER, REDEEM = 0, 1, 2
TYPE_AMOUNT_SHIFT = np.array([0.3, 0.0, 0.15])     # log-USD, deposits run a bit larger
LEGIT_LARGE_P = 0.004              # legitimate big deposits/redemptions, 5-30x the norm
TOKENS = np.array(["USDT", "USDC", "ETH", "BTC", "SOL"], dtype=object)
TOKEN_ALPHA = np.array([2.1, 1.4, 1.05, 0.85, 0.45])
EXTRA_TX_PER_SESSION = 0.6         # session size is 1 + Poisson(this)
LOGIN_ONLY_SHARE = 0.3             # sessions without a transaction, per transaction session
BURST_SESSION_P = 0.008            # legitimate bursts of transfers to known contacts
FAILED_LOGIN_P = 0.035             # typo before a successful login
KNOWN_CONTACT_P = 0.92             # transfers to the wallet's own contact list
MAX_CONTACTS = 8
TRIP_P = 0.12                      # wallets with one trip abroad in the period
VPN_USER_P, VPN_USER_SESSION_P, VPN_OTHER_SESSION_P = 0.06, 0.3, 0.003
NEW_DEVICE_SESSION_P = 0.008
DEVICE_SWITCH_P = 0.08             # wallets that change phone during the period
STRUCTURING_THRESHOLD = 10_000.0   # USD reporting threshold that structuring stays under

# Daily rhythm by local hour: quiet nights, busy evenings.
RHYTHM = np.array([0.6, 0.4, 0.3, 0.25, 0.25, 0.4, 0.9, 1.8, 3.0, 4.0, 4.5, 4.6,
                   4.8, 4.6, 4.4, 4.4, 4.6, 5.0, 5.4, 5.6, 5.2, 4.2, 2.8, 1.4])
RHYTHM = RHYTHM / RHYTHM.sum()

# code, UTC offset (minutes), latitude, longitude, share of users
_COUNTRY_TABLE = [
    ("US", -300, 39.8, -98.6, 14), ("CA", -300, 56.0, -96.0, 3), ("MX", -360, 23.6, -102.5, 3),
    ("BR", -180, -14.2, -51.9, 5), ("AR", -180, -38.4, -63.6, 2), ("CO", -300, 4.6, -74.3, 2),
    ("GB", 0, 54.0, -2.0, 5), ("IE", 0, 53.4, -8.2, 1), ("FR", 60, 46.2, 2.2, 4),
    ("DE", 60, 51.2, 10.4, 5), ("NL", 60, 52.1, 5.3, 2), ("BE", 60, 50.5, 4.5, 1),
    ("ES", 60, 40.5, -3.7, 3), ("IT", 60, 41.9, 12.6, 3), ("PT", 0, 39.4, -8.2, 1),
    ("PL", 60, 51.9, 19.1, 2), ("SE", 60, 60.1, 18.6, 1), ("NO", 60, 60.5, 8.5, 1),
    ("CH", 60, 46.8, 8.2, 1), ("AT", 60, 47.5, 14.6, 1), ("TR", 180, 39.0, 35.0, 3),
    ("RU", 180, 55.8, 37.6, 3), ("UA", 120, 48.4, 31.2, 2), ("RO", 120, 45.9, 24.9, 1),
    ("NG", 60, 9.1, 8.7, 3), ("ZA", 120, -30.6, 22.9, 2), ("EG", 120, 26.8, 30.8, 2),
    ("KE", 180, -0.02, 37.9, 1), ("MA", 60, 31.8, -7.1, 1), ("AE", 240, 23.4, 53.8, 2),
    ("SA", 180, 23.9, 45.1, 2), ("IL", 120, 31.0, 34.9, 1), ("IN", 330, 20.6, 79.0, 8),
    ("PK", 300, 30.4, 69.3, 2), ("BD", 360, 23.7, 90.4, 2), ("SG", 480, 1.35, 103.8, 2),
    ("MY", 480, 4.2, 102.0, 2), ("TH", 420, 15.9, 101.0, 2), ("VN", 420, 14.1, 108.3, 3),
    ("ID", 420, -0.8, 113.9, 4), ("PH", 480, 12.9, 121.8, 3), ("CN", 480, 35.9, 104.2, 4),
    ("HK", 480, 22.3, 114.2, 1), ("TW", 480, 23.7, 121.0, 1), ("JP", 540, 36.2, 138.3, 3),
    ("KR", 540, 35.9, 127.8, 3), ("AU", 600, -25.3, 133.8, 2), ("NZ", 720, -40.9, 174.9, 1),
]
COUNTRIES = np.array([c[0] for c in _COUNTRY_TABLE], dtype=object)
_UTC_OFFSET_S = np.array([c[1] * 60 for c in _COUNTRY_TABLE], dtype=np.int64)
_COUNTRY_P = np.array([c[4] for c in _COUNTRY_TABLE], dtype=float)
_COUNTRY_P /= _COUNTRY_P.sum()
_VPN_COUNTRIES = np.flatnonzero(np.isin(COUNTRIES, ["US", "NL", "DE", "GB", "SG", "CH", "SE", "CA"]))
_VPN_POOL_SIZE = 64


def _travel_hours_matrix() -> np.ndarray:
    lat = np.radians([c[2] for c in _COUNTRY_TABLE])
    lon = np.radians([c[3] for c in _COUNTRY_TABLE])
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.sqrt(a))
    # Airliner speed plus airport time; staying in the same country costs nothing.
    hours = km / 800.0 + 2.0
    np.fill_diagonal(hours, 0.0)
    return hours


TRAVEL_HOURS = _travel_hours_matrix()

# Each country owns two first octets, so an IP always maps to one country and fraud
# draws its IPs from exactly the same ranges as everyone else.
_ALLOWED_OCTETS = [o for o in range(11, 224) if o not in {10, 100, 127, 169, 172, 192, 198}]
_FIRST_OCTETS = np.array(_ALLOWED_OCTETS[: 2 * len(COUNTRIES)], dtype=np.int64).reshape(-1, 2)
_OCTET_COUNTRY = np.full(256, -1, dtype=np.int64)
_OCTET_COUNTRY[_FIRST_OCTETS.ravel()] = np.repeat(np.arange(len(COUNTRIES)), 2)

SCENARIOS = {
    "rapid_transfers": ("mule_chain", "fan_out"),
    "redemption_burst": ("burst", "large"),
    "account_takeover": ("failed_logins", "new_location"),
    "suspicious_deposit": ("structuring", "pass_through"),
}

WALLET_COLUMNS = ["wallet_id", "kyc_verified", "registration_date", "home_country"]
TRANSACTION_COLUMNS = ["transaction_id", "wallet_id", "timestamp", "amount", "type", "ip_address",
                       "counterparty_wallet_id", "token", "country", "device_id"]
LOGIN_COLUMNS = ["login_id", "wallet_id", "timestamp", "ip_address", "success", "country",
                 "device_id"]
LABEL_COLUMNS = ["transaction_id", "scenario"]
FILES = {"wallets": "wallets.csv", "transactions": "transactions.csv",
         "new_transactions": "new_transactions.csv", "logins": "logins.csv",
         "labels": "labels.csv"}


def ip_country(ip: np.ndarray) -> np.ndarray:
    """Country index of integer IPv4 addresses (the generator's own IP plan)."""
    return _OCTET_COUNTRY[(np.asarray(ip, dtype=np.int64) >> 24) & 255]


def _random_ips(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    country = np.asarray(country, dtype=np.int64)
    o1 = _FIRST_OCTETS[country, rng.integers(0, 2, country.shape)]
    rest = rng.integers(0, 1 << 16, country.shape) << 8 | rng.integers(1, 255, country.shape)
    return o1 << 24 | rest


def _random_devices(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(1 << 40, 1 << 48, shape, dtype=np.int64)


def _pick_weighted_slot(rng: np.random.Generator, n_slots: np.ndarray) -> np.ndarray:
    # Skewed towards slot 0: most activity comes from the main phone / home network.
    return np.minimum((n_slots * rng.random(n_slots.shape) ** 1.8).astype(np.int64), n_slots - 1)


# --- wallets -------------------------------------------------------------------------------

@dataclass
class _World:
    n: int
    start_s: int
    holdout_s: int
    end_s: int
    home: np.ndarray
    kyc: np.ndarray
    reg_s: np.ndarray
    active_from: np.ndarray
    young: np.ndarray
    rate: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    type_cum: np.ndarray
    token_cum: np.ndarray
    round_p: np.ndarray
    rhythm_shift: np.ndarray
    n_ip: np.ndarray
    ips: np.ndarray
    n_dev: np.ndarray
    devices: np.ndarray
    switch_s: np.ndarray
    switch_dev: np.ndarray
    n_contacts: np.ndarray
    contacts: np.ndarray
    trip_dest: np.ndarray
    trip_t: np.ndarray
    trip_ips: np.ndarray
    vpn_user: np.ndarray
    vpn_pool: np.ndarray


def _make_world(rng: np.random.Generator, n: int, start_s: int, holdout_s: int,
                end_s: int) -> _World:
    period = end_s - start_s
    home = rng.choice(len(COUNTRIES), n, p=_COUNTRY_P)
    young = rng.random(n) < YOUNG_WALLET_SHARE
    reg_young = start_s + (rng.random(n) * max(period - 86400, 3600)).astype(np.int64)
    reg_old = start_s - rng.integers(86400, 730 * 86400, n)
    reg_s = np.where(young, reg_young, reg_old)
    kyc = (rng.random(n) < np.where(young, KYC_RATE_YOUNG, KYC_RATE_OLD)).astype(np.int8)
    rate = np.exp(rng.normal(np.log(TX_RATE_MEDIAN), TX_RATE_SIGMA, n))
    rate = np.where(rng.random(n) < DORMANT_SHARE, rate * 0.05, rate)
    rate = np.clip(rate, *TX_RATE_RANGE)
    mu = np.clip(rng.normal(np.log(AMOUNT_MEDIAN), AMOUNT_MEDIAN_SIGMA, n),
                 *np.log(AMOUNT_MEDIAN_RANGE))
    sigma = rng.uniform(0.35, 1.0, n)
    type_p = rng.dirichlet([3.0, 4.5, 2.5], n)
    if n == 1:
        type_p[:, TRANSFER] = 0.0       # nobody to send to
        type_p /= type_p.sum(axis=1, keepdims=True)
    token_p = rng.dirichlet(TOKEN_ALPHA, n)
    n_ip = rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15])
    n_dev = rng.choice([1, 2, 3], n, p=[0.55, 0.33, 0.12])
    switch = rng.random(n) < DEVICE_SWITCH_P
    switch_s = np.where(switch, start_s + (rng.random(n) * period).astype(np.int64), end_s + 1)
    n_contacts = rng.integers(1, MAX_CONTACTS + 1, n)
    contacts = (np.arange(n)[:, None] + 1 + rng.integers(0, max(n - 1, 1), (n, MAX_CONTACTS))) % n

    # One trip abroad for some wallets, to a destination weighted by size and closeness.
    trip = rng.random(n) < TRIP_P
    dest_w = _COUNTRY_P[None, :] * np.exp(-TRAVEL_HOURS / 6.0)
    dest_w[np.arange(len(COUNTRIES)), np.arange(len(COUNTRIES))] = 0.0
    dest_cum = np.cumsum(dest_w / dest_w.sum(axis=1, keepdims=True), axis=1)[home]
    dest = np.minimum((rng.random(n)[:, None] > dest_cum).sum(axis=1), len(COUNTRIES) - 1)
    flight = (TRAVEL_HOURS[home, dest] * rng.uniform(1.05, 1.5, n) * 3600).astype(np.int64)
    active_from = np.maximum(reg_s, start_s)
    leave = active_from + (rng.random(n) * np.maximum(end_s - active_from - 3 * 86400, 0)).astype(np.int64)
    stay = rng.integers(2 * 86400, 10 * 86400, n)
    trip_t = np.stack([leave, leave + flight, leave + flight + stay,
                       leave + 2 * flight + stay], axis=1)
    trip_dest = np.where(trip, dest, -1)

    vpn_pool = _random_ips(rng, rng.choice(_VPN_COUNTRIES, _VPN_POOL_SIZE))
    return _World(
        n=n, start_s=start_s, holdout_s=holdout_s, end_s=end_s, home=home, kyc=kyc,
        reg_s=reg_s, active_from=active_from, young=young, rate=rate, mu=mu, sigma=sigma,
        type_cum=np.cumsum(type_p, axis=1), token_cum=np.cumsum(token_p, axis=1),
        round_p=rng.beta(1.0, 3.0, n), rhythm_shift=rng.integers(-2 * 3600, 3 * 3600, n),
        n_ip=n_ip, ips=_random_ips(rng, np.repeat(home[:, None], 3, axis=1)),
        n_dev=n_dev, devices=_random_devices(rng, (n, 3)), switch_s=switch_s,
        switch_dev=_random_devices(rng, n), n_contacts=n_contacts, contacts=contacts,
        trip_dest=trip_dest, trip_t=trip_t,
        trip_ips=_random_ips(rng, np.repeat(np.maximum(dest, 0)[:, None], 2, axis=1)),
        vpn_user=rng.random(n) < VPN_USER_P, vpn_pool=vpn_pool,
    )


# --- normal traffic ------------------------------------------------------------------------

def _draw_amount_cents(rng: np.random.Generator, world: _World, w: np.ndarray,
                       typ: np.ndarray) -> np.ndarray:
    log_amt = world.mu[w] + TYPE_AMOUNT_SHIFT[typ] + world.sigma[w] * rng.standard_normal(w.size)
    large = (typ != TRANSFER) & (rng.random(w.size) < LEGIT_LARGE_P)
    log_amt += np.where(large, np.log(rng.uniform(5.0, 30.0, w.size)), 0.0)
    amt = np.exp(log_amt)
    # People like round numbers; some wallets much more than others.
    step = np.where(amt >= 2000, 100.0, np.where(amt >= 100, 10.0, 1.0))
    rounded = rng.random(w.size) < world.round_p[w]
    amt = np.where(rounded, np.maximum(np.round(amt / step), 1) * step, amt)
    return np.maximum(np.round(amt * 100), 100).astype(np.int64)


def _draw_tokens(rng: np.random.Generator, world: _World, w: np.ndarray) -> np.ndarray:
    u = rng.random(w.size)
    tok = np.zeros(w.size, dtype=np.int8)
    for k in range(len(TOKENS) - 1):
        tok += u > world.token_cum[w, k]
    return tok


def _normal_activity(rng: np.random.Generator, world: _World) -> tuple[dict, dict]:
    """All legitimate sessions, logins and transactions, drawn at once."""
    n = world.n
    lo = world.active_from + 300
    hi = np.full(n, world.end_s - 7200)
    span = np.maximum(hi - lo, 0)
    mean_session = 1 + EXTRA_TX_PER_SESSION
    n_sess = rng.poisson(world.rate * span / 86400 / mean_session * (1 + LOGIN_ONLY_SHARE))
    sw = np.repeat(np.arange(n), n_sess)
    t = lo[sw] + (rng.random(sw.size) * span[sw]).astype(np.int64)
    # Re-time each session on its local day following the daily rhythm of the home zone.
    off = _UTC_OFFSET_S[world.home[sw]]
    day0 = (t + off) // 86400 * 86400
    tod = rng.choice(24, sw.size, p=RHYTHM) * 3600 + rng.integers(0, 3600, sw.size)
    tod = (tod + world.rhythm_shift[sw]) % 86400
    t = day0 + tod - off
    keep = (t >= lo[sw]) & (t < hi[sw])
    # Sessions while in the air do not happen; on arrival the trip's local IPs take over.
    tt = world.trip_t[sw]
    on_trip = world.trip_dest[sw] >= 0
    in_air = on_trip & (((t >= tt[:, 0]) & (t < tt[:, 1])) | ((t >= tt[:, 2]) & (t < tt[:, 3])))
    keep &= ~in_air
    sw, t = sw[keep], t[keep]
    abroad = (world.trip_dest[sw] >= 0) & (t >= world.trip_t[sw, 1]) & (t < world.trip_t[sw, 2])
    order = np.lexsort((t, sw))
    sw, t, abroad = sw[order], t[order], abroad[order]
    s = sw.size

    ip = world.ips[sw, _pick_weighted_slot(rng, world.n_ip[sw])]
    ip = np.where(abroad, world.trip_ips[sw, rng.integers(0, 2, s)], ip)
    vpn = rng.random(s) < np.where(world.vpn_user[sw], VPN_USER_SESSION_P, VPN_OTHER_SESSION_P)
    ip = np.where(vpn & ~abroad, world.vpn_pool[rng.integers(0, _VPN_POOL_SIZE, s)], ip)
    dev = world.devices[sw, _pick_weighted_slot(rng, world.n_dev[sw])]
    dev = np.where(t >= world.switch_s[sw], world.switch_dev[sw], dev)
    dev = np.where(rng.random(s) < NEW_DEVICE_SESSION_P, _random_devices(rng, s), dev)

    # Logins: one per session, sometimes after a typo or two from the same place.
    n_fail = np.where(rng.random(s) < FAILED_LOGIN_P, 1 + (rng.random(s) < 0.3), 0)
    fs = np.repeat(np.arange(s), n_fail)
    fail_rank = np.arange(fs.size) - np.repeat(np.cumsum(n_fail) - n_fail, n_fail)
    fail_t = t[fs] - (fail_rank + 1) * rng.integers(5, 40, fs.size)
    logins = {
        "w": np.concatenate([sw, sw[fs]]), "t": np.concatenate([t, fail_t]),
        "ip": np.concatenate([ip, ip[fs]]), "dev": np.concatenate([dev, dev[fs]]),
        "success": np.concatenate([np.ones(s, np.int8), np.zeros(fs.size, np.int8)]),
    }

    # Transactions: sessions of 1 + Poisson, a few bursts, some logins with no transaction.
    login_only = rng.random(s) < LOGIN_ONLY_SHARE / (1 + LOGIN_ONLY_SHARE)
    burst = ~login_only & (rng.random(s) < BURST_SESSION_P) & (n > 1)
    n_tx = np.where(login_only, 0, 1 + rng.poisson(EXTRA_TX_PER_SESSION, s))
    n_tx = np.where(burst, rng.integers(5, 16, s), n_tx)
    ts_idx = np.repeat(np.arange(s), n_tx)
    first = np.cumsum(n_tx) - n_tx
    first = first[n_tx > 0]
    gap = rng.exponential(np.where(burst[ts_idx], 150.0, 240.0))
    gap[first] = rng.integers(15, 180, first.size)
    csum = np.cumsum(gap)
    within = csum - np.repeat(csum[first] - gap[first], n_tx[n_tx > 0])
    w = sw[ts_idx]
    tx_t = t[ts_idx] + within.astype(np.int64)
    u = rng.random(w.size)
    typ = (u > world.type_cum[w, 0]).astype(np.int8) + (u > world.type_cum[w, 1])
    typ = np.where(burst[ts_idx], TRANSFER, typ).astype(np.int8)
    # A new wallet starts by funding itself.
    wallet_first = np.r_[True, w[1:] != w[:-1]] if w.size else np.zeros(0, bool)
    typ[wallet_first & world.young[w]] = DEPOSIT

    is_tr = typ == TRANSFER
    known = burst[ts_idx] | (rng.random(w.size) < KNOWN_CONTACT_P)
    slot = np.minimum((world.n_contacts[w] * rng.random(w.size) ** 2).astype(np.int64),
                      world.n_contacts[w] - 1)
    stranger = (w + 1 + rng.integers(0, max(n - 1, 1), w.size)) % n
    cp = np.where(known, world.contacts[w, slot], stranger)
    cp = np.where(is_tr, cp, -1)

    keep = tx_t < world.end_s
    tx = {"w": w, "t": tx_t, "type": typ, "cents": _draw_amount_cents(rng, world, w, typ),
          "ip": ip[ts_idx], "dev": dev[ts_idx], "cp": cp, "token": _draw_tokens(rng, world, w)}
    tx = {k: v[keep] for k, v in tx.items()}
    return tx, logins


# --- fraud ---------------------------------------------------------------------------------

class _Ledger:
    """Fraudulent transactions and logins, recorded as they are injected."""

    def __init__(self) -> None:
        self.tx: dict[str, list] = {k: [] for k in ("w", "t", "type", "cents", "ip", "dev", "cp")}
        self.logins: dict[str, list] = {k: [] for k in ("w", "t", "ip", "dev", "success")}
        self.episodes: list[dict] = []

    @property
    def n_tx(self) -> int:
        return len(self.tx["w"])

    def add_tx(self, w, t, typ, usd, ip, dev, cp=-1) -> int:
        for k, v in zip(("w", "t", "type", "cents", "ip", "dev", "cp"),
                        (w, t, typ, max(int(round(usd * 100)), 100), ip, dev, cp), strict=True):
            self.tx[k].append(int(v))
        return self.n_tx - 1

    def add_login(self, w, t, ip, dev, success=1) -> None:
        for k, v in zip(("w", "t", "ip", "dev", "success"), (w, t, ip, dev, success), strict=True):
            self.logins[k].append(int(v))


class _Injector:
    """Builds fraud episodes on top of the legitimate traffic of a world."""

    def __init__(self, rng: np.random.Generator, world: _World, tx: dict, logins: dict) -> None:
        self.rng, self.world, self.ledger = rng, world, _Ledger()
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

    # helpers ---------------------------------------------------------------------------
    def _time(self, lo: int, hi: int, dur: int, w: int | None = None) -> int | None:
        lo, hi = lo + 900, hi - dur - 900
        if w is not None:
            lo = max(lo, int(self.world.active_from[w]) + 900)
        if hi <= lo:
            return None
        t = int(self.rng.integers(lo, hi))
        if w is not None and self.rng.random() < 0.6:
            # Fraudsters often act in the owner's usual hours.
            off = int(_UTC_OFFSET_S[self.world.home[w]])
            tod = int(self.rng.choice(24, p=RHYTHM)) * 3600 + int(self.rng.integers(0, 3600))
            t2 = (t + off) // 86400 * 86400 + tod - off
            t = t2 if lo <= t2 < hi else t
        return t

    def _wallet(self, lo: int, hi: int, mask=None, min_tx: int = 0,
                exclude=()) -> int | None:
        ok = (self.world.active_from + 2 * 3600 < hi - 1800) & (self.n_tx >= min_tx)
        if mask is not None:
            ok &= mask
        if exclude:
            ok[list(exclude)] = False
        cand = np.flatnonzero(ok)
        return int(self.rng.choice(cand)) if cand.size else None

    def _usual(self, w: int, t: int) -> tuple[int, int]:
        wd = self.world
        ip = int(wd.ips[w, self.rng.integers(0, wd.n_ip[w])])
        if wd.trip_dest[w] >= 0 and wd.trip_t[w, 1] <= t < wd.trip_t[w, 2]:
            ip = int(wd.trip_ips[w, 0])
        dev = int(wd.switch_dev[w] if t >= wd.switch_s[w] else wd.devices[w, 0])
        return ip, dev

    def _seen_cp(self, w: int) -> set[int]:
        cps = self.tx["cp"][self.tx_off[w]:self.tx_off[w + 1]]
        return set(cps[cps >= 0].tolist()) | self.extra_cp.get(w, set())

    def _fresh_cp(self, w: int, k: int, hi: int) -> list[int]:
        banned = self._seen_cp(w) | {w}
        ok = self.world.active_from < hi
        ok[list(banned)] = False
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            return []
        out = self.rng.choice(cand, min(k, cand.size), replace=False).tolist()
        self.extra_cp.setdefault(w, set()).update(out)
        return out

    def _amount(self, w: int, scale: float = 1.0) -> float:
        return float(np.exp(self.world.mu[w] + self.world.sigma[w] * self.rng.standard_normal())
                     * scale)

    def _new_ip(self, w: int, country: int) -> int:
        known = set(self.world.ips[w].tolist()) | set(self.world.trip_ips[w].tolist())
        while True:
            ip = int(_random_ips(self.rng, np.array([country]))[0])
            if ip not in known:
                return ip

    def _login(self, w: int, t: int, ip: int, dev: int) -> None:
        self.ledger.add_login(w, t - int(self.rng.integers(20, 120)), ip, dev)

    def _episode(self, scenario: str, variant: str, w: int, txs: list[int]) -> dict:
        ep = {"scenario": scenario, "variant": variant, "wallet": w, "tx": txs}
        self.ledger.episodes.append(ep)
        return ep

    # scenarios -------------------------------------------------------------------------
    def mule_chain(self, lo: int, hi: int):
        rng, led = self.rng, self.ledger
        a = self._wallet(lo, hi)
        t = None if a is None else self._time(lo, hi, 3 * 3600, a)
        if t is None:
            return None
        hops = int(rng.integers(2, 5))
        unverified = self.world.kyc == 0
        mules: list[int] = []
        for _ in range(hops):
            mask = unverified if rng.random() < 0.6 else None
            m = self._wallet(lo, t, mask=mask, exclude=[a, *mules])
            if m is None:
                m = self._wallet(lo, t, exclude=[a, *mules])
            if m is None:
                return None
            mules.append(m)
        usd = min(max(self._amount(a, rng.uniform(1.5, 5.0)), 150.0), 60_000.0)
        ip, dev = self._usual(a, t)
        self._login(a, t, ip, dev)
        txs = [led.add_tx(a, t, DEPOSIT, usd, ip, dev)]
        chain = [a, *mules]
        for sender, receiver in zip(chain[:-1], chain[1:], strict=True):
            t += int(rng.integers(60, 720))
            usd *= rng.uniform(0.85, 0.98)
            ip, dev = self._usual(sender, t)
            if sender != a:
                self._login(sender, t, ip, dev)
            txs.append(led.add_tx(sender, t, TRANSFER, usd, ip, dev, receiver))
            self.extra_cp.setdefault(sender, set()).add(receiver)
        if rng.random() < 0.5:
            last = chain[-1]
            t += int(rng.integers(60, 720))
            ip, dev = self._usual(last, t)
            self._login(last, t, ip, dev)
            txs.append(led.add_tx(last, t, REDEEM, usd * rng.uniform(0.85, 0.98), ip, dev))
        return self._episode("rapid_transfers", "mule_chain", a, txs)

    def fan_out(self, lo: int, hi: int):
        rng, led = self.rng, self.ledger
        a = self._wallet(lo, hi, min_tx=1)
        t = None if a is None else self._time(lo, hi, 2 * 3600, a)
        if t is None:
            return None
        cps = self._fresh_cp(a, int(rng.integers(8, 21)), t)
        if len(cps) < 6:
            return None
        ip, dev = self._usual(a, t)
        if rng.random() < 0.3:
            dev = int(_random_devices(rng, 1)[0])
        self._login(a, t, ip, dev)
        txs = []
        offsets = np.sort(rng.integers(60, 3300, len(cps)))
        if rng.random() < 0.5:
            total = min(max(self._amount(a, rng.uniform(2.0, 8.0)), 300.0), 80_000.0)
            txs.append(led.add_tx(a, t, DEPOSIT, total, ip, dev))
            shares = rng.dirichlet(np.full(len(cps), 4.0)) * total * rng.uniform(0.9, 0.98)
        else:
            shares = [self._amount(a) for _ in cps]
        for off, cp, usd in zip(offsets, cps, shares, strict=True):
            txs.append(led.add_tx(a, t + int(off), TRANSFER, usd, ip, dev, cp))
        return self._episode("rapid_transfers", "fan_out", a, txs)

    def burst(self, lo: int, hi: int):
        rng, led = self.rng, self.ledger
        dur = int(rng.integers(3600, 4 * 3600))
        w = self._wallet(lo, hi, min_tx=1)
        t = None if w is None else self._time(lo, hi, dur, w)
        if t is None:
            return None
        ip, dev = self._usual(w, t)
        if rng.random() < 0.4:
            dev = int(_random_devices(rng, 1)[0])
        self._login(w, t, ip, dev)
        k = int(rng.integers(6, 16))
        times = t + np.sort(rng.integers(0, dur, k))
        txs = [led.add_tx(w, int(tt), REDEEM, self.median[w] * rng.lognormal(0.3, 0.5), ip, dev)
               for tt in times]
        return self._episode("redemption_burst", "burst", w, txs)

    def large(self, lo: int, hi: int):
        rng, led = self.rng, self.ledger
        w = self._wallet(lo, hi, min_tx=5)
        t = None if w is None else self._time(lo, hi, 3600, w)
        if t is None:
            return None
        ip, dev = self._usual(w, t)
        if rng.random() < 0.5:
            dev = int(_random_devices(rng, 1)[0])
        self._login(w, t, ip, dev)
        txs = []
        for _ in range(int(rng.integers(1, 3))):
            usd = min(self.median[w] * rng.uniform(15.0, 60.0), 250_000.0)
            if rng.random() < 0.3:
                usd = max(round(usd, -2), 100.0)
            txs.append(led.add_tx(w, t, REDEEM, usd, ip, dev))
            t += int(rng.integers(120, 1500))
        return self._episode("redemption_burst", "large", w, txs)

    def _drain(self, w: int, t: int, ip: int, dev: int, lo: int, hi: int) -> list[int]:
        rng, led = self.rng, self.ledger
        txs = []
        k = int(rng.integers(1, 5))
        usd = self.median[w] * rng.uniform(3.0, 20.0)
        for off in np.sort(rng.integers(120, 3000, k)):
            cps = self._fresh_cp(w, 1, hi) if rng.random() < 0.7 else []
            typ, cp = (TRANSFER, cps[0]) if cps else (REDEEM, -1)
            txs.append(led.add_tx(w, t + int(off), typ, usd, ip, dev, cp))
            usd *= rng.uniform(0.4, 1.0)
        return txs

    def _attacker_country(self, w: int, exclude_from: int | None, min_hours: float) -> int:
        wd = self.world
        bad = {int(wd.home[w]), int(wd.trip_dest[w])}
        ok = np.array([c not in bad for c in range(len(COUNTRIES))])
        if exclude_from is not None:
            ok &= TRAVEL_HOURS[exclude_from] > min_hours
        cand = np.flatnonzero(ok)
        return int(self.rng.choice(cand))

    def failed_logins(self, lo: int, hi: int):
        rng, led = self.rng, self.ledger
        w = self._wallet(lo, hi, min_tx=3)
        t = None if w is None else self._time(lo, hi, 2 * 3600, w)
        if t is None:
            return None
        c = self._attacker_country(w, None, 0.0)
        ip, dev = self._new_ip(w, c), int(_random_devices(rng, 1)[0])
        n_fail = int(rng.integers(3, 16))
        for off in np.sort(rng.integers(0, int(rng.integers(60, 900)), n_fail)):
            led.add_login(w, t + int(off), ip, dev, 0)
        t = t + 900 + int(rng.integers(10, 120))
        led.add_login(w, t, ip, dev, 1)
        return self._episode("account_takeover", "failed_logins", w,
                             self._drain(w, t, ip, dev, lo, hi))

    def new_location(self, lo: int, hi: int):
        rng, led = self.rng, self.ledger
        w = self._wallet(lo, hi, min_tx=3)
        if w is None:
            return None
        # Strike shortly after the owner was last seen, farther away than any flight allows.
        a, b = self.login_off[w], self.login_off[w + 1]
        lt = self.login_t[a:b]
        anchors = np.flatnonzero((lt > lo + 900) & (lt < hi - 4 * 3600))
        if anchors.size == 0:
            return None
        t = int(lt[rng.choice(anchors)]) + int(rng.integers(600, 5400))
        last = a + np.searchsorted(lt, t, side="right") - 1
        seen_t = int(self.login_t[last])
        txw = self.tx["t"][self.tx_off[w]:self.tx_off[w + 1]]
        before = txw[txw <= t]
        seen_t = max(seen_t, int(before.max()) if before.size else seen_t)
        last_c = int(ip_country(self.login_ip[last]))
        c = self._attacker_country(w, last_c, (t - seen_t) / 3600 + 2.0)
        ip, dev = self._new_ip(w, c), int(_random_devices(rng, 1)[0])
        led.add_login(w, t, ip, dev, 1)
        return self._episode("account_takeover", "new_location", w,
                             self._drain(w, t, ip, dev, lo, hi))

    def structuring(self, lo: int, hi: int):
        rng, led = self.rng, self.ledger
        span = int(min(rng.integers(6 * 3600, 48 * 3600), max(hi - lo - 3 * 3600, 3600)))
        w = self._wallet(lo, hi)
        t = None if w is None else self._time(lo, hi, span, w)
        if t is None:
            return None
        txs = []
        for off in np.sort(rng.integers(0, span, int(rng.integers(5, 13)))):
            usd = rng.uniform(8000.0, STRUCTURING_THRESHOLD - 10.0)
            if rng.random() < 0.3:
                usd = np.floor(usd / 50.0) * 50.0
            tt = t + int(off)
            ip, dev = self._usual(w, tt)
            self._login(w, tt, ip, dev)
            txs.append(led.add_tx(w, tt, DEPOSIT, usd, ip, dev))
        return self._episode("suspicious_deposit", "structuring", w, txs)

    def pass_through(self, lo: int, hi: int):
        rng, led = self.rng, self.ledger
        wd = self.world
        t = self._time(lo, hi, 2 * 3600)
        if t is None:
            return None
        young = (wd.reg_s <= t - 3600) & (wd.reg_s >= t - 14 * 86400)
        mask = young if rng.random() < 0.5 and young.any() else (wd.kyc == 0)
        w = self._wallet(lo, t, mask=mask & (wd.active_from <= t - 3600))
        if w is None:
            return None
        ip, dev = self._usual(w, t)
        self._login(w, t, ip, dev)
        usd = float(np.exp(rng.uniform(np.log(3000.0), np.log(60_000.0))))
        txs = [led.add_tx(w, t, DEPOSIT, usd, ip, dev)]
        k = int(rng.integers(1, 4))
        shares = rng.dirichlet(np.full(k, 3.0)) * usd * rng.uniform(0.9, 0.99)
        for off, part in zip(np.sort(rng.integers(180, 3300, k)), shares, strict=True):
            cps = self._fresh_cp(w, 1, hi) if rng.random() < 0.7 else []
            typ, cp = (TRANSFER, cps[0]) if cps else (REDEEM, -1)
            txs.append(led.add_tx(w, t + int(off), typ, part, ip, dev, cp))
        return self._episode("suspicious_deposit", "pass_through", w, txs)


def _inject_fraud(rng: np.random.Generator, world: _World, tx: dict, logins: dict,
                  fraud_rate: float) -> _Ledger:
    inj = _Injector(rng, world, tx, logins)
    n_normal = tx["w"].size
    target = int(round(fraud_rate / (1 - fraud_rate) * n_normal)) if fraud_rate > 0 else 0
    variants = [(s, v) for s, vs in SCENARIOS.items() for v in vs]
    periods = [(world.start_s, world.holdout_s), (world.holdout_s, world.end_s)]
    train_share = (world.holdout_s - world.start_s) / (world.end_s - world.start_s)
    # Every variant in both periods first, then a random mix until the budget is spent.
    plan = [(v, p) for p in (0, 1) for v in range(len(variants))]
    failures, i = 0, 0
    while inj.ledger.n_tx < target and failures < 200:
        if i < len(plan):
            v, p = plan[i]
        else:
            v = int(rng.integers(len(variants)))
            p = int(rng.random() >= train_share)
        i += 1
        lo, hi = periods[p]
        if getattr(inj, variants[v][1])(lo, hi) is None:
            failures += 1
    if failures:
        logger.info("fraud: %d episode draws found no eligible wallet or time", failures)
    return inj.ledger


# --- assembly and output -------------------------------------------------------------------

def _take_str(vocab, idx: np.ndarray):
    """Strings ``vocab[idx]`` as a pandas ``str`` array, built in Arrow without Python objects."""
    arr = pa.array(vocab, type=pa.large_string()).take(pa.array(idx))
    return pd.array(arr, dtype="str")


def _ip_text(ip: np.ndarray):
    uniq, inv = np.unique(ip, return_inverse=True)
    vocab = [f"{x >> 24}.{x >> 16 & 255}.{x >> 8 & 255}.{x & 255}" for x in uniq.tolist()]
    return _take_str(vocab, inv)


def _device_text(dev: np.ndarray):
    uniq, inv = np.unique(dev, return_inverse=True)
    return _take_str([f"dev-{x:012x}" for x in uniq.tolist()], inv)


def _seq_ids(prefix: str, n: int):
    width = max(8, len(str(n)))
    nums = pc.cast(pa.array(np.arange(1, n + 1)), pa.large_string())
    padded = pc.utf8_lpad(nums, width=width, padding="0")
    return pd.array(pc.binary_join_element_wise(pa.scalar(prefix, pa.large_string()), padded,
                                    pa.scalar("", pa.large_string())), dtype="str")


def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(seconds, dtype="datetime64[s]")).tz_localize("UTC")


def _tx_frame(tx: dict, ids, wallet_ids: list[str]) -> pd.DataFrame:
    cp = np.where(tx["cp"] >= 0, tx["cp"], len(wallet_ids))
    return pd.DataFrame({
        "transaction_id": ids,
        "wallet_id": _take_str(wallet_ids, tx["w"]),
        "timestamp": _utc(tx["t"]),
        "amount": tx["cents"] / 100.0,
        "type": _take_str(TYPE_NAMES.tolist(), tx["type"]),
        "ip_address": _ip_text(tx["ip"]),
        "counterparty_wallet_id": _take_str([*wallet_ids, None], cp),
        "token": _take_str(TOKENS.tolist(), tx["token"]),
        "country": _take_str(COUNTRIES.tolist(), ip_country(tx["ip"])),
        "device_id": _device_text(tx["dev"]),
    })


def _assemble(rng, world, tx, logins, ledger) -> dict[str, pd.DataFrame]:
    n_norm = tx["w"].size
    ftx = {k: np.array(v, dtype=np.int64) for k, v in ledger.tx.items()}
    ftx["token"] = _draw_tokens(rng, world, ftx["w"])
    allt = {k: np.concatenate([tx[k], ftx[k]]) for k in tx}
    order = np.lexsort((np.arange(allt["w"].size), allt["t"]))
    allt = {k: v[order] for k, v in allt.items()}
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    tx_ids = _seq_ids("T", order.size)
    wallet_ids = [f"W{i:06d}" for i in range(world.n)]

    frame = _tx_frame(allt, tx_ids, wallet_ids)
    train = allt["t"] < world.holdout_s

    flog = {k: np.array(v, dtype=np.int64) for k, v in ledger.logins.items()}
    alll = {k: np.concatenate([logins[k], flog[k]]) for k in logins}
    lorder = np.lexsort((np.arange(alll["w"].size), alll["t"]))
    alll = {k: v[lorder] for k, v in alll.items()}
    login_frame = pd.DataFrame({
        "login_id": _seq_ids("L", lorder.size),
        "wallet_id": _take_str(wallet_ids, alll["w"]),
        "timestamp": _utc(alll["t"]),
        "ip_address": _ip_text(alll["ip"]),
        "success": alll["success"].astype(np.int8),
        "country": _take_str(COUNTRIES.tolist(), ip_country(alll["ip"])),
        "device_id": _device_text(alll["dev"]),
    })

    rows = []
    for i, ep in enumerate(ledger.episodes):
        ids = tx_ids.take(rank[n_norm + np.array(ep["tx"], dtype=np.int64)])
        rows.append((i, ep["scenario"], ep["variant"], wallet_ids[ep["wallet"]], tuple(ids)))
    episodes = pd.DataFrame(rows, columns=["episode_id", "scenario", "variant", "wallet_id",
                                           "transaction_ids"])
    scenario = np.empty(order.size, dtype=object)
    for ep in ledger.episodes:
        scenario[rank[n_norm + np.array(ep["tx"], dtype=np.int64)]] = ep["scenario"]
    fraud_pos = np.sort(rank[n_norm:])
    labels = pd.DataFrame({"transaction_id": tx_ids.take(fraud_pos),
                           "scenario": pd.array(scenario[fraud_pos], dtype="str")})

    wallets = pd.DataFrame({
        "wallet_id": pd.array(wallet_ids, dtype="str"),
        "kyc_verified": world.kyc.astype(np.int8),
        "registration_date": _utc(world.reg_s),
        "home_country": _take_str(COUNTRIES.tolist(), world.home),
    })
    return {
        "wallets": wallets,
        "transactions": frame[train].reset_index(drop=True),
        "new_transactions": frame[~train].reset_index(drop=True),
        "logins": login_frame,
        "labels": labels,
        "episodes": episodes,
    }


def _parse_start(start) -> int:
    ts = pd.Timestamp(DEFAULT_START if start is None else start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000_000)


def generate(n_wallets: int = DEFAULT_WALLETS, days: int = DEFAULT_DAYS,
             holdout_days: int = DEFAULT_HOLDOUT_DAYS, seed: int = DEFAULT_SEED,
             fraud_rate: float = DEFAULT_FRAUD_RATE, start=None) -> dict[str, pd.DataFrame]:
    """Simulate wallets, logins and transactions with injected, labelled fraud.

    Returns frames ``wallets``, ``transactions`` (before the holdout), ``new_transactions``
    (the last ``holdout_days``), ``logins`` (both periods), ``labels`` (fraudulent
    transactions only) and ``episodes`` (one row per injected episode with its scenario,
    variant, wallet and transaction ids; for tests and analysis, never written).
    """
    if n_wallets < 1:
        raise ValueError(f"n_wallets must be >= 1, got {n_wallets!r}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days!r}")
    if not 1 <= holdout_days < days:
        raise ValueError(f"holdout_days must be in [1, days), got {holdout_days!r}")
    if not 0.0 <= fraud_rate <= MAX_FRAUD_RATE:
        raise ValueError(f"fraud_rate must be in [0, {MAX_FRAUD_RATE}], got {fraud_rate!r}")
    t0 = time.perf_counter()
    start_s = _parse_start(start)
    end_s = start_s + days * 86400
    holdout_s = end_s - holdout_days * 86400
    rng = np.random.default_rng(seed)
    world = _make_world(rng, n_wallets, start_s, holdout_s, end_s)
    tx, logins = _normal_activity(rng, world)
    logger.info("normal traffic: %d transactions, %d logins (%.1fs)", tx["w"].size,
                logins["w"].size, time.perf_counter() - t0)
    ledger = _inject_fraud(rng, world, tx, logins, fraud_rate)
    logger.info("fraud: %d episodes, %d transactions (%.1fs)", len(ledger.episodes),
                ledger.n_tx, time.perf_counter() - t0)
    frames = _assemble(rng, world, tx, logins, ledger)
    logger.info("assembled frames (%.1fs)", time.perf_counter() - t0)
    return frames


# --- writing -------------------------------------------------------------------------------

_TIME_OF_DAY: list[str] = []


def _iso_text(secs: np.ndarray) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SSZ`` for epoch seconds, via per-day and per-second lookups."""
    if not _TIME_OF_DAY:
        _TIME_OF_DAY.extend(f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60)
                            for s in range(60))
    days, tod = np.divmod(secs, 86400)
    first = int(days.min()) if days.size else 0
    span = np.arange(first, (int(days.max()) if days.size else first) + 1)
    dates = np.datetime_as_string(span.astype("datetime64[D]")).tolist()
    date = pa.array(dates, type=pa.large_string()).take(pa.array(days - first))
    clock = pa.array(_TIME_OF_DAY, type=pa.large_string()).take(pa.array(tod))
    return pc.binary_join_element_wise(date, clock, pa.scalar("T", pa.large_string()))


def _to_arrow(df: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(df, preserve_index=False)
    for i, name in enumerate(df.columns):
        s = df[name]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            secs = s.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)
            col = _iso_text(secs)
        elif name == "amount":
            # Fixed two decimals, formatted from integer cents so no float noise leaks in.
            cents = np.round(s.to_numpy(dtype=float) * 100).astype(np.int64)
            whole = pc.cast(pa.array(cents // 100), pa.string())
            frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), width=2, padding="0")
            col = pc.binary_join_element_wise(whole, frac, ".")
        else:
            continue
        table = table.set_column(i, name, col)
    return table


def write(frames: dict[str, pd.DataFrame], data_dir) -> dict[str, Path]:
    """Write the five contract CSVs into ``data_dir``; returns their paths."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    for key, fname in FILES.items():
        df = frames[key]
        path = data_dir / fname
        with pa.OSFile(str(path), "wb") as sink:
            sink.write((",".join(df.columns) + "\n").encode())
            if len(df):
                pacsv.write_csv(_to_arrow(df), sink, options)
        paths[key] = path
        logger.info("wrote %s: %d rows", path, len(df))
    return paths


# --- CLI -----------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line, no usage block: the contract for user errors across the scripts.
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="data_generator.py", description=__doc__.splitlines()[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--wallets", type=int, default=DEFAULT_WALLETS, help="number of wallets")
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help="length of the whole period")
    p.add_argument("--holdout-days", type=int, default=DEFAULT_HOLDOUT_DAYS,
                   help="last days written to new_transactions.csv")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed: same seed, same bytes")
    p.add_argument("--fraud-rate", type=float, default=DEFAULT_FRAUD_RATE,
                   help=f"target share of fraudulent transactions, in [0, {MAX_FRAUD_RATE}]")
    p.add_argument("--data-dir", type=Path, default=ROOT / "data", help="folder the CSV files are written to")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.wallets <= 0:
        parser.error(f"--wallets must be positive, got {args.wallets}")
    if args.days <= 0:
        parser.error(f"--days must be positive, got {args.days}")
    if not 1 <= args.holdout_days < args.days:
        parser.error(f"--holdout-days must be at least 1 and less than --days ({args.days}), "
                     f"got {args.holdout_days}")
    if not 0.0 <= args.fraud_rate <= MAX_FRAUD_RATE:
        parser.error(f"--fraud-rate must be in [0, {MAX_FRAUD_RATE}], got {args.fraud_rate}")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    frames = generate(args.wallets, args.days, args.holdout_days, args.seed, args.fraud_rate)
    write(frames, args.data_dir)
    counts = frames["labels"]["scenario"].value_counts().sort_index()
    eps = frames["episodes"].groupby(["scenario", "variant"]).size()
    for (scenario, variant), n in eps.items():
        logger.info("episodes %s/%s: %d", scenario, variant, n)
    n_tx = len(frames["transactions"]) + len(frames["new_transactions"])
    logger.info("fraud transactions by scenario: %s (%.2f%% of %d)",
                ", ".join(f"{k}={v}" for k, v in counts.items()),
                100.0 * len(frames["labels"]) / max(n_tx, 1), n_tx)
    logger.info("done in %.1fs", time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
