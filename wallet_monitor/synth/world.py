"""Who the wallets are: each wallet's parameters, drawn once and vectorized.

Home country, registration, KYC, activity rate, amount scale, type and token mix, its IPs,
devices and contacts, an optional trip abroad and VPN use. Everything the simulation does
later (normal traffic, fraud) reads these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wallet_monitor.schema import TX_TYPES
from wallet_monitor.synth.geo import (
    COUNTRIES,
    COUNTRY_P,
    TRAVEL_HOURS,
    VPN_COUNTRIES,
    VPN_POOL_SIZE,
    random_devices,
    random_ips,
)

# --- tunables --------------------------------------------------------------------------
YOUNG_WALLET_SHARE = 0.15          # wallets that register during the period
KYC_RATE_OLD, KYC_RATE_YOUNG = 0.72, 0.45   # about two thirds verified overall
TX_RATE_MEDIAN = 1.4               # transactions per active day, per-wallet log-normal
TX_RATE_SIGMA = 1.3
TX_RATE_RANGE = (0.01, 80.0)
DORMANT_SHARE = 0.10               # wallets that barely act
AMOUNT_MEDIAN = 120.0              # USD; per-wallet medians spread log-normally around it
AMOUNT_MEDIAN_SIGMA = 1.2
AMOUNT_MEDIAN_RANGE = (8.0, 6000.0)
TYPE_NAMES = np.array(TX_TYPES, dtype=object)
DEPOSIT, TRANSFER, REDEEM = (TX_TYPES.index(t) for t in ("deposit", "transfer", "redeem"))
TYPE_AMOUNT_SHIFT = np.array([0.3, 0.0, 0.15])     # log-USD, deposits run a bit larger
TOKENS = np.array(["USDT", "USDC", "ETH", "BTC", "SOL"], dtype=object)
TOKEN_ALPHA = np.array([2.1, 1.4, 1.05, 0.85, 0.45])
MAX_CONTACTS = 8
TRIP_P = 0.12                      # wallets with one trip abroad in the period
VPN_USER_P = 0.06
DEVICE_SWITCH_P = 0.08             # wallets that change phone during the period

# Daily rhythm by local hour: quiet nights, busy evenings.
RHYTHM = np.array([0.6, 0.4, 0.3, 0.25, 0.25, 0.4, 0.9, 1.8, 3.0, 4.0, 4.5, 4.6,
                   4.8, 4.6, 4.4, 4.4, 4.6, 5.0, 5.4, 5.6, 5.2, 4.2, 2.8, 1.4])
RHYTHM = RHYTHM / RHYTHM.sum()


@dataclass
class World:
    """The period (epoch seconds) and one array entry per wallet for each parameter."""

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


def make_world(rng: np.random.Generator, n: int, start_s: int, holdout_s: int,
               end_s: int) -> World:
    """Draw the parameters of `n` wallets (the first draws from `rng`, in a fixed order)."""
    period = end_s - start_s
    home = rng.choice(len(COUNTRIES), n, p=COUNTRY_P)
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
    dest_w = COUNTRY_P[None, :] * np.exp(-TRAVEL_HOURS / 6.0)
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

    vpn_pool = random_ips(rng, rng.choice(VPN_COUNTRIES, VPN_POOL_SIZE))
    # Keyword arguments are evaluated left to right: their draws are part of the seed's order.
    return World(
        n=n, start_s=start_s, holdout_s=holdout_s, end_s=end_s, home=home, kyc=kyc,
        reg_s=reg_s, active_from=active_from, young=young, rate=rate, mu=mu, sigma=sigma,
        type_cum=np.cumsum(type_p, axis=1), token_cum=np.cumsum(token_p, axis=1),
        round_p=rng.beta(1.0, 3.0, n), rhythm_shift=rng.integers(-2 * 3600, 3 * 3600, n),
        n_ip=n_ip, ips=random_ips(rng, np.repeat(home[:, None], 3, axis=1)),
        n_dev=n_dev, devices=random_devices(rng, (n, 3)), switch_s=switch_s,
        switch_dev=random_devices(rng, n), n_contacts=n_contacts, contacts=contacts,
        trip_dest=trip_dest, trip_t=trip_t,
        trip_ips=random_ips(rng, np.repeat(np.maximum(dest, 0)[:, None], 2, axis=1)),
        vpn_user=rng.random(n) < VPN_USER_P, vpn_pool=vpn_pool,
    )


def draw_tokens(rng: np.random.Generator, world: World, w: np.ndarray) -> np.ndarray:
    """Token index of one transaction per entry of `w`, from each wallet's own token mix."""
    u = rng.random(w.size)
    tok = np.zeros(w.size, dtype=np.int8)
    for k in range(len(TOKENS) - 1):
        tok += u > world.token_cum[w, k]
    return tok
