"""Synthetic custodial crypto-exchange wallets with injected AML typologies.

The world
---------
A crypto exchange keeps custodial wallets for about 3,000 accounts (``--wallets``) over
75 days (``--days``); the last 15 days (``--holdout-days``) go to ``new_transactions.csv``.
Every amount is the USD value of the crypto moved (tokens USDT, USDC, BTC, ETH, SOL, TRX).

* Segments. Most accounts are traders whose typical amount (an account-specific median)
  lies anywhere in 500-50,000 USD; a retail minority moves 5-300 USD; a few whales move
  20k-150k; a handful of OTC desks trade all day with many clients. Amounts are log-normal
  around each account's median with an account-specific spread, so medians span four orders
  of magnitude. Some traders and most OTC desks run API bots (no login, cloud-hosted IPs,
  flat day profile).
* Rhythm. Activity follows a daily cycle in the account's home time zone (retail peaks in the
  evening, traders in business hours) and a weekly cycle (quieter weekends). Accounts differ
  in activity rate by two orders of magnitude; some are steady, some come and go in spells
  (weeks of dormancy), some are nearly dormant, some fade out or start late; about 12% of the
  accounts register during the period.
* Counterparties. Each account has a short list of counterparties (friends, mostly in the same
  country; one or two OTC desks; its owner's other account). Transfers mostly go to that list,
  with a preference for the first entries; about 12% go to someone new.
* Legitimate look-alikes (never labelled): busy days with 5-15 transactions clustered within
  an hour or two; rare one-off amounts 5-30x the account's norm; OTC settlements (a client
  sends to a desk, the desk sends back about the same value in another token within the
  hour); payout runs (an account pays 8-25 parties within an hour); position closings (3-8
  withdrawals within a few hours, clipped just below the withdrawal limit); withdrawals above
  the per-withdrawal limit split into several pieces; reactivation after a dormant spell with
  a larger-than-usual withdrawal; new accounts whose first large deposit goes to an OTC desk
  within the hour; recurring fixed-size deposits (dollar-cost averaging); round amounts.
* Sessions and devices. Non-API activity is preceded by a successful login from the same IP
  and device; sometimes by one to three failed logins (typos) or a second login. Accounts have
  one to three devices and home IPs, sometimes use mobile IPs, some use a VPN/cloud exit,
  some travel abroad for days (foreign IPs, sometimes a new device), some change phones; a
  few accounts log in just to look. Linked own accounts share a device and IP, households share
  an IP, the sub-accounts of small trading firms share an office machine and IP (and pay each
  other often). Mobile IPs come from a small carrier-NAT pool per country and VPN users from a
  small pool of exits, so many unrelated accounts share those addresses. Some API bots rotate
  their key (a new device id) and move to another cloud host during the period.
  Credential-stuffing noise (bursts of failed logins from rotating IPs) hits many accounts that
  are never taken over.
* Per-withdrawal limits by tier: unverified 2,000; verified retail 10,000; verified trader
  25,000; whales and OTC desks 100,000. Any withdrawal above the limit (legitimate or not) is
  split into pieces under it, at most eight. Reporting threshold for deposits: 10,000 (and a
  3,000 travel-rule threshold).

Fraud typologies (``labels.csv`` lists every transaction of each injected episode)
-------------------------------------------------------------------------------------
``rapid_transfers``
  * ``peel_chain``: a large deposit lands in a wallet; hop by hop, within minutes, each wallet
    peels a small slice (3-14%) off to a withdrawal or an unrelated wallet and forwards the rest
    to the next wallet; the last wallet cashes out. Hops are fresh or little-used accounts,
    sometimes operated from one shared IP and/or device.
  * ``layering_mesh``: a deposit is split over 3-6 intermediate wallets, each of which splits
    again into a second layer that converges on one or two exit wallets, changing token at
    each layer, all within a few hours; the exits withdraw.
  * ``fan_in_fan_out``: 6-15 accounts (some first receiving a deposit) pay medium amounts into
    one collector within about an hour; the collector immediately fans the total out to 4-10
    other wallets, half of which withdraw it.
``redemption_burst``
  * ``dormant_cashout``: an account silent for weeks (20 days at the default size) suddenly
    withdraws 8-40x its usual amount in one to three withdrawals within minutes.
  * ``limit_skirting``: 8-21 withdrawals spread over 4-14 hours of one day, each between 86% and
    99.5% of the account's per-withdrawal limit.
  * ``multi_token_sweep``: 4-6 withdrawals in different tokens within a few minutes, emptying
    every token balance at once.
``account_takeover``
  * ``sim_swap``: no failed logins; a successful login from a new device (usually from another
    country, sometimes from a new IP at home), a second login minutes later (the password
    reset), then a drain of 4-25x the account's usual amount to new wallets and withdrawals;
    the owner's failed logins follow hours later. Receiving mules often cash out.
  * ``credential_stuffing``: 8-50 failed logins spread over 1-9 hours from rotating IPs and a
    few rotating devices, then a success from yet another IP and a drain.
  * ``api_key_theft``: no login at all; 3-11 quick withdrawals/transfers through the API from a
    cloud-hosting IP (the same cloud ranges that legitimate bots use) and an unseen device id.
``suspicious_deposit``
  * ``smurfing_ring``: 3-7 coordinated accounts each deposit 2-6 times amounts 80-99.5% of a
    reporting threshold (10,000 or 3,000) over one to three days, then forward the sum to one
    collector that cashes it out.
  * ``fresh_account_passthrough``: an account registered minutes to three days earlier, mostly
    unverified, receives a large deposit that leaves again within minutes (transfers and/or
    withdrawals).
  * ``single_structurer``: one established account deposits 4-10 times just under a threshold
    over two to six days.
``other_round_tripping``
  * ``chain_return``: funds leave an account, pass through 2-4 intermediaries (minus small
    fees, sometimes changing token) and come back to the same account; one to three cycles.
  * ``exit_reenter``: an account withdraws a sum, and within hours 96-99.5% of it comes back
    as one to three deposits in another token.
``other_wash_trading``
  * ``ping_pong``: two linked accounts (the owner's two accounts, or two mules run from one
    device/IP) send near-identical amounts back and forth 8-25 times within a few hours.
  * ``ring``: 3-5 accounts rotate the same amount around a cycle for two to six rounds.

Fraud amounts are drawn around the amounts the involved accounts or normal traders use, so
the largest amounts in the data are mostly legitimate.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("gen_aml")

VARIANTS: dict[str, tuple[str, ...]] = {
    "rapid_transfers": ("peel_chain", "layering_mesh", "fan_in_fan_out"),
    "redemption_burst": ("dormant_cashout", "limit_skirting", "multi_token_sweep"),
    "account_takeover": ("sim_swap", "credential_stuffing", "api_key_theft"),
    "suspicious_deposit": ("smurfing_ring", "fresh_account_passthrough", "single_structurer"),
    "other_round_tripping": ("chain_return", "exit_reenter"),
    "other_wash_trading": ("ping_pong", "ring"),
}

# Share of the fraud rows each variant gets (episodes are generated until it is reached).
VARIANT_SHARE: dict[str, float] = {
    "peel_chain": 0.08, "layering_mesh": 0.08, "fan_in_fan_out": 0.08,
    "dormant_cashout": 0.03, "limit_skirting": 0.09, "multi_token_sweep": 0.05,
    "sim_swap": 0.06, "credential_stuffing": 0.06, "api_key_theft": 0.08,
    "smurfing_ring": 0.09, "fresh_account_passthrough": 0.05, "single_structurer": 0.06,
    "chain_return": 0.05, "exit_reenter": 0.04, "ping_pong": 0.05, "ring": 0.05,
}

START = np.datetime64("2024-03-04T00:00:00", "s")  # a Monday
DAY = 86_400
HOUR = 3_600
DEP, TRF, RED = 0, 1, 2
TYPE_NAMES = np.array(["deposit", "transfer", "redeem"])
TOKENS = np.array(["USDT", "USDC", "BTC", "ETH", "SOL", "TRX"])
TOKEN_W = np.array([0.42, 0.17, 0.17, 0.15, 0.05, 0.04])
THRESHOLDS = (10_000.0, 3_000.0)
LIMITS = (2_000.0, 10_000.0, 25_000.0, 100_000.0)

# (ISO code, UTC offset in hours, share of accounts)
COUNTRIES = (
    ("US", -5, 0.16), ("CA", -5, 0.03), ("MX", -6, 0.02), ("BR", -3, 0.05), ("AR", -3, 0.02),
    ("GB", 0, 0.07), ("IE", 0, 0.01), ("FR", 1, 0.04), ("DE", 1, 0.06), ("NL", 1, 0.03),
    ("ES", 1, 0.03), ("IT", 1, 0.03), ("PL", 1, 0.02), ("CH", 1, 0.02), ("UA", 2, 0.02),
    ("ZA", 2, 0.01), ("NG", 1, 0.03), ("TR", 3, 0.04), ("AE", 4, 0.02), ("IN", 5.5, 0.05),
    ("VN", 7, 0.03), ("ID", 7, 0.02), ("SG", 8, 0.02), ("HK", 8, 0.02), ("PH", 8, 0.02),
    ("KR", 9, 0.03), ("JP", 9, 0.04), ("AU", 10, 0.03),
)
CC = np.array([c[0] for c in COUNTRIES])
TZ = np.array([c[1] for c in COUNTRIES], dtype=float)
CW = np.array([c[2] for c in COUNTRIES]) / sum(c[2] for c in COUNTRIES)
CLOUD_REGIONS = ("US", "US", "US", "DE", "NL", "IE", "GB", "SG", "JP", "HK")
N_CLOUD = 16

# Local hour-of-day weights: retail (evening), trader (business hours), API bot (flat).
HOUR_W = np.array([
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0,
     3.2, 3.1, 3.0, 3.0, 3.2, 3.6, 4.2, 4.8, 5.0, 4.6, 3.4, 2.0],
    [1.2, 0.8, 0.6, 0.5, 0.5, 0.7, 1.2, 2.2, 3.5, 4.5, 4.8, 4.6,
     4.0, 4.2, 4.6, 4.6, 4.2, 3.8, 3.4, 3.2, 3.0, 2.8, 2.2, 1.6],
    [1.0] * 24,
])
HOUR_CUM = np.cumsum(HOUR_W / HOUR_W.sum(1, keepdims=True), axis=1)


def _logu(rng: np.random.Generator, lo: float, hi: float, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _nice(rng: np.random.Generator, x, p: float, floor: bool = False) -> np.ndarray:
    """With probability p, round an amount to a human step (0.1, 0.5 or 1 x its magnitude)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    hit = rng.random(x.shape) < p
    mag = 10.0 ** np.floor(np.log10(np.maximum(x, 1.0)))
    step = mag * rng.choice(np.array([0.1, 0.5, 1.0]), size=x.shape, p=[0.55, 0.3, 0.15])
    q = np.floor(x / step) if floor else np.round(x / step)
    return np.where(hit & (q >= 1), q * step, x)


class _World:
    """All state of one generation run; every random draw comes from ``self.rng``."""

    def __init__(self, rng: np.random.Generator, n_wallets: int, days: int, holdout_days: int):
        if days <= holdout_days or holdout_days < 1:
            raise ValueError("need days > holdout_days >= 1")
        self.rng = rng
        self.days = days
        self.t_end = days * DAY
        self.t_split = (days - holdout_days) * DAY
        self.nb = n_wallets
        self.n_mule = max(40, int(0.08 * n_wallets))
        self.n_fresh = max(24, int(0.03 * n_wallets))
        self.nw = self.nb + self.n_mule + self.n_fresh
        self.mule_pool = np.arange(self.nb, self.nb + self.n_mule)
        self.fresh_pool = list(range(self.nb + self.n_mule, self.nw))
        self.gap_days = max(5.0, min(20.0, 0.3 * days))
        self._ip_pools()
        self._wallets()
        self._counterparties()

    # ---- infrastructure -------------------------------------------------------------------
    def _ip_pools(self) -> None:
        rng = self.rng
        bad = {10, 100, 127, 169, 172, 192, 198, 203}
        firsts = np.array([a for a in range(11, 223) if a not in bad])
        cand = (firsts[:, None] * 256 + np.arange(256)[None, :]).ravel()
        pick = rng.choice(cand, size=len(CC) * 6 + N_CLOUD, replace=False).astype(np.int64)
        self.country_pref = pick[: len(CC) * 6].reshape(len(CC), 6)
        self.cloud_pref = pick[len(CC) * 6:]
        region_idx = np.array([int(np.flatnonzero(CC == r)[0]) for r in CLOUD_REGIONS])
        self.cloud_country = rng.choice(region_idx, size=N_CLOUD)
        # carrier-grade NAT addresses of mobile networks and VPN exits: shared by many users
        self.cgnat = self.rand_ip(np.repeat(np.arange(len(CC)), 24)).reshape(len(CC), 24)
        self.vpn_ip, self.vpn_country = self.rand_cloud(40)

    def vpn_exit(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        j = self.rng.integers(0, len(self.vpn_ip), n)
        return self.vpn_ip[j], self.vpn_country[j]

    def _host(self, pref: np.ndarray) -> np.ndarray:
        n = len(pref)
        return (pref << 16) | (self.rng.integers(0, 256, n) << 8) | self.rng.integers(1, 255, n)

    def rand_ip(self, country) -> np.ndarray:
        country = np.atleast_1d(np.asarray(country, dtype=np.int64))
        pref = self.country_pref[country, self.rng.integers(0, 6, len(country))]
        return self._host(pref)

    def rand_cloud(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        j = self.rng.integers(0, N_CLOUD, n)
        return self._host(self.cloud_pref[j]), self.cloud_country[j]

    def new_devices(self, n) -> np.ndarray:
        return self.rng.integers(1, 2**46, n)

    def other_country(self, home: int) -> int:
        while True:
            c = int(self.rng.choice(len(CC), p=CW))
            if c != home:
                return c

    def local_sec(self, prof: np.ndarray) -> np.ndarray:
        """Seconds after local midnight, drawn from each row's hour profile."""
        u = self.rng.random(len(prof))
        hour = np.minimum((u[:, None] > HOUR_CUM[prof]).sum(1), 23)
        return hour * HOUR + self.rng.uniform(0, HOUR, len(prof))

    # ---- accounts -------------------------------------------------------------------------
    def _wallets(self) -> None:
        rng, n, nb, D = self.rng, self.nw, self.nb, self.days
        seg = rng.choice(4, n, p=[0.30, 0.585, 0.10, 0.015])
        seg[nb:] = rng.choice(2, n - nb, p=[0.5, 0.5])
        self.seg = seg
        country = rng.choice(len(CC), n, p=CW)
        lo = np.array([5.0, 500.0, 20_000.0, 3_000.0])[seg]
        hi = np.array([300.0, 50_000.0, 150_000.0, 60_000.0])[seg]
        self.med = np.exp(rng.uniform(np.log(lo), np.log(hi)))
        self.sigma = rng.uniform(0.4, 1.1, n)
        self.type_shift = rng.normal(0, 0.25, (n, 3))
        alpha = np.array([[6.0, 3.6, 2.4], [5.0, 4.4, 2.6], [5.0, 4.4, 2.6], [2.4, 7.2, 2.4]])
        g = rng.gamma(alpha[seg])
        self.p_type_cum = np.cumsum(g / g.sum(1, keepdims=True), axis=1)
        rate = np.array([0.25, 0.6, 0.35, 5.0])[seg] * rng.lognormal(0, 0.8, n)
        rate = np.where(seg == 3, 5.0 * rng.lognormal(0, 0.35, n), rate)
        bot = rng.random(n) < np.array([0.0, 0.18, 0.10, 0.7])[seg]
        bot[nb:] = False
        self.is_bot = bot
        self.rate = np.minimum(np.where(bot, rate * 1.8, rate), 40.0)
        self.api_frac = np.where(bot, np.where(seg == 3, 0.8, rng.uniform(0.5, 0.95, n)), 0.0)

        # registration (seconds from START; NaN = decided when the reserve wallet is used)
        new = rng.random(n) < 0.12
        reg = np.where(new, rng.uniform(0, max(D - 2, 1), n) * DAY,
                       -rng.uniform(20, 1400, n) * DAY)
        reg[nb:] = np.nan
        self.reg = reg
        p_kyc = np.array([0.6, 0.85, 0.97, 1.0])[seg] * np.where(new, 0.55, 1.0)
        p_kyc[nb:] = 0.35
        self.kyc = (rng.random(n) < p_kyc).astype(np.int8)
        self.kyc[self.nb + self.n_mule:] = 0

        # linked own accounts and households: pairs sharing a country (and ip / device)
        eligible = rng.permutation(np.flatnonzero(seg[:nb] != 3))
        n_link = int(0.05 * nb) // 2 * 2
        n_house = int(0.06 * nb) // 2 * 2
        link = eligible[:n_link].reshape(-1, 2)
        house = eligible[n_link:n_link + n_house].reshape(-1, 2)
        self.partner = np.full(n, -1)
        self.partner[link[:, 0]], self.partner[link[:, 1]] = link[:, 1], link[:, 0]
        self.house = np.full(n, -1)
        self.house[house[:, 0]], self.house[house[:, 1]] = house[:, 1], house[:, 0]
        self.link_pairs = [tuple(p) for p in link]
        rest = eligible[n_link + n_house:]
        rest = rest[seg[rest] == 1]
        self.firm = np.full(n, -1)
        firms, pos = [], 0
        for g in range(max(1, int(0.012 * nb / 4))):
            size = int(rng.integers(3, 7))
            if pos + size > len(rest):
                break
            firms.append(rest[pos:pos + size])
            self.firm[rest[pos:pos + size]] = g
            pos += size
        self.firms = firms
        country[link[:, 1]] = country[link[:, 0]]
        country[house[:, 1]] = country[house[:, 0]]
        for f in firms:
            country[f] = country[f[0]]
        self.country = country
        self.tz = TZ[country]

        self.n_dev = rng.choice([1, 2, 3], n, p=[0.55, 0.35, 0.10])
        self.dev = self.new_devices((n, 3))
        self.n_ip = rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15])
        self.home_ip = self.rand_ip(np.repeat(country, 3)).reshape(n, 3)
        self.dev[link[:, 1], 0] = self.dev[link[:, 0], 0]
        self.home_ip[link[:, 1], 0] = self.home_ip[link[:, 0], 0]
        self.home_ip[house[:, 1], 0] = self.home_ip[house[:, 0], 0]
        for f in firms:  # sub-accounts of a small trading firm run from one office machine
            self.dev[f, 0] = self.dev[f[0], 0]
            self.home_ip[f, 0] = self.home_ip[f[0], 0]

        self.vpn = rng.random(n) < 0.07
        trip = rng.random(n) < 0.07
        trip[nb:] = False
        self.trip_start = np.where(trip, rng.integers(0, max(D - 2, 1), n), 10**6)
        self.trip_end = self.trip_start + rng.integers(3, 13, n)
        tc = rng.choice(len(CC), n, p=CW)
        tc = np.where(tc == country, (tc + 1 + rng.integers(0, len(CC) - 1, n)) % len(CC), tc)
        self.trip_country = tc
        self.trip_dev = np.where(rng.random(n) < 0.3, self.new_devices(n), -1)
        self.phone_day = np.where(rng.random(n) < 0.06, rng.integers(1, max(D, 2), n), 10**6)
        self.phone_dev = self.new_devices(n)
        j = rng.integers(0, N_CLOUD, n)
        self.bot_ip = np.stack([self._host(self.cloud_pref[j]), self._host(self.cloud_pref[j])], 1)
        self.bot_country = self.cloud_country[j]
        self.bot_dev = self.new_devices(n)
        # some bots rotate their API key and move to another cloud host during the period
        self.bot_rot = np.where(rng.random(n) < 0.15, rng.integers(1, max(D, 2), n), 10**6)
        j2 = rng.integers(0, N_CLOUD, n)
        self.bot_ip2 = self._host(self.cloud_pref[j2])
        self.bot_country2 = self.cloud_country[j2]
        self.bot_dev2 = self.new_devices(n)

        prim = rng.choice(len(TOKENS), n, p=TOKEN_W)
        pref = 0.45 * TOKEN_W[None, :] + 0.55 * np.eye(len(TOKENS))[prim]
        self.tok_cum = np.cumsum(pref, axis=1)
        self.dca = (rng.random(n) < 0.05) & (seg <= 1)
        self.dca_amount = _nice(rng, self.med * rng.uniform(0.5, 2.0, n), 0.9)

        lim = np.where(seg >= 2, LIMITS[3], np.where(seg == 1, LIMITS[2], LIMITS[1]))
        self.limit = np.where(self.kyc == 1, lim, LIMITS[0])

        # activity pattern over days: steady, intermittent spells, near-dormant, fade in/out
        act = np.ones((nb, D))
        mode = rng.choice(4, nb, p=[0.70, 0.18, 0.07, 0.05])
        mode[(seg[:nb] == 3) | bot[:nb]] = 0
        for w in np.flatnonzero(mode == 1):
            pos, on = -int(rng.integers(0, 30)), bool(rng.random() < 0.5)
            while pos < D:
                length = int(rng.integers(3, 15)) if on else int(rng.integers(10, 41))
                act[w, max(pos, 0):max(pos + length, 0)] = 1.0 if on else 0.0
                pos, on = pos + length, not on
        act[mode == 2] *= 0.06
        for w in np.flatnonzero(mode == 3):
            cut = D // 2 + int(rng.integers(-5, 6))
            if rng.random() < 0.5:
                act[w, max(cut, 0):] *= 0.05
            else:
                act[w, :max(cut, 0)] *= 0.05
        reg_day = np.floor((reg[:nb] + self.tz[:nb] * HOUR) / DAY)
        act[np.arange(D)[None, :] < reg_day[:, None]] = 0.0
        self.active = act

    def _counterparties(self) -> None:
        rng, nb, K = self.rng, self.nb, 10
        base = np.arange(nb)
        otc = base[self.seg[:nb] == 3]
        by_country = {c: base[self.country[:nb] == c] for c in range(len(CC))}
        lists: list[list[int]] = []
        clients: dict[int, list[int]] = {int(o): [] for o in otc}
        for w in range(nb):
            lst: list[int] = []
            for other in (self.partner[w], self.house[w]):
                if other >= 0:
                    lst.append(int(other))
            if self.firm[w] >= 0:
                lst.extend(int(x) for x in self.firms[self.firm[w]] if x != w)
            p_otc = 0.25 if self.seg[w] == 0 else 0.75
            if self.seg[w] != 3 and len(otc) and rng.random() < p_otc:
                k = min(len(otc), 1 + int(rng.random() < 0.4))
                for o in rng.choice(otc, size=k, replace=False):
                    lst.append(int(o))
                    clients[int(o)].append(w)
            for _ in range(1 + int(rng.poisson(2.5))):
                pool = by_country[int(self.country[w])] if rng.random() < 0.6 else base
                c = int(pool[rng.integers(len(pool))])
                if c != w and c not in lst:
                    lst.append(c)
            lists.append(lst[:K])
        for o, cl in clients.items():
            extra = [int(c) for c in rng.choice(base, size=K, replace=False) if c != o]
            cl = list(dict.fromkeys(cl))
            if len(cl) > K:
                cl = [int(c) for c in rng.choice(cl, size=K, replace=False)]
            lists[o] = (cl + extra)[:K]
        self.cp = np.full((self.nw, K), -1)
        self.cp_n = np.zeros(self.nw, dtype=int)
        for w, lst in enumerate(lists):
            self.cp[w, : len(lst)] = lst
            self.cp_n[w] = len(lst)
        self.otc_ids = otc

    # ---- per-row helpers ------------------------------------------------------------------
    def tokens_for(self, w: np.ndarray) -> np.ndarray:
        u = self.rng.random(len(w))
        return np.minimum((u[:, None] > self.tok_cum[w]).sum(1), len(TOKENS) - 1)

    def random_base(self, w: np.ndarray) -> np.ndarray:
        r = self.rng.integers(0, self.nb - 1, len(w))
        return np.where(r >= w, r + 1, r)

    def contexts(self, w: np.ndarray, ts: np.ndarray):
        """IP, country and device of human (non-API) activity; sticky per account and day."""
        rng, D = self.rng, self.days
        day = np.floor((ts + self.tz[w] * HOUR) / DAY).astype(np.int64)
        key = w.astype(np.int64) * (D + 4) + (day + 2)
        uk, inv = np.unique(key, return_inverse=True)
        kw, kd = uk // (D + 4), uk % (D + 4) - 2
        m = len(uk)
        u = rng.random(m)
        j = np.minimum(np.where(u < 0.8, 0, np.where(u < 0.95, 1, 2)), self.n_dev[kw] - 1)
        dev = self.dev[kw, j]
        dev = np.where((kd >= self.phone_day[kw]) & (j == 0), self.phone_dev[kw], dev)
        u = rng.random(m)
        j = np.minimum(np.where(u < 0.7, 0, np.where(u < 0.9, 1, 2)), self.n_ip[kw] - 1)
        ip = self.home_ip[kw, j]
        ctry = self.country[kw].copy()
        mobile = rng.random(m) < 0.18
        ip = np.where(mobile, self.cgnat[ctry, rng.integers(0, 24, m)], ip)
        vpn = self.vpn[kw] & (rng.random(m) < 0.35)
        cip, cc = self.vpn_exit(m)
        ip, ctry = np.where(vpn, cip, ip), np.where(vpn, cc, ctry)
        trav = (kd >= self.trip_start[kw]) & (kd < self.trip_end[kw])
        tip = self.rand_ip(self.trip_country[kw])
        ip, ctry = np.where(trav, tip, ip), np.where(trav, self.trip_country[kw], ctry)
        tdev = self.trip_dev[kw]
        dev = np.where(trav & (tdev >= 0) & (rng.random(m) < 0.85), tdev, dev)
        return ip[inv], ctry[inv], dev[inv]

    # ---- legitimate traffic ---------------------------------------------------------------
    def legit(self) -> dict[str, np.ndarray]:
        rng, nb, D = self.rng, self.nb, self.days
        weekend = (np.arange(D) % 7) >= 5
        dowf = np.where(weekend[None, :], np.where(self.is_bot[:nb, None], 0.92, 0.62), 1.0)
        inten = self.rate[:nb, None] * dowf * self.active
        self.inten = inten
        burst = (rng.random((nb, D)) < np.where(self.is_bot[:nb], 0.0, 0.012)[:, None])
        burst &= self.active > 0.5
        inten = np.where(burst, inten * rng.uniform(4, 12, (nb, D)) + 3.0, inten)
        cnt = rng.poisson(inten)
        wi, di = np.nonzero(cnt)
        k = cnt[wi, di]
        w, dd = np.repeat(wi, k), np.repeat(di, k)
        n = len(w)
        api = self.is_bot[w] & (rng.random(n) < self.api_frac[w])
        prof = np.where(api, 2, np.where(self.seg[w] == 0, 0, 1))
        sec = self.local_sec(prof)
        centre = self.local_sec(np.ones(nb * D, dtype=int)).reshape(nb, D)
        inb = burst[w, dd] & ~api & (rng.random(n) < 0.85)
        sec = np.where(inb, centre[w, dd] + rng.normal(0, 2100, n), sec)
        ts = np.floor(dd * DAY + sec - self.tz[w] * HOUR)

        typ = (rng.random(n)[:, None] > self.p_type_cum[w, :2]).sum(1)
        z = rng.normal(0, 1, n)
        amount = self.med[w] * np.exp(self.type_shift[w, typ] + self.sigma[w] * z)
        big = rng.random(n) < 0.008
        amount = np.where(big, amount * np.exp(rng.normal(2.3, 0.6, n)), amount)
        dca = self.dca[w] & (typ == DEP) & (rng.random(n) < 0.6)
        amount = np.where(dca, self.dca_amount[w] * rng.uniform(0.995, 1.005, n), amount)
        amount = np.where(~api & ~dca, _nice(rng, amount, 0.2), amount)
        u = rng.random(n)
        known = (u < 0.88) & (self.cp_n[w] > 0)
        idx = np.floor(self.cp_n[w] * rng.random(n) ** 1.7).astype(int)
        cp = np.where(known, self.cp[w, np.minimum(idx, 9)], self.random_base(w))
        cp = np.where(typ == TRF, cp, -1)
        tok = self.tokens_for(w)

        # account sequences: first deposit of new accounts, reactivation after dormancy
        o = np.lexsort((ts, w))
        w, ts, typ, amount, cp, tok, api = w[o], ts[o], typ[o], amount[o], cp[o], tok[o], api[o]
        keep = (ts >= 0) & (ts < self.t_end) & (ts > self.reg[w] + 60)
        w, ts, typ, amount, cp, tok, api = (a[keep] for a in (w, ts, typ, amount, cp, tok, api))
        n = len(w)
        first = np.r_[True, w[1:] != w[:-1]]
        prev = np.r_[0.0, ts[:-1]]
        gap = np.where(first, ts - np.maximum(0.0, self.reg[w]), ts - prev)
        newacct = first & (self.reg[w] >= 0)
        typ = np.where(newacct, DEP, typ)
        react = (gap > 15 * DAY) & ~api & ~newacct & (rng.random(n) < 0.35)
        typ = np.where(react, RED, typ)
        amount = np.where(react, amount * rng.uniform(2, 8, n), amount)
        otc_buy = newacct & (rng.random(n) < 0.3) & (len(self.otc_ids) > 0)
        amount = np.where(otc_buy, amount * rng.uniform(3, 12, n), amount)
        cp = np.where(typ == TRF, cp, -1)
        rows = {"w": w, "ts": ts, "amount": amount, "type": typ, "cp": cp, "token": tok,
                "api": api}
        extra = [rows]

        # new account buys at an OTC desk right after its first deposit
        b = np.flatnonzero(otc_buy)
        if len(b):
            desk = self.otc_ids[rng.integers(0, len(self.otc_ids), len(b))]
            extra.append({"w": w[b], "ts": ts[b] + rng.uniform(300, 5400, len(b)),
                          "amount": amount[b] * rng.uniform(0.85, 1.0, len(b)),
                          "type": np.full(len(b), TRF), "cp": desk,
                          "token": rng.choice(2, len(b)), "api": np.zeros(len(b), bool)})
        # payout runs: one account pays many parties within the hour
        dist = rng.permutation(np.flatnonzero(self.seg[:nb] >= 1))[: max(2, int(0.015 * nb))]
        for a in dist:
            for _ in range(int(rng.integers(1, 4))):
                m = int(rng.integers(8, 26))
                t0 = rng.uniform(max(0.0, self.reg[a]) + HOUR, self.t_end - 2 * HOUR)
                base_amt = self.med[a] * rng.uniform(0.3, 1.5)
                extra.append({
                    "w": np.full(m, a),
                    "ts": t0 + np.sort(rng.uniform(0, rng.uniform(900, 5400), m)),
                    "amount": _nice(rng, base_amt * rng.uniform(0.7, 1.3, m), 0.4),
                    "type": np.full(m, TRF), "cp": self.random_base(np.full(m, a)),
                    "token": np.full(m, self.tokens_for(np.array([a]))[0]),
                    "api": np.full(m, self.is_bot[a]) & (rng.random(m) < 0.5)})
        # position closings: several withdrawals within a few hours, kept under the limit
        clo = rng.permutation(np.flatnonzero(~self.is_bot[:nb]))[: max(2, int(0.025 * nb))]
        for a in clo:
            m = int(rng.integers(3, 9))
            t0 = rng.uniform(max(0.0, self.reg[a]) + HOUR, self.t_end - 4 * HOUR)
            amt = self.med[a] * rng.uniform(1.5, 6, m)
            amt = np.minimum(amt, self.limit[a] * rng.uniform(0.9, 0.995, m))
            extra.append({"w": np.full(m, a),
                          "ts": t0 + np.sort(rng.uniform(0, rng.uniform(1800, 3 * HOUR), m)),
                          "amount": amt, "type": np.full(m, RED), "cp": np.full(m, -1),
                          "token": self.tokens_for(np.full(m, a)), "api": np.zeros(m, bool)})
        r = {k: np.concatenate([e[k] for e in extra]) for k in rows}

        # OTC settlement: the desk sends value back in another token
        s = np.flatnonzero((r["type"] == TRF) & np.isin(r["cp"], self.otc_ids)
                           & (rng.random(len(r["w"])) < 0.55))
        desk = r["cp"][s]
        sett = {"w": desk, "ts": r["ts"][s] + rng.uniform(180, 3600, len(s)),
                "amount": r["amount"][s] * rng.uniform(0.985, 1.01, len(s)),
                "type": np.full(len(s), TRF), "cp": r["w"][s],
                "token": (r["token"][s] + rng.integers(1, len(TOKENS), len(s))) % len(TOKENS),
                "api": self.is_bot[desk] & (rng.random(len(s)) < 0.8)}
        r = {k: np.concatenate([r[k], sett[k]]) for k in r}

        # withdrawals above the per-withdrawal limit are split into pieces
        over = (r["type"] == RED) & (r["amount"] > self.limit[r["w"]])
        k = np.where(over, np.minimum(np.ceil(r["amount"] / self.limit[r["w"]]), 6), 1)
        k = k.astype(int)
        rep = np.repeat(np.arange(len(k)), k)
        starts = np.cumsum(k) - k
        pos = np.arange(len(rep)) - np.repeat(starts, k)
        gaps = np.where(pos == 0, 0.0, rng.uniform(20, 300, len(rep)))
        cs = np.cumsum(gaps)
        off = cs - np.repeat(cs[starts], k)
        r = {key: v[rep] for key, v in r.items()}
        lim = self.limit[r["w"]]
        piece = r["amount"] / np.repeat(k, k) * rng.uniform(0.97, 1.0, len(rep))
        r["amount"] = np.where(np.repeat(k, k) > 1, np.minimum(piece, lim * 0.999), r["amount"])
        r["ts"] = np.floor(r["ts"] + off)

        ok = (r["ts"] >= 0) & (r["ts"] < self.t_end) & (r["ts"] > self.reg[r["w"]] + 60)
        r = {key: v[ok] for key, v in r.items()}
        # nobody pays an account before it exists: such payees become an older account
        late = (r["cp"] >= 0) & (self.reg[np.maximum(r["cp"], 0)] > r["ts"] - 60)
        old = np.flatnonzero(self.reg[:nb] < 0)
        r["cp"] = np.where(late, old[rng.integers(0, len(old), len(late))], r["cp"])
        r["cp"] = np.where(r["cp"] == r["w"], old[rng.integers(0, len(old), len(late))],
                           r["cp"])
        r["amount"] = np.where(r["amount"] < 1.0, 1.0 + 2.0 * rng.random(len(r["w"])),
                               r["amount"])
        o = np.lexsort((r["ts"], r["w"]))
        return {key: v[o] for key, v in r.items()}


class _Injector:
    """Writes fraud episodes (rows + explicit logins) on top of the legitimate traffic."""

    def __init__(self, world: _World, legit: dict[str, np.ndarray]):
        self.W = world
        self.rng = world.rng
        self.L = legit
        self.keep = np.ones(len(legit["w"]), dtype=bool)
        self.keym = np.int64(world.t_end + 10 * DAY)
        self.keys = legit["w"].astype(np.int64) * self.keym + legit["ts"].astype(np.int64)
        nb = world.nb
        cnt = np.bincount(legit["w"], minlength=world.nw)
        self.count = cnt
        human = ~world.is_bot & (world.seg != 3)
        human[nb:] = False
        thr = np.quantile(cnt[:nb][human[:nb]], 0.5) if human[:nb].any() else 0
        self.low_act = np.flatnonzero(human & (cnt <= thr))
        self.used: set[int] = set()
        self.rows: dict[str, list] = {k: [] for k in (
            "w", "ts", "amount", "type", "cp", "token", "ip", "country", "device", "mode",
            "var")}
        self.logins: dict[str, list] = {k: [] for k in (
            "w", "ts", "ip", "country", "device", "success")}
        self.var = -1

    # ---- primitives -----------------------------------------------------------------------
    def add(self, w, ts, amount, typ, cp=-1, token=-1, ctx=None, mode=0) -> None:
        if token < 0:
            token = int(self.W.tokens_for(np.array([w]))[0])
        ip, c, dv = ctx if ctx is not None else (-1, -1, -1)
        for k, v in zip(self.rows, (int(w), float(ts), float(amount), typ, int(cp), int(token),
                                    int(ip), int(c), int(dv), mode, self.var), strict=True):
            self.rows[k].append(v)

    def login(self, w, ts, ip, c, dv, success) -> None:
        for k, v in zip(self.logins, (int(w), float(ts), int(ip), int(c), int(dv), success),
                        strict=True):
            self.logins[k].append(v)

    def cashout(self, w, t, amount, token=-1, ctx=None, mode=0, gap=(30, 300)) -> float:
        """Withdraw ``amount``, split into pieces no larger than the account's limit."""
        rng, lim = self.rng, float(self.W.limit[w])
        if amount <= lim:
            self.add(w, t, float(_nice(rng, amount, 0.25)[0]), RED, token=token, ctx=ctx,
                     mode=mode)
            return t
        k = int(np.ceil(amount / lim))
        if k > 8:
            pieces = lim * rng.uniform(0.88, 0.995, 8)
        else:
            pieces = np.minimum(amount / k * rng.uniform(0.97, 1.0, k), lim * 0.999)
        for i, p in enumerate(pieces):
            if i:
                t += rng.uniform(*gap)
            self.add(w, t, p, RED, token=token, ctx=ctx, mode=mode)
        return t

    def when(self, period: int, dur: float, min_t: float = 0.0) -> float:
        W, rng = self.W, self.rng
        p0, p1 = (0.0, W.t_split) if period == 0 else (W.t_split, W.t_end)
        lo = max(p0, min_t) + 1800
        hi = max(p1 - dur - 1800, lo + 1)
        day = int(rng.integers(int(lo // DAY), int(np.ceil(hi / DAY))))
        tz = TZ[rng.choice(len(CC), p=CW)]
        t = day * DAY + W.local_sec(np.array([1]))[0] - tz * HOUR
        return float(t) if lo <= t <= hi else float(rng.uniform(lo, hi))

    def count_in(self, ws: np.ndarray, a: float, b: float) -> np.ndarray:
        base = ws.astype(np.int64) * self.keym
        return (np.searchsorted(self.keys, base + int(b))
                - np.searchsorted(self.keys, base + int(max(a, 0))))

    def fresh_reg(self, w: int, t: float, lo_days: float, hi_days: float) -> None:
        reg = self.W.reg[w]
        if np.isnan(reg) or reg > t - 600:
            self.W.reg[w] = t - _logu(self.rng, lo_days, hi_days) * DAY

    def mules(self, t: float, k: int, exclude=()) -> list[int]:
        """Receiving or passing-through accounts: fresh reserve wallets or little-used ones."""
        W, rng, out = self.W, self.rng, []
        bad = set(exclude) | self.used
        for _ in range(200 * k):
            if len(out) == k:
                break
            if rng.random() < 0.45 or not len(self.low_act):
                w = int(W.mule_pool[rng.integers(len(W.mule_pool))])
            else:
                w = int(self.low_act[rng.integers(len(self.low_act))])
                if W.reg[w] > t - DAY:
                    continue
            if w in bad or w in out:
                continue
            out.append(w)
        for w in out:
            if w >= W.nb:
                self.fresh_reg(w, t, 0.1, 10.0)
        return out

    def pick(self, mask: np.ndarray, t: float, min_before: int = 0, exclude=()) -> int:
        """A random base account satisfying ``mask``, registered and active before ``t``."""
        W = self.W
        m = mask[: W.nb] & (np.nan_to_num(W.reg[: W.nb], nan=np.inf) < t - 2 * DAY)
        cand = np.flatnonzero(m)
        cand = cand[~np.isin(cand, list(self.used | set(exclude)))]
        if min_before and len(cand):
            ok = self.count_in(cand, 0, t) >= min_before
            if ok.any():
                cand = cand[ok]
        if not len(cand):
            cand = np.flatnonzero(W.reg[: W.nb] < t - DAY)
        return int(cand[self.rng.integers(len(cand))])

    def exit_wallet(self, t: float, exclude=()) -> int:
        W = self.W
        mask = (W.kyc == 1) & np.isin(W.seg, [1, 2]) & ~W.is_bot
        return self.pick(mask, t, exclude=exclude)

    def controller(self):
        rng, W = self.rng, self.W
        kind = int(rng.integers(3))  # 0: ip and device, 1: ip only, 2: device only
        if rng.random() < 0.5:
            ip, c = (int(x[0]) for x in W.rand_cloud(1))
        else:
            c = int(rng.choice(len(CC), p=CW))
            ip = int(W.rand_ip(c)[0])
        dv = int(W.new_devices(1)[0])
        return (ip if kind != 2 else -1, c if kind != 2 else -1, dv if kind != 1 else -1)

    def nice1(self, x, p=0.2, floor=False) -> float:
        return float(_nice(self.rng, x, p, floor)[0])

    # ---- rapid_transfers ------------------------------------------------------------------
    def peel_chain(self, period: int) -> None:
        rng = self.rng
        n_hops = int(rng.integers(4, 10))
        t = self.when(period, 6 * HOUR)
        ws = self.mules(t, n_hops)
        ws.append(self.exit_wallet(t, ws) if rng.random() < 0.6 else self.mules(t, 1, ws)[0])
        ctx = self.controller() if rng.random() < 0.45 else None
        token = int(rng.choice(len(TOKENS), p=[0.3, 0.05, 0.4, 0.25, 0.0, 0.0]))
        D = _logu(rng, 2500, 90_000)
        self.add(ws[0], t, self.nice1(D), DEP, token=token, ctx=ctx)
        R, cur = D, t
        for i in range(n_hops):
            h = ws[i]
            cur += rng.uniform(60, 1200)
            peel = R * rng.uniform(0.03, 0.14)
            if rng.random() < 0.55:
                cur = self.cashout(h, cur, peel, token, ctx)
            else:
                dst = self.pick(np.ones(self.W.nw, bool), t, exclude=ws)
                self.add(h, cur, peel, TRF, cp=dst, token=token, ctx=ctx)
            cur += rng.uniform(20, 400)
            R = (R - peel) * (1 - rng.uniform(0.0005, 0.004))
            self.add(h, cur, R, TRF, cp=ws[i + 1], token=token, ctx=ctx)
        self.cashout(ws[-1], cur + rng.uniform(120, 2400), R * rng.uniform(0.985, 1.0), token,
                     ctx)

    def layering_mesh(self, period: int) -> None:
        rng = self.rng
        t = self.when(period, 8 * HOUR)
        src = self.mules(t, 1)[0]
        k1 = int(rng.integers(3, 7))
        l1 = self.mules(t, k1, [src])
        l2 = self.mules(t, int(rng.integers(2, 6)), [src, *l1])
        exits = [self.exit_wallet(t, [src, *l1, *l2]) for _ in range(int(rng.integers(1, 3)))]
        toks = rng.permutation([0, 1, 2, 3, 5])[:3]
        ctx = self.controller() if rng.random() < 0.35 else None
        D = _logu(rng, 4000, 120_000)
        self.add(src, t, self.nice1(D), DEP, token=int(toks[0]), ctx=ctx)
        got2 = {w: [0.0, 0.0] for w in l2}  # amount, last time
        cur = t
        for w1, share in zip(l1, rng.dirichlet(np.full(k1, 3.0)), strict=True):
            cur += rng.uniform(20, 240)
            amt = D * share * (1 - rng.uniform(0.001, 0.005))
            self.add(src, cur, amt, TRF, cp=w1, token=int(toks[0]), ctx=ctx)
            t1 = cur + rng.uniform(300, 2700)
            k2 = int(rng.integers(1, min(3, len(l2)) + 1))
            for w2, s2 in zip(rng.choice(l2, k2, replace=False), rng.dirichlet(np.ones(k2)),
                              strict=True):
                self.add(w1, t1, amt * s2, TRF, cp=int(w2), token=int(toks[1]), ctx=ctx)
                got2[int(w2)][0] += amt * s2
                got2[int(w2)][1] = max(got2[int(w2)][1], t1)
                t1 += rng.uniform(10, 120)
        got_exit = {e: [0.0, 0.0] for e in exits}
        for w2, (amt, last) in got2.items():
            if amt <= 0:
                continue
            e = exits[int(rng.integers(len(exits)))]
            t2 = last + rng.uniform(300, 3600)
            self.add(w2, t2, amt * (1 - rng.uniform(0.001, 0.005)), TRF, cp=e,
                     token=int(toks[2]), ctx=ctx)
            got_exit[e][0] += amt
            got_exit[e][1] = max(got_exit[e][1], t2)
        for e, (amt, last) in got_exit.items():
            if amt > 0:
                self.cashout(e, last + rng.uniform(600, 5400), amt * 0.99, int(toks[2]))

    def fan_in_fan_out(self, period: int) -> None:
        rng = self.rng
        t = self.when(period, 7 * HOUR)
        coll = self.mules(t, 1)[0]
        senders = self.mules(t, int(rng.integers(6, 16)), [coll])
        total, last = 0.0, t
        for s in senders:
            amt = _logu(rng, 300, 9000)
            ts = t + rng.uniform(0, 5400)
            if rng.random() < 0.5:
                self.add(s, ts, self.nice1(amt * rng.uniform(1.0, 1.03), 0.4), DEP)
                ts += rng.uniform(120, 1800)
            self.add(s, ts, self.nice1(amt, 0.3), TRF, cp=coll, token=0)
            total += amt
            last = max(last, ts)
        cur = last + rng.uniform(180, 1800)
        recv = self.mules(cur, int(rng.integers(4, 11)), [coll, *senders])
        for r_, share in zip(recv, rng.dirichlet(np.full(len(recv), 4.0)), strict=True):
            amt = total * rng.uniform(0.97, 0.995) * share
            self.add(coll, cur, amt, TRF, cp=r_, token=0)
            if rng.random() < 0.5:
                self.cashout(r_, cur + rng.uniform(300, 3600), amt * rng.uniform(0.97, 1.0), 0)
            cur += rng.uniform(10, 180)

    # ---- redemption_burst -----------------------------------------------------------------
    def dormant_cashout(self, period: int) -> None:
        W, rng = self.W, self.rng
        G = W.gap_days * DAY
        t = self.when(period, 3 * HOUR, min_t=G + 2 * DAY)
        mask = ~W.is_bot[: W.nb] & (W.seg[: W.nb] != 3)
        mask &= np.nan_to_num(W.reg[: W.nb], nan=np.inf) < t - G - 3 * DAY
        cand = np.flatnonzero(mask)
        cand = cand[~np.isin(cand, list(self.used))]
        c = self.count_in(cand, t - G, t + 3 * HOUR)
        best = cand[c <= c.min()]
        w = int(best[rng.integers(len(best))])
        base = np.int64(w) * self.keym
        lo = np.searchsorted(self.keys, base + int(t - G))
        hi = np.searchsorted(self.keys, base + int(t + 3 * HOUR))
        self.keep[lo:hi] = False
        self.used.add(w)
        B = W.med[w] * _logu(rng, 8, 40)
        k = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
        cur = t
        for share in rng.dirichlet(np.full(k, 3.0)):
            cur = self.cashout(w, cur, B * share) + rng.uniform(30, 1200)

    def limit_skirting(self, period: int) -> None:
        W, rng = self.W, self.rng
        t = self.when(period, 16 * HOUR)
        mask = ~W.is_bot & np.isin(W.seg, [0, 1]) & (W.limit <= LIMITS[2])
        w = self.pick(mask, t, min_before=3)
        self.used.add(w)
        L = float(W.limit[w])
        n = int(rng.integers(8, 22))
        times = t + np.sort(rng.uniform(0, rng.uniform(4, 14) * HOUR, n))
        amts = _nice(rng, L * rng.uniform(0.86, 0.995, n), 0.3, floor=True)
        amts = np.where(amts < 0.85 * L, L * rng.uniform(0.9, 0.99, n), amts)
        tok = int(W.tokens_for(np.array([w]))[0])
        for ts, a in zip(times, amts, strict=True):
            self.add(w, ts, a, RED, token=tok if rng.random() < 0.7 else -1)

    def multi_token_sweep(self, period: int) -> None:
        W, rng = self.W, self.rng
        t = self.when(period, 2 * HOUR)
        w = self.pick(~W.is_bot & (W.seg != 3), t, min_before=3)
        self.used.add(w)
        cur = t
        for tok in rng.permutation(len(TOKENS))[: int(rng.integers(4, 7))]:
            amt = min(W.med[w] * _logu(rng, 1.5, 12), W.limit[w] * rng.uniform(0.9, 0.99))
            self.add(w, cur, amt, RED, token=int(tok))
            cur += rng.uniform(15, 240)

    # ---- account_takeover -----------------------------------------------------------------
    def drain(self, v: int, t: float, ctx, k: int, gap) -> None:
        W, rng = self.W, self.rng
        B = W.med[v] * _logu(rng, 4, 25)
        cur = t
        for share in rng.dirichlet(np.full(k, 2.0)):
            p = B * share
            if rng.random() < 0.5 or p > 4 * W.limit[v]:
                m = self.mules(cur, 1, [v])[0]
                self.add(v, cur, self.nice1(p, 0.3), TRF, cp=m, ctx=ctx, mode=1)
                if rng.random() < 0.5:
                    self.cashout(m, cur + rng.uniform(300, 3600), p * rng.uniform(0.97, 1.0))
            else:
                cur = self.cashout(v, cur, p, ctx=ctx, mode=1, gap=gap)
            cur += rng.uniform(*gap)

    def victim(self, mask: np.ndarray, t: float) -> int:
        v = self.pick(mask, t, min_before=5)
        self.used.add(v)
        return v

    def sim_swap(self, period: int) -> None:
        W, rng = self.W, self.rng
        t = self.when(period, 4 * HOUR)
        v = self.victim(~W.is_bot & (W.seg != 3), t)
        home = int(W.country[v])
        c = home if rng.random() < 0.35 else W.other_country(home)
        ip, dv = int(W.rand_ip(c)[0]), int(W.new_devices(1)[0])
        u = rng.random()
        if u < 0.25:
            ip, c = (int(x[0]) for x in W.vpn_exit(1))
        elif u < 0.5:
            ip = int(W.cgnat[c, rng.integers(24)])
        self.login(v, t, ip, c, dv, 1)
        t2 = t + rng.uniform(90, 480)
        self.login(v, t2, ip, c, dv, 1)
        self.drain(v, t2 + rng.uniform(60, 1200), (ip, c, dv), int(rng.integers(1, 6)),
                   (30, 400))
        if rng.random() < 0.7:
            tf = t2 + rng.uniform(1, 12) * HOUR
            for _ in range(int(rng.integers(1, 5))):
                tf += rng.uniform(10, 120)
                if tf < W.t_end:
                    self.login(v, tf, W.home_ip[v, 0], home, W.dev[v, 0], 0)

    def credential_stuffing(self, period: int) -> None:
        W, rng = self.W, self.rng
        span = rng.uniform(1, 9) * HOUR
        t = self.when(period, 3 * HOUR, min_t=span + HOUR)
        v = self.victim(W.seg != 3, t)
        n_f = int(rng.integers(8, 51))
        devs = W.new_devices(int(rng.integers(1, 6)))
        for tf in t - rng.uniform(30, span, n_f):
            if rng.random() < 0.3:
                ip, c = (int(x[0]) for x in W.rand_cloud(1))
            else:
                c = int(rng.integers(len(CC)))
                ip = int(W.rand_ip(c)[0])
            self.login(v, tf, ip, c, devs[rng.integers(len(devs))], 0)
        if rng.random() < 0.4:
            ip, c = (int(x[0]) for x in W.rand_cloud(1))
        else:
            c = int(rng.integers(len(CC)))
            ip = int(W.rand_ip(c)[0])
        dv = int(devs[rng.integers(len(devs))])
        self.login(v, t, ip, c, dv, 1)
        self.drain(v, t + rng.uniform(120, 1800), (ip, c, dv), int(rng.integers(1, 5)),
                   (30, 600))

    def api_key_theft(self, period: int) -> None:
        W, rng = self.W, self.rng
        t = self.when(period, 2 * HOUR)
        if rng.random() < 0.75 and W.is_bot[: W.nb].any():
            v = self.victim(W.is_bot & (W.seg != 3), t)
        else:
            v = self.victim(~W.is_bot & np.isin(W.seg, [1, 2]), t)
        ip, c = (int(x[0]) for x in W.rand_cloud(1))
        self.drain(v, t, (ip, c, int(W.new_devices(1)[0])), int(rng.integers(3, 12)), (5, 120))

    # ---- suspicious_deposit ---------------------------------------------------------------
    def smurfing_ring(self, period: int) -> None:
        rng = self.rng
        T = THRESHOLDS[0] if rng.random() < 0.75 else THRESHOLDS[1]
        span = rng.uniform(1, 3.5) * DAY
        t0 = self.when(period, span + 1.6 * DAY)
        members = self.mules(t0, int(rng.integers(3, 8)))
        coll = self.exit_wallet(t0, members) if rng.random() < 0.5 else \
            self.mules(t0, 1, members)[0]
        ctx = self.controller() if rng.random() < 0.35 else None
        total, last = 0.0, t0
        for m in members:
            nd = int(rng.integers(2, 7))
            times = np.sort(t0 + rng.uniform(0, span, nd))
            amts = _nice(rng, T * rng.uniform(0.80, 0.995, nd), 0.35, floor=True)
            amts = np.where(amts < 0.8 * T, T * rng.uniform(0.85, 0.99, nd), amts)
            tok = int(rng.choice([0, 1], p=[0.7, 0.3]))
            for ts, a in zip(times, amts, strict=True):
                self.add(m, ts, a, DEP, token=tok, ctx=ctx)
            tt = times[-1] + rng.uniform(0.5, 10) * HOUR
            self.add(m, tt, amts.sum() * rng.uniform(0.95, 0.995), TRF, cp=coll, token=tok,
                     ctx=ctx)
            total += amts.sum()
            last = max(last, tt)
        self.cashout(coll, last + rng.uniform(1, 8) * HOUR, total * rng.uniform(0.97, 0.99), 0)

    def fresh_account_passthrough(self, period: int) -> None:
        W, rng = self.W, self.rng
        t = self.when(period, 2 * HOUR)
        if self.W.fresh_pool:
            w = self.W.fresh_pool.pop(int(rng.integers(len(self.W.fresh_pool))))
            W.reg[w] = t - _logu(rng, 0.02, 3) * DAY
            W.kyc[w] = int(rng.random() < 0.15)
            W.limit[w] = LIMITS[2] if W.kyc[w] else LIMITS[0]
        else:
            w = self.mules(t, 1)[0]
        self.used.add(w)
        D = _logu(rng, 2500, 70_000)
        tok = int(rng.choice(len(TOKENS), p=TOKEN_W))
        self.add(w, t, self.nice1(D, 0.3), DEP, token=tok)
        cur = t + rng.uniform(90, 1200)
        k = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
        for share in rng.dirichlet(np.full(k, 3.0)):
            amt = D * rng.uniform(0.97, 1.0) * share
            if rng.random() < 0.7 or amt > 3 * W.limit[w]:
                dst = self.exit_wallet(t, [w]) if rng.random() < 0.5 else \
                    self.mules(t, 1, [w])[0]
                self.add(w, cur, amt, TRF, cp=dst, token=tok)
            else:
                cur = self.cashout(w, cur, amt, tok)
            cur += rng.uniform(30, 400)

    def single_structurer(self, period: int) -> None:
        W, rng = self.W, self.rng
        T = THRESHOLDS[0] if rng.random() < 0.7 else THRESHOLDS[1]
        span = rng.uniform(2, 6) * DAY
        t0 = self.when(period, span + HOUR)
        seg = 1 if rng.random() < 0.8 else 0
        w = self.pick(~W.is_bot & (W.seg == seg), t0, min_before=2)
        self.used.add(w)
        n = int(rng.integers(4, 11))
        tok = int(rng.choice([0, 1, 2], p=[0.6, 0.3, 0.1]))
        amts = _nice(rng, T * rng.uniform(0.82, 0.995, n), 0.35, floor=True)
        amts = np.where(amts < 0.8 * T, T * rng.uniform(0.85, 0.99, n), amts)
        for ts, a in zip(np.sort(t0 + rng.uniform(0, span, n)), amts, strict=True):
            self.add(w, ts, a, DEP, token=tok)

    # ---- other_round_tripping -------------------------------------------------------------
    def chain_return(self, period: int) -> None:
        W, rng = self.W, self.rng
        cycles = int(rng.integers(1, 4))
        t = self.when(period, cycles * 19 * HOUR)
        a = self.pick(~W.is_bot & np.isin(W.seg, [1, 2]), t, min_before=2)
        self.used.add(a)
        inter = self.mules(t, int(rng.integers(2, 5)), [a])
        X = float(W.med[a] * _logu(rng, 1.0, 6.0))
        X = X if X <= 200_000 else float(_logu(rng, 40_000, 200_000))
        cur = t
        for _ in range(cycles):
            amt = self.nice1(X * rng.uniform(0.9, 1.1), 0.3)
            chain = [a, *[inter[i] for i in rng.permutation(len(inter))], a]
            tok = int(W.tokens_for(np.array([a]))[0])
            for j in range(len(chain) - 1):
                if rng.random() < 0.3:
                    tok = int(rng.choice(len(TOKENS), p=TOKEN_W))
                self.add(chain[j], cur, amt, TRF, cp=chain[j + 1], token=tok)
                amt *= 1 - rng.uniform(0.002, 0.015)
                cur += rng.uniform(300, 5400)
            cur += rng.uniform(3, 12) * HOUR

    def exit_reenter(self, period: int) -> None:
        W, rng = self.W, self.rng
        t = self.when(period, 24 * HOUR)
        a = self.pick(~W.is_bot & np.isin(W.seg, [1, 2]), t, min_before=2)
        self.used.add(a)
        X = max(500.0, W.med[a] * _logu(rng, 3, 15))
        tok = int(rng.choice([2, 3, 4, 5]))
        cur = self.cashout(a, t, X, tok)
        k = int(rng.integers(1, 4))
        back = X * rng.uniform(0.96, 0.995)
        times = np.sort(cur + rng.uniform(1, 20, k) * HOUR)
        for ts, share in zip(times, rng.dirichlet(np.full(k, 3.0)), strict=True):
            self.add(a, ts, back * share, DEP, token=int(rng.choice([0, 1])))

    # ---- other_wash_trading ---------------------------------------------------------------
    def ping_pong(self, period: int) -> None:
        W, rng = self.W, self.rng
        n = int(rng.integers(8, 26))
        t = self.when(period, n * 1800 + HOUR)
        pairs = [p for p in W.link_pairs if not (set(p) & self.used)
                 and max(W.reg[p[0]], W.reg[p[1]]) < t - 2 * DAY]
        if pairs and rng.random() < 0.5:
            a, b = (int(x) for x in pairs[int(rng.integers(len(pairs)))])
            ctx = None
        else:
            a, b = self.mules(t, 2)
            ctx = self.controller() if rng.random() < 0.6 else None
        self.used.update((a, b))
        X = _logu(rng, 800, 40_000)
        tok = int(rng.choice(len(TOKENS), p=TOKEN_W))
        cur = t
        for i in range(n):
            src, dst = (a, b) if i % 2 == 0 else (b, a)
            self.add(src, cur, self.nice1(X * rng.uniform(0.97, 1.03), 0.2), TRF, cp=dst,
                     token=tok, ctx=ctx)
            cur += rng.uniform(120, 1800)

    def ring(self, period: int) -> None:
        rng = self.rng
        m, rounds = int(rng.integers(3, 6)), int(rng.integers(2, 7))
        t = self.when(period, rounds * m * HOUR + HOUR)
        ws = self.mules(t, m)
        ctx = self.controller() if rng.random() < 0.5 else None
        X = _logu(rng, 1000, 30_000)
        tok = int(rng.choice(len(TOKENS), p=TOKEN_W))
        cur = t
        for _ in range(rounds):
            for j in range(m):
                self.add(ws[j], cur, X * rng.uniform(0.97, 1.02), TRF, cp=ws[(j + 1) % m],
                         token=tok, ctx=ctx)
                cur += rng.uniform(300, 3600)


def _var_list() -> list[tuple[str, str]]:
    return [(s, v) for s, vs in VARIANTS.items() for v in vs]


def _ip_str(ip: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(ip, return_inverse=True)
    s = [f"{u >> 24}.{(u >> 16) & 255}.{(u >> 8) & 255}.{u & 255}" for u in uniq.tolist()]
    return np.array(s, dtype=object)[inv]


def _dev_str(dev: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(dev, return_inverse=True)
    return np.array([f"dv{u:012x}" for u in uniq.tolist()], dtype=object)[inv]


def _iso(ts: np.ndarray) -> np.ndarray:
    t = START + np.asarray(np.floor(ts), dtype=np.int64).astype("timedelta64[s]")
    return np.char.add(np.datetime_as_string(t, unit="s"), "Z")


def _build_logins(world: _World, tx: dict[str, np.ndarray], inj: _Injector) -> dict:
    """Sessions before non-API activity, look-only sessions, failures and stuffing noise."""
    rng, nb, D = world.rng, world.nb, world.days
    parts = []
    m = tx["mode"] == 0
    w, ts, ip, c, dv = (tx[k][m] for k in ("w", "ts", "ip", "country", "device"))
    o = np.lexsort((ts, ip, dv, w))
    w, ts, ip, c, dv = w[o], ts[o], ip[o], c[o], dv[o]
    same = np.r_[False, (w[1:] == w[:-1]) & (dv[1:] == dv[:-1]) & (ip[1:] == ip[:-1])]
    new = ~same | (np.r_[np.inf, np.diff(ts)] > 3 * HOUR)
    sw, sip, sc, sdv = w[new], ip[new], c[new], dv[new]
    lt = ts[new] - rng.uniform(10, 900, new.sum())
    parts.append((sw, lt, sip, sc, sdv, np.ones(len(sw), np.int8)))
    dbl = rng.random(len(sw)) < 0.04
    parts.append((sw[dbl], lt[dbl] - rng.uniform(120, 1800, dbl.sum()), sip[dbl], sc[dbl],
                  sdv[dbl], np.ones(dbl.sum(), np.int8)))
    nf = np.where(rng.random(len(sw)) < 0.05, rng.integers(1, 4, len(sw)), 0)
    nf = np.where(rng.random(len(sw)) < 0.004, rng.integers(4, 9, len(sw)), nf)
    r = np.repeat(np.arange(len(sw)), nf)
    back = rng.uniform(8, 150, len(r))
    starts = np.cumsum(nf) - nf
    cs = np.cumsum(back)
    first = np.r_[cs, 0.0][starts] - np.r_[back, 0.0][starts]
    off = cs - np.repeat(first, nf)
    parts.append((sw[r], lt[r] - off, sip[r], sc[r], sdv[r], np.zeros(len(r), np.int8)))

    # look-only sessions
    cnt = rng.poisson(0.25 * world.inten + 0.01)
    wi, di = np.nonzero(cnt)
    bw, bd = np.repeat(wi, cnt[wi, di]), np.repeat(di, cnt[wi, di])
    bt = np.floor(bd * DAY + world.local_sec(np.where(world.seg[bw] == 0, 0, 1))
                  - world.tz[bw] * HOUR)
    bip, bc, bdv = world.contexts(bw, bt)
    parts.append((bw, bt, bip, bc, bdv, np.ones(len(bw), np.int8)))

    # credential-stuffing noise against accounts that are never taken over
    n_camp = max(3, int(nb * D / 600))
    tw = rng.integers(0, nb, n_camp)
    nfail = rng.integers(2, 26, n_camp)
    t0 = rng.uniform(0, world.t_end, n_camp)
    span = rng.uniform(0.2, 8, n_camp) * HOUR
    rr = np.repeat(np.arange(n_camp), nfail)
    ft = t0[rr] + rng.uniform(0, 1, len(rr)) * span[rr]
    cloud = rng.random(len(rr)) < 0.3
    fc = rng.integers(0, len(CC), len(rr))
    cip, ccc = world.rand_cloud(len(rr))
    fip = np.where(cloud, cip, world.rand_ip(fc))
    fc = np.where(cloud, ccc, fc)
    camp_dev = world.new_devices((n_camp, 5))
    fdv = camp_dev[rr, rng.integers(0, 5, len(rr))]
    parts.append((tw[rr], ft, fip, fc, fdv, np.zeros(len(rr), np.int8)))

    L = inj.logins
    parts.append(tuple(np.asarray(L[k], dtype=np.int8 if k == "success" else None)
                       for k in ("w", "ts", "ip", "country", "device", "success")))
    cols = ("w", "ts", "ip", "country", "device", "success")
    out = {k: np.concatenate([np.asarray(p[i]) for p in parts]) for i, k in enumerate(cols)}
    out["w"] = out["w"].astype(np.int64)
    out["ts"] = np.floor(np.maximum(out["ts"].astype(float), world.reg[out["w"]] + 5))
    ok = (out["ts"] >= 0) & (out["ts"] < world.t_end)
    return {k: v[ok] for k, v in out.items()}


def generate(n_wallets: int = 3000, days: int = 75, holdout_days: int = 15, seed: int = 42,
             fraud_rate: float = 0.015) -> dict[str, pd.DataFrame]:
    """Generate the world; returns wallets, transactions, new_transactions, labels, logins."""
    rng = np.random.default_rng(seed)
    world = _World(rng, n_wallets, days, holdout_days)
    legit = world.legit()
    inj = _Injector(world, legit)

    vlist = _var_list()
    budget = fraud_rate / max(1e-9, 1 - fraud_rate) * len(legit["w"])
    order = ["dormant_cashout", "sim_swap", "credential_stuffing", "api_key_theft",
             "limit_skirting", "multi_token_sweep", "single_structurer", "chain_return",
             "exit_reenter", "ping_pong", "fresh_account_passthrough", "smurfing_ring",
             "peel_chain", "layering_mesh", "fan_in_fan_out", "ring"]
    train_share = world.t_split / world.t_end
    for name in order:
        inj.var = next(i for i, (_, v) in enumerate(vlist) if v == name)
        fn = getattr(inj, name)
        start, ep, n_hold = len(inj.rows["w"]), 0, 0
        while ep < 2 or (len(inj.rows["w"]) - start < budget * VARIANT_SHARE[name]
                         and ep < 2000):
            # one episode in each period first, then keep the holdout's share of the rows
            # close to its share of the time
            n_rows = len(inj.rows["w"]) - start
            period = ep if ep < 2 else int(n_hold < (1 - train_share) * n_rows)
            before = len(inj.rows["w"])
            fn(period)
            n_hold += sum(t >= world.t_split for t in inj.rows["ts"][before:])
            ep += 1

    # assemble legitimate + fraud rows
    W = world
    keep = inj.keep
    lg = {k: legit[k][keep] for k in ("w", "ts", "amount", "type", "cp", "token", "api")}
    n_l = len(lg["w"])
    api = lg["api"].astype(bool)
    bj = rng.integers(0, 2, n_l)
    lw = lg["w"]
    rot = lg["ts"] >= W.bot_rot[lw] * DAY
    lip = np.where(api, np.where(rot, W.bot_ip2[lw], W.bot_ip[lw, bj]), -1)
    lc = np.where(api, np.where(rot, W.bot_country2[lw], W.bot_country[lw]), -1)
    ldv = np.where(api, np.where(rot, W.bot_dev2[lw], W.bot_dev[lw]), -1)
    F = {k: np.asarray(v) for k, v in inj.rows.items()}
    tx = {
        "w": np.concatenate([lg["w"], F["w"]]).astype(np.int64),
        "ts": np.floor(np.concatenate([lg["ts"], F["ts"]])),
        "amount": np.concatenate([lg["amount"], F["amount"]]),
        "type": np.concatenate([lg["type"], F["type"]]).astype(np.int64),
        "cp": np.concatenate([lg["cp"], F["cp"]]).astype(np.int64),
        "token": np.concatenate([lg["token"], F["token"]]).astype(np.int64),
        "ip": np.concatenate([lip, F["ip"]]).astype(np.int64),
        "country": np.concatenate([lc, F["country"]]).astype(np.int64),
        "device": np.concatenate([ldv, F["device"]]).astype(np.int64),
        "mode": np.concatenate([api.astype(np.int64), F["mode"]]).astype(np.int64),
        "var": np.concatenate([np.full(n_l, -1), F["var"]]).astype(np.int64),
    }
    inside = (tx["ts"] >= 0) & (tx["ts"] < W.t_end)
    tx = {k: v[inside] for k, v in tx.items()}
    need_ip, need_dv = tx["ip"] < 0, tx["device"] < 0
    need = need_ip | need_dv
    cip, cc, cdv = W.contexts(tx["w"][need], tx["ts"][need])
    sub = np.flatnonzero(need)
    tx["ip"][sub] = np.where(need_ip[sub], cip, tx["ip"][sub])
    tx["country"][sub] = np.where(need_ip[sub], cc, tx["country"][sub])
    tx["device"][sub] = np.where(need_dv[sub], cdv, tx["device"][sub])
    tx["amount"] = np.round(np.maximum(tx["amount"], 1.0), 2)

    # unused reserve wallets: registered accounts that never transacted
    unset = np.isnan(W.reg)
    W.reg[unset] = np.where(rng.random(unset.sum()) < 0.7,
                            -rng.uniform(5, 900, unset.sum()) * DAY,
                            rng.uniform(0, days - 1, unset.sum()) * DAY)
    W.reg = np.floor(W.reg)

    logins = _build_logins(W, tx, inj)

    # ids: wallet numbers in random order; transactions and logins numbered in time order
    wnum = rng.permutation(900_000)[: W.nw] + 100_000
    wid = np.array([f"W{x}" for x in wnum.tolist()], dtype=object)
    o = np.lexsort((rng.random(len(tx["ts"])), tx["ts"]))
    tx = {k: v[o] for k, v in tx.items()}
    n = len(tx["ts"])
    tid = np.array([f"T{i:08d}" for i in range(1, n + 1)], dtype=object)
    cp = np.where(tx["cp"] >= 0, wid[np.maximum(tx["cp"], 0)], None)
    trans = pd.DataFrame({
        "transaction_id": tid,
        "wallet_id": wid[tx["w"]],
        "timestamp": _iso(tx["ts"]),
        "amount": tx["amount"],
        "type": TYPE_NAMES[tx["type"]],
        "counterparty_wallet_id": cp,
        "token": TOKENS[tx["token"]],
        "ip_address": _ip_str(tx["ip"]),
        "country": CC[tx["country"]],
        "device_id": _dev_str(tx["device"]),
    })
    fraud = tx["var"] >= 0
    vs = np.array(vlist, dtype=object)
    labels = pd.DataFrame({"transaction_id": tid[fraud],
                           "scenario": [s for s, _ in vs[tx["var"][fraud]]],
                           "variant": [v for _, v in vs[tx["var"][fraud]]]})
    split = tx["ts"] >= W.t_split
    wallets = pd.DataFrame({
        "wallet_id": wid,
        "kyc_verified": W.kyc.astype(int),
        "registration_date": _iso(W.reg),
        "home_country": CC[W.country],
    }).sort_values("wallet_id", kind="stable").reset_index(drop=True)
    lo = np.lexsort((rng.random(len(logins["ts"])), logins["ts"]))
    logins = {k: v[lo] for k, v in logins.items()}
    lg_df = pd.DataFrame({
        "login_id": [f"L{i:08d}" for i in range(1, len(lo) + 1)],
        "wallet_id": wid[logins["w"]],
        "timestamp": _iso(logins["ts"]),
        "ip_address": _ip_str(logins["ip"].astype(np.int64)),
        "success": logins["success"].astype(int),
        "country": CC[logins["country"].astype(np.int64)],
        "device_id": _dev_str(logins["device"].astype(np.int64)),
    })
    return {
        "wallets": wallets,
        "transactions": trans[~split].reset_index(drop=True),
        "new_transactions": trans[split].reset_index(drop=True),
        "labels": labels.reset_index(drop=True),
        "logins": lg_df,
    }


def write(frames: dict[str, pd.DataFrame], data_dir) -> None:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        df.to_csv(data_dir / f"{name}.csv", index=False)
        log.info("wrote %s (%d rows)", data_dir / f"{name}.csv", len(df))


def main(argv=None) -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=root / "bench" / "out" / "gen_aml" / "data")
    ap.add_argument("--wallets", type=int, default=3000)
    ap.add_argument("--days", type=int, default=75)
    ap.add_argument("--holdout-days", type=int, default=15)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fraud-rate", type=float, default=0.015)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    t0 = time.perf_counter()
    frames = generate(args.wallets, args.days, args.holdout_days, args.seed, args.fraud_rate)
    write(frames, args.data_dir)
    n_tx = len(frames["transactions"]) + len(frames["new_transactions"])
    log.info("%d transactions, %d fraud (%.2f%%), %.1fs", n_tx, len(frames["labels"]),
             100 * len(frames["labels"]) / max(n_tx, 1), time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
